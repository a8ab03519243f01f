"""A search's two files, front.parquet and result.json: written once for every search (the n-body symbolic stages,
φv's distillation, the cosmology searches), and read back as data, each checked against what the search writes.

Every stage after a search (judge, replace, distil, figures, the report, the cosmology evaluation) reads these
files, and a results folder may come from someone else. So they are read here, once per kind of file: a file that
is not what the search writes is one ``SearchFileError`` naming the file, the row or key, and the rule that
rebuilds it (``-R symbolic``), never a traceback or a table value. Every equation string in them goes through the
whitelist parser (``core.expressions.to_sympy``): a string it refuses is an error naming the file, the row and the
token, and nothing in a file is ever run.

The two files are checked against each other too: each searched component that the record says has a front has as
many rows as it records, one of them selected and equal to the record's selected member; an empty front under a
record of a successful search is refused, not judged a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from symdistill.core.bundles import Files
from symdistill.core.expressions import ExpressionError, to_sympy
from symdistill.core.io import InputError, atomic_output, package_versions, read_json
from symdistill.core.names import check_cell_identity
from symdistill.engine.front import ComponentFit
from symdistill.engine.search import SearchSpec

# ---------------------------------------------------------------- reading

FRONT_TYPES = {
    "component": "string",
    "complexity": "integer",
    "loss": "number",
    "score": "number",
    "selected": "boolean",
    "equation": "string",
    "sympy": "string",
}
EQUATION_COLUMNS = ("equation", "sympy")
Names = Sequence[str] | Mapping[str, Sequence[str]]  # the inputs, or each component's inputs (the halo searches)


class SearchFileError(InputError):
    """A front.parquet or result.json is not what the search writes; the message names the file and the rule."""


def names_of(names: Names, component: str) -> list[str]:
    if isinstance(names, Mapping):
        return list(names.get(component, ()))
    return list(names)


def read_result(
    path: str | Path,
    inputs: Any,
    names: Names | None = None,
    rerun: str = "symbolic",
    min_components: int = 1,
) -> dict[str, Any]:
    """A search's result.json: the cell its path names, the ``inputs`` the stage searches on (as the search records
    them), a known status, and ``min_components`` or more searched components, each with a known status and, where
    it has a front, a selected member whose equations the whitelist reads in ``names`` (default: ``inputs``)."""
    path = Path(path)
    if not path.is_file():
        raise SearchFileError(f"{path}: no such file: build it with rule {rerun}")
    try:
        record = read_json(path)
    except ValueError as err:
        raise SearchFileError(f"{err}: rebuild it with `-R {rerun}`") from None
    problem = result_problem(record, inputs, names, min_components)
    if problem:
        raise SearchFileError(f"{path}: not a search result: {problem}: rebuild it with `-R {rerun}`")
    check_cell_identity(path, record["cell"])
    return record


def result_problem(record: Any, inputs: Any, names: Names | None = None, min_components: int = 1) -> str:
    """What makes ``record`` not a search's result.json as ``read_result`` expects it ("" where nothing does)."""
    return _record_problem(record, min_components) or _inputs_problem(
        record, inputs, inputs if names is None else names
    )


def _record_problem(record: Any, min_components: int) -> str:
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    for key, kind in (("cell", str), ("status", str), ("components", list), ("inputs", list | dict)):
        if not isinstance(record.get(key), kind):
            return f"'{key}' is missing or not a {getattr(kind, '__name__', 'list or object')}"
    if record["status"] not in STATUSES:
        return f"status {record['status']!r} is not one of {', '.join(STATUSES)}"
    if len(record["components"]) < min_components:
        return f"{len(record['components'])} searched components, expected at least {min_components}"
    for k, entry in enumerate(record["components"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("component"), str)):
            return f"components[{k}] is not an object with a 'component' name"
        if entry.get("status") not in STATUSES:
            return f"components[{k}].status {entry.get('status')!r} is not one of {', '.join(STATUSES)}"
        selected = entry.get("selected")
        if entry["status"] != "error" and not (
            isinstance(selected, dict) and all(isinstance(selected.get(c), str) for c in EQUATION_COLUMNS)
        ):
            return f"components[{k}] ({entry['component']}) has a front but no selected member with its equations"
    return ""


def _inputs_problem(record: dict[str, Any], inputs: Any, names: Names) -> str:
    """The names a search ran on are the stage's own: they become the equations' symbols (and the report's)."""
    if record["inputs"] != inputs:
        return f"inputs {_shown(record['inputs'])}, expected {inputs}"
    for k, entry in enumerate(record["components"]):
        for column in EQUATION_COLUMNS if "selected" in entry else ():
            try:
                to_sympy(entry["selected"][column], names_of(names, entry["component"]))
            except ExpressionError as err:
                return f"components[{k}].selected.{column}: {err}"
    return ""


