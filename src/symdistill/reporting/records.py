"""The per-cell files the tables and the report read (training metrics, force fits, judge verdicts), each
checked against what its stage writes: a bad file raises one error naming it and what was expected."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from symdistill.core.io import read_json
from symdistill.core.names import Cell, ConfigError, check_cell_identity, parse_cell, recorded_message_kind
from symdistill.core.vocabulary import JUDGE_OUTCOMES, NO_LAW, NO_RESULT, READINGS

T = TypeVar("T")


class TableInputError(ValueError):
    """A per-cell or table file is not what its stage writes; the message names the file and what was expected."""


def read_cells(paths: Iterable[str | Path], extract: Callable[[dict[str, Any]], T], expected: str) -> dict[Cell, T]:
    """``extract`` of each per-cell JSON, keyed by the cell the file records; a bad file raises naming it."""
    values: dict[Cell, T] = {}
    origin: dict[Cell, Path] = {}
    for path in map(Path, paths):
        record = read_json(path)
        try:
            cell = parse_cell(record["cell"])
            value = extract(record)
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            raise TableInputError(f"{path}: expected {expected} ({type(err).__name__}: {err})") from None
        check_cell_identity(path, record["cell"])
        if cell in values:
            raise TableInputError(f"{path}: cell {cell.path} is also recorded by {origin[cell]}")
        values[cell], origin[cell] = value, path
    return values


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def recorded_test_loss(record: dict[str, Any]) -> float:
    """Table 3's metric of a cell, from its metrics.json."""
    return _number(record["test_loss"])


def r2_of(record: dict[str, Any]) -> tuple[float, float] | None:
    """Force and acceleration R²; None for an energy message (FlatHGN), which Table 1 does not measure."""
    if recorded_message_kind(record) == "energy":
        _number(record["potential"]["r2_mean"])
        return None
    return _number(record["force"]["r2_mean"]), _number(record["acceleration"]["r2_mean"])


def outcomes_of(record: dict[str, Any]) -> dict[str, Any]:
    """The outcome per reading, ``law_r2``: how much of the message the law explains (physical reading; NaN for
    a search without result or a system without a law, which the judge could not compare), and whether the
    search stopped at its time ceiling instead of its generations (``timeout``)."""
    outcomes: dict[str, Any] = {reading: record["outcome"][reading] for reading in READINGS}
    for value in outcomes.values():
        if value not in JUDGE_OUTCOMES:
            raise ValueError(f"unknown outcome {value!r}; expected one of {', '.join(JUDGE_OUTCOMES)}")
    unmeasured = outcomes["physical"] in (NO_RESULT, NO_LAW)
    return outcomes | {
        "law_r2": float("nan") if unmeasured else _number(record["law_r2"]["physical"]),
        "timeout": record["symbolic_status"] == "timeout",
    }


EXPECTED = {
    "metrics": "a training metrics.json with 'cell' and a numeric 'test_loss'",
    "forcefit": "a force-fit JSON with 'cell' and numeric 'force.r2_mean' and 'acceleration.r2_mean' "
    "(energy messages: 'potential.r2_mean')",
    "judge": f"a judge JSON with 'cell', 'symbolic_status', 'outcome' for the readings {' and '.join(READINGS)} "
    "and a numeric 'law_r2.physical' (unless there was no result or no law)",
}
