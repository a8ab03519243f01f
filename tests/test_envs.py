"""The conda environments (envs/*.yaml, `--software-deployment-method conda`) provide every module their rules
import, and derive from pyproject.toml rather than repeating it.

Checked statically, without the main interpreter's path (Snakemake's script preamble appends the whole of it to
a job's ``sys.path``, so a missing module would not show in a run from this virtualenv): for each rule with a
``conda:`` directive, its script's imports are followed through the symdistill modules they reach, mapped to
distributions, and compared with what the environment declares: pyproject's ``dependencies`` plus the extras its
one pip line installs. Imports inside functions count (symbolic reads its message table through one that imports
torch), also those of functions a stage never calls: the walk cannot tell, so it errs on the side of providing.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "symdistill"
SRC = ROOT / "src" / PACKAGE
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The one pip line of an environment: the package, editable, from the checkout rules/common.smk exports, with the
# extras of its rule group. Nothing else, so no distribution or version is written outside pyproject.toml.
PIP_LINE = re.compile(r"-e \$\{SYMDISTILL_ROOT\}\[(?P<extras>[a-z0-9_-]+(?:,[a-z0-9_-]+)*)\]")
# Imported only where a site chooses it, each from its own extra. PySR stays out of envs/symbolic.yaml: it needs
# Julia (add `pysr` to that environment's extras where the nodes have it). hdf5plugin is in envs/training.yaml
# (halos_quijote runs there) but optional in the virtualenv, which the tests use (docs/cosmology.md).
OPTIONAL = {"pysr": "pysr", "hdf5plugin": "quijote"}  # distribution → its extra
NOT_IN_ENVS = {"pysr"}
# Declared though no module imports it: jax's own requirement accepts jaxlib 0.10.1-0.10.2; the pin keeps the
# pair the pipeline was measured with.
COMPANIONS = {"jaxlib": "jax"}
# In `dependencies` though no module imports it: the executor profiles/slurm names (`executor: slurm`).
RUNNER_ONLY = {"snakemake-executor-plugin-slurm"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ------------------------------------------------------------------------------------- what the rules import


def executed(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``, which never run."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imports_of(tree: ast.AST, here: str | None = None) -> set[str]:
    """Absolute names of the modules ``tree`` imports, anywhere in it (also inside functions), but not under
    ``if TYPE_CHECKING:``; ``importlib.import_module("name")`` with a literal counts. ``from a import b`` yields
    ``a`` and ``a.b`` (b may be a module); ``here`` is the importing module, for relative imports."""
    found: set[str] = set()
    for node in executed(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                assert here is not None, "a relative import outside the package"
                parent = here.split(".")[: -node.level]
                base = ".".join([*parent, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name for name in found if name and name != "__future__"}


def package_file(module: str) -> Path | None:
    """The source file of symdistill module ``module`` (``symdistill.x`` → src/symdistill/x.py), None if it is no
    module (an attribute imported with ``from symdistill import name``)."""
    parts = module.split(".")[1:]
    path = SRC.joinpath(*parts)
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def third_party(sources: Iterable[tuple[ast.AST, str | None]]) -> set[str]:
    """The top-level third-party modules the parsed ``sources`` import, directly or through symdistill's modules
    (importing ``symdistill.a.b`` also runs ``symdistill/__init__.py`` and ``symdistill/a/__init__.py``)."""
    pending = [name for tree, here in sources for name in imports_of(tree, here)]
    done: set[Path] = set()
    outside: set[str] = set()
    while pending:
        name = pending.pop()
        parts = name.split(".")
        if parts[0] != PACKAGE:
            if parts[0] not in sys.stdlib_module_names:
                outside.add(parts[0])
            continue
        for depth in range(1, len(parts) + 1):
            module = ".".join(parts[:depth])
            path = package_file(module)
            if path is not None and path not in done:
                done.add(path)
                pending.extend(imports_of(parsed(path), f"{module}.__init__" if path.name == "__init__.py" else module))
    return outside


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@cache
def module_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distribution(module: str) -> str:
    """The distribution that provides top-level module ``module`` (from this interpreter's installed metadata;
    a module not installed here, such as hdf5plugin or pysr, is taken to be its own distribution's name)."""
    providers = module_distributions().get(module, [module])
    assert len(providers) == 1, f"module {module} is provided by several distributions here: {providers}"
    return canonical(providers[0])


def smk_rules() -> dict[str, tuple[Path, Path]]:
    """rule → (its conda environment file, its script), for every rule of rules/*.smk with a ``conda:`` directive
    (each has a script, and each script an environment); both paths as Snakemake resolves them, relative to the
    .smk file."""
    found = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        blocks = re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
        assert len(blocks) == len(re.findall(r"^rule ", text, re.M)), f"{smk.name}: a rule the parser missed"
        for rule, body in blocks:
            directives = {
                key: ast.literal_eval(value)
                for key, value in re.findall(r"^    (conda|script):\n\s+(\"[^\"\n]*\")(?:\s*#.*)?$", body, re.M)
            }
            declared = re.findall(r"^    (conda|script):", body, re.M)
            assert sorted(declared) == sorted(directives), f"{smk.name}: rule {rule}'s {declared} not one path each"
            # a script without an environment would run in Snakemake's own, which `pip install .` keeps small
            assert sorted(directives) in ([], ["conda", "script"]), f"rule {rule}: {sorted(directives)}, not both"
            if directives:
                found[rule] = (smk.parent / directives["conda"], smk.parent / directives["script"])
    return found


RULES = smk_rules()


@cache
def script_needs(script: Path) -> frozenset[str]:
    """The distributions ``script`` needs: every third-party module it imports, transitively within symdistill."""
    return frozenset(distribution(m) for m in third_party([(parsed(script), None)]))


def snakefile_needs() -> frozenset[str]:
    """The distributions Snakemake needs to parse the workflow: the Snakefile's and the .smk files' imports."""
    sources = []
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        lines = [line for line in path.read_text().splitlines() if re.match(r"(import|from) \S", line)]
        sources.append((ast.parse("\n".join(lines)), None))
    return frozenset(distribution(m) for m in third_party(sources))


# ------------------------------------------------------------------------------------------ what is declared


def requirements(entries: Iterable[str]) -> dict[str, Requirement]:
    return {canonical(r.name): r for r in map(Requirement, entries)}


BASE = requirements(PYPROJECT["project"]["dependencies"])
EXTRAS = {
    name: list(map(Requirement, entries)) for name, entries in PYPROJECT["project"]["optional-dependencies"].items()
}


def extra_distributions(extras: Iterable[str], *, recursive: bool = True) -> set[str]:
    """The distributions pyproject's ``extras`` add to the package's dependencies (self-references followed)."""
    found: set[str] = set()
    for extra in extras:
        assert extra in EXTRAS, f"pyproject.toml has no extra {extra!r}"
        for req in EXTRAS[extra]:
            if canonical(req.name) == PACKAGE:
                if recursive:
                    found |= extra_distributions(req.extras)
            else:
                found.add(canonical(req.name))
    return found


@cache
def env_spec(env: Path) -> tuple[list[str], list[str]]:
    """(its conda dependencies other than pip's list, pip's list)."""
    spec = yaml.safe_load(env.read_text())
    pips = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict)]
    assert len(pips) <= 1, f"{env.name}: two pip lists"
    return [d for d in spec["dependencies"] if isinstance(d, str)], pips[0] if pips else []


