"""The package's folders are its architecture: imports run one way and never in a circle.

    core → engine → {nbody, cosmology} → reporting → config

A module may import its own folder and the folders before it, nothing after (and the two experiments not each
other); the package's own ``__init__`` imports nothing of it. Every ``import`` is read from the source with
``ast``, at module level and inside functions alike, so a lazy import cannot hide an upward one. Nothing in the
package imports ``config`` (the Snakefile's side): a stage that needs a name takes it from ``core.names``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "symdistill"

# layer → its rank: a module may import a layer of lower or equal rank; the two experiments share a rank but
# neither imports the other
RANK = {"core": 0, "engine": 1, "nbody": 2, "cosmology": 2, "reporting": 3, "config": 4}
SIBLINGS = {"nbody": "cosmology", "cosmology": "nbody"}


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_sources(root: Path = SRC) -> dict[str, str]:
    """Every module of the package: its dotted name → its source."""
    return {module_name(p, root): p.read_text() for p in sorted((root / PACKAGE).rglob("*.py"))}


def imports_of(source: str, here: str, modules: Iterable[str]) -> set[str]:
    """The package's modules ``source`` imports, anywhere in it (``from a import b`` names module a.b where a.b is
    a module, else a); relative imports resolved from ``here``."""
    known = set(modules)
    is_package = here in {m for m in known if any(k.startswith(m + ".") for k in known)}
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here.split(".") if is_package else here.split(".")[:-1]
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import symdistill.core.io` names a module; an attribute's module
                name = name.rpartition(".")[0]
            if name.split(".")[0] == PACKAGE and name:
                found.add(name)
    return found


def layer(module: str) -> str | None:
    """A module's layer: its folder, or config for the Snakefile's side; None for the package's ``__init__``."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return parts[1] if parts[1] in RANK and parts[1] != "config" or len(parts) > 2 else "config"


def graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    return {module: imports_of(source, module, sources) - {module} for module, source in sources.items()}


def upward_imports(edges: Mapping[str, set[str]]) -> list[str]:
    """Every import that runs against the layers, as "importer → imported (why)"."""
    wrong = []
    for module, imported in sorted(edges.items()):
        mine = layer(module)
        for other in sorted(imported):
            theirs = layer(other)
            if mine is None:
                wrong.append(f"{module} → {other} (the package's __init__ imports nothing of it)")
            elif theirs is None:
                continue  # the package itself: its __init__ imports nothing
            elif RANK[theirs] > RANK[mine]:
                wrong.append(f"{module} → {other} ({mine} may not import {theirs})")
            elif SIBLINGS.get(mine) == theirs:
                wrong.append(f"{module} → {other} (the experiments do not import each other)")
    return wrong


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The import cycles between modules (each as the modules on it, closed), by depth-first search."""
    found, state = [], {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for other in sorted(edges.get(module, ())):
            if state.get(other) == "open":
                found.append([*stack[stack.index(other) :], other])
            elif other not in state:
                visit(other)
        stack.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return found


# ----------------------------------------------------------------------------------------------------- tests

SOURCES = package_sources()
EDGES = graph(SOURCES)


def test_the_parser_sees_the_package_and_its_imports() -> None:
    assert {"symdistill.core.names", "symdistill.engine.search", "symdistill.reporting.report"} <= set(SOURCES)
    assert "symdistill.core.names" in EDGES["symdistill.nbody.train"]
    # an import inside a function counts: the n-body search stage reads its messages lazily
    assert "symdistill.nbody.messages" in EDGES["symdistill.nbody.symbolic"]


def test_every_module_is_in_a_layer() -> None:
    for module in SOURCES:
        assert layer(module) in (*RANK, None), module
    assert {layer(m) for m in SOURCES} == {*RANK, None}


def test_imports_run_one_way() -> None:
    assert upward_imports(EDGES) == []


def test_no_import_cycles() -> None:
    assert cycles(EDGES) == []


def imported_names(source: str) -> set[str]:
    """Every ``symdistill`` module a source names in an import, as written (``from a import b``: a)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == PACKAGE:
            found.add(node.module)
    return found


OUTSIDE = sorted(
    p
    for folder in ("workflow_scripts", "tests", "benchmarks")
    for p in (SRC.parent / folder).glob("*.py")
    if p.name != "test_layout.py"  # its planted imports are strings
)


@pytest.mark.parametrize(
    "path", [*sorted((SRC / PACKAGE).rglob("*.py")), *OUTSIDE], ids=lambda p: str(p.relative_to(SRC.parent))
)
def test_every_import_names_a_module_that_exists(path: Path) -> None:
    """A lazy import of a module that moved would fail only when its function runs: none names a lost module."""
    lost = sorted(name for name in imported_names(path.read_text()) if name not in SOURCES and name != PACKAGE)
    assert lost == [], f"{path}: imports {lost}, which the package does not have"


def test_nothing_in_the_package_imports_config() -> None:
    importers = {m for m, imported in EDGES.items() if any(layer(o) == "config" for o in imported)}
    assert {layer(m) for m in importers} <= {"config"}


@pytest.mark.parametrize(
    ("module", "planted", "expected"),
    [
        ("symdistill.core.io", "from symdistill.reporting.tables import read_table", "core may not import reporting"),
        ("symdistill.engine.search", "import symdistill.nbody.data", "engine may not import nbody"),
        ("symdistill.nbody.judge", "from symdistill.cosmology import formulas", "do not import each other"),
        ("symdistill.reporting.report", "from symdistill.config import cells", "reporting may not import config"),
    ],
)
def test_a_planted_upward_import_is_found(module: str, planted: str, expected: str) -> None:
    """The check fails where it should: an upward import, even one inside a function, is reported."""
    sources = dict(SOURCES)
    sources[module] += f"\n\ndef _planted() -> None:\n    {planted}\n"
    wrong = upward_imports(graph(sources))
    assert len(wrong) == 1 and expected in wrong[0] and wrong[0].startswith(module)


def test_a_planted_cycle_is_found() -> None:
    sources = dict(SOURCES)
    sources["symdistill.core.fits"] += "\nfrom symdistill.core import plotting\n"
    sources["symdistill.core.plotting"] += "\nfrom symdistill.core.fits import affine_fit\n"
    found = cycles(graph(sources))
    assert len(found) == 1 and set(found[0]) == {"symdistill.core.fits", "symdistill.core.plotting"}