def _shown(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def read_front(
    path: str | Path, names: Names, result: Mapping[str, Any] | None = None, rerun: str = "symbolic"
) -> pd.DataFrame:
    """A search's front.parquet: readable, the columns and types the search writes, every equation through the
    whitelist; with the search's ``result`` record, each component's rows as the record says."""
    path = Path(path)
    fail = _failing(path, rerun)
    if not path.is_file():
        raise SearchFileError(f"{path}: no such file: build it with rule {rerun}")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds for a cut or foreign file; each is this one error
        raise fail(f"not a readable Parquet file (truncated or not Parquet): {type(err).__name__}: {err}") from None
    missing = [c for c in FRONT_COLUMNS if c not in frame.columns]
    if missing:
        raise fail(f"lacks the column(s) {', '.join(missing)} (a front has {', '.join(FRONT_COLUMNS)})")
    for column, kind in FRONT_TYPES.items():
        found = pd.api.types.infer_dtype(frame[column], skipna=False)
        if len(frame) and found not in ({kind, "floating"} if kind == "number" else {kind}):
            raise fail(f"column {column} holds {found} values, expected {kind}")
    for row in frame.itertuples():
        for column in EQUATION_COLUMNS:
            try:
                to_sympy(getattr(row, column), names_of(names, row.component))
            except ExpressionError as err:
                raise fail(f"row {row.Index} ({row.component}, complexity {row.complexity}), {column}: {err}") from None
    if result is not None:
        _check_against(frame, result, fail)
    return frame


def _failing(path: Path, rerun: str) -> Callable[[str], SearchFileError]:
    return lambda problem: SearchFileError(f"{path}: {problem}: rebuild it with `-R {rerun}`")


def _check_against(frame: pd.DataFrame, result: Mapping[str, Any], fail: Callable[[str], SearchFileError]) -> None:
    """Each component the record gives a front has its rows, one selected, the record's selected member."""
    for entry in result["components"]:
        rows = frame[frame["component"] == entry["component"]]
        if entry["status"] == "error":
            if len(rows):
                raise fail(f"{len(rows)} rows of {entry['component']}, whose search the result records as an error")
            continue
        expected = entry.get("front_size", len(rows))
        if len(rows) != expected or not len(rows):
            raise fail(f"{len(rows)} rows of {entry['component']}, but its result.json records a front of {expected}")
        chosen = rows[rows["selected"]]
        if len(chosen) != 1 or chosen["sympy"].iloc[0] != entry["selected"]["sympy"]:
            raise fail(
                f"{entry['component']}: {len(chosen)} selected rows, expected the one result.json records "
                f"({entry['selected']['sympy']!r})"
            )


# ---------------------------------------------------------------- writing


@dataclass(frozen=True)
class SearchOutputs(Files):
    """A search rule's two files (``symbolic``, ``symbolic_rest``, ``halos_symbolic``)."""

    front: Path
    result: Path


def component_record(fit: ComponentFit) -> dict[str, Any]:
    """A component's entry in result.json: its status (``error`` where it has no front), the work its search did,
    the selected member and the front's size, and a message for any status but ``ok``."""
    found = fit.search
    entry: dict[str, Any] = {
        "component": fit.component,
        "status": found.status if fit.front is not None else "error",
        "generations": found.generations,
        "evaluations": found.evaluations,
    }
    if fit.front is not None:
        entry["selected"] = selected_member(fit.front)
        entry["front_size"] = len(fit.front)
    if entry["status"] != "ok":
        entry["message"] = found.message or "the search returned no candidates"
    return entry


def selected_member(front: pd.DataFrame) -> dict[str, Any]:
    """The selected member's complexity, loss, score and equations as plain Python values (JSON-ready)."""
    chosen = front[front["selected"]].iloc[0]
    return {
        k: chosen[k].item() if hasattr(chosen[k], "item") else chosen[k]
        for k in ("complexity", "loss", "score", "equation", "sympy")
    }


def result_record(
    cell: str, names: list[str], samples: int, fits: list[ComponentFit], spec: SearchSpec, threads: int
) -> dict[str, Any]:
    """result.json: what was searched, how, and what each component's search found."""
    components = [component_record(fit) for fit in fits]
    seconds = {fit.component: fit.seconds for fit in fits}
    return {
        "cell": cell,
        "status": worst_status(c["status"] for c in components),
        "backend": spec.backend,
        "settings": asdict(spec),
        "seed": spec.seed,
        "inputs": names,
        "samples": samples,
        "components": components,
        "package_versions": package_versions(("symdistill", "pyoperon", "pysr", "sympy", "numpy")),
        # How this run went, not what it found: the only part that differs between reruns (thread count,
        # seconds). Everything outside "run" is byte-identical for the same inputs and settings.
        RUN_KEY: {"threads": threads, "wall_seconds": sum(seconds.values()), "seconds": seconds},
    }


RUN_KEY = "run"
STATUSES = ("ok", "timeout", "error")  # a cell's status is its worst component's


def worst_status(statuses: Iterable[str]) -> str:
    return max(statuses, key=STATUSES.index, default="ok")  # no component searched: nothing went wrong


FRONT_COLUMNS = ["component", "complexity", "loss", "score", "selected", "equation", "sympy"]


def write_front(fronts: list[pd.DataFrame], path: str | Path) -> None:
    frame = (
        pd.concat(fronts, ignore_index=True)[FRONT_COLUMNS]
        if fronts
        else pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    FRONT_COLUMNS, ["str", "int64", "float64", "float64", "bool", "str", "str"], strict=True
                )
            }
        )
    )
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)