def env_extras(env: Path) -> list[str]:
    """The extras of the environment's pip line that installs the package (none where no line does)."""
    return [extra for line in env_spec(env)[1] if (m := PIP_LINE.fullmatch(line)) for extra in m["extras"].split(",")]


def env_declares(env: Path) -> set[str]:
    """The distributions the environment installs on purpose (those pip pulls in as their requirements aside)."""
    declared: set[str] = set()
    for line in env_spec(env)[1]:
        if PIP_LINE.fullmatch(line):
            declared |= set(BASE) | extra_distributions(env_extras(env))
        else:
            declared.add(canonical(Requirement(line).name))
    return declared


ENVS = sorted({env for env, _ in RULES.values()})


# ----------------------------------------------------------------------------------------------------- tests


def test_the_parser_finds_every_rule_with_an_environment() -> None:
    assert len(RULES) >= 20 and {"simulate", "train", "symbolic", "distil", "judge", "report"} <= set(RULES)
    assert all(env.is_file() and script.is_file() for env, script in RULES.values())
    assert sorted(p.name for p in (ROOT / "envs").glob("*.yaml")) == sorted(env.name for env in ENVS)


def test_the_import_walk_follows_the_package_and_lazy_imports() -> None:
    """distil's script imports torch only through symdistill.nbody.distillation; symbolic's reaches torch only
    through the import of symdistill.nbody.messages inside a function; halos_quijote's reaches hdf5plugin by
    import_module."""
    assert "torch" in script_needs(ROOT / "workflow_scripts" / "distil.py")
    assert {"torch", "pyoperon", "pysr"} <= script_needs(ROOT / "workflow_scripts" / "symbolic.py")
    assert {"h5py", "hdf5plugin", "scipy"} <= script_needs(ROOT / "workflow_scripts" / "halos_quijote.py")
    # a stage takes its names from symdistill.core, not from the Snakefile's config validation
    assert "sympy" in script_needs(ROOT / "workflow_scripts" / "simulate.py")
    assert not {"pyyaml", "jsonschema"} & script_needs(ROOT / "workflow_scripts" / "simulate.py")


@pytest.mark.parametrize("env", ENVS, ids=lambda env: env.name)
def test_each_environment_provides_what_its_rules_import(env: Path) -> None:
    declared = env_declares(env)
    missing = {
        rule: sorted(script_needs(script) - declared - NOT_IN_ENVS)
        for rule, (rule_env, script) in sorted(RULES.items())
        if rule_env == env
    }
    missing = {rule: m for rule, m in missing.items() if m}
    assert not missing, f"{env.name} lacks distributions its rules import: {missing}"


@pytest.mark.parametrize("env", ENVS, ids=lambda env: env.name)
def test_each_environment_installs_only_pyproject_and_pins_nothing(env: Path) -> None:
    """Python and pip from conda, everything else from the package's own dependency list: no distribution or
    version written twice. Python's version is the one conda choice, inside requires-python."""
    conda, pip = env_spec(env)
    assert len(pip) == 1 and PIP_LINE.fullmatch(pip[0]), f"{env.name}: pip installs {pip}, not the package's extras"
    python = [d for d in conda if d.startswith("python")]
    assert sorted(conda) == sorted([*python, "pip"]) and len(python) == 1, f"{env.name}: conda installs {conda}"
    version = re.fullmatch(r"python=(\d+\.\d+)", python[0])
    assert version, f"{env.name}: {python[0]} is not python=X.Y"
    assert Version(version[1]) in SpecifierSet(PYPROJECT["project"]["requires-python"])


@pytest.mark.parametrize("env", ENVS, ids=lambda env: env.name)
def test_each_environments_extras_hold_only_what_its_rules_import(env: Path) -> None:
    needed = set().union(*(script_needs(script) for rule_env, script in RULES.values() if rule_env == env))
    needed |= {companion for companion, of in COMPANIONS.items() if of in needed}
    unused = extra_distributions(env_extras(env)) - needed
    assert not unused, f"{env.name}: its extras install {sorted(unused)}, which none of its rules imports"


def test_dependencies_are_what_the_snakefile_imports() -> None:
    """`pip install .` runs the Snakefile (and is Snakemake's own environment under --sdm conda): its base
    dependencies are what parsing the workflow imports, plus the SLURM executor. Every environment installs the
    package, so it gets them too."""
    needed = snakefile_needs()
    assert {"snakemake", "pyyaml", "jsonschema"} <= needed
    assert set(BASE) == needed | RUNNER_ONLY


def test_no_distribution_is_listed_twice_in_pyproject() -> None:
    listed = [canonical(r.name) for r in map(Requirement, PYPROJECT["project"]["dependencies"])]
    listed += [canonical(r.name) for reqs in EXTRAS.values() for r in reqs if canonical(r.name) != PACKAGE]
    assert sorted(listed) == sorted(set(listed)), "a distribution in two places of pyproject.toml"


def test_optional_modules_come_from_their_own_extra() -> None:
    assert NOT_IN_ENVS.issubset(OPTIONAL)
    for dist, extra in OPTIONAL.items():
        assert extra_distributions([extra], recursive=False) == {dist}


def test_pipeline_extra_runs_every_rule_in_one_environment() -> None:
    """The virtualenv route (`pip install -e '.[pipeline]'`, and the test suite through `dev`) runs every rule in
    the main interpreter: the union of the rule groups, the optional extras apart."""
    needed = set().union(*(script_needs(script) for _, script in RULES.values())) - set(OPTIONAL)
    groups = {extra for env in ENVS for extra in env_extras(env)} - set(OPTIONAL.values())
    assert {req.name for req in EXTRAS["pipeline"]} == {PACKAGE}
    assert extra_distributions(["pipeline"]) == extra_distributions(groups)
    assert needed <= set(BASE) | extra_distributions(["pipeline"])
    assert "pipeline" in {extra for req in EXTRAS["dev"] for extra in req.extras}


def test_the_workflow_exports_the_root_the_environments_install_from() -> None:
    """The pip line reads ${SYMDISTILL_ROOT} (pip expands it): conda runs pip beside Snakemake's copy of the env
    file in the conda prefix, so a path relative to envs/ would not reach the checkout."""
    common = (ROOT / "rules" / "common.smk").read_text()
    assert re.search(r"SYMDISTILL_ROOT\b.*workflow\.basedir", common), "rules/common.smk does not set SYMDISTILL_ROOT"
