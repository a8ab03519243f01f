"""The reference values every table is compared with: the paper's (Cranmer et al. 2020) and, for Table 5, the
Cambridge reproduction's (Jain 2024), shipped as CSVs in src/symdistill/reporting/reference/{table}.csv, one row per
(source, paper row) and one column per paper model."""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

from symdistill.core.vocabulary import TABLES
from symdistill.nbody.laws import POTENTIALS

MARKS = {"✓": True, "✗": False}
SOURCES = {"paper": "Cranmer et al. 2020", "cambridge": "Jain 2024"}  # prefixes of the reference CSVs' source column
WHO = {"paper": "the paper", "cambridge": "the Cambridge reproduction"}


@cache
def reference(name: str) -> pd.DataFrame:
    """A reference table shipped with the package: src/symdistill/reporting/reference/{name}.csv, values as text."""
    with (resources.files("symdistill.reporting") / "reference" / f"{name}.csv").open(encoding="utf-8") as stream:
        return pd.read_csv(stream, comment="#", dtype=str)


def paper_columns(ref: pd.DataFrame) -> list[str]:
    return [c for c in ref.columns if c not in ("source", "row", "sim", "dim")]


def source_of(ref: pd.DataFrame, key: str) -> pd.DataFrame:
    return ref[ref["source"].str.startswith(SOURCES[key])]


def row_name(sim: str, dim: int) -> str:
    """The paper's name of a row (Charge-2, r⁻¹-3), ``sim-dim`` for a built-in the tables do not name, and a
    researcher's own system marked as such: its row has no reference to be compared with."""
    if sim not in POTENTIALS:
        return f"{sim}-{dim} (not in the paper)"
    return row_names().get((sim, dim), f"{sim}-{dim}")


@cache
def row_names() -> dict[tuple[str, int], str]:
    """(sim, dim) → the paper's row name, from every reference table."""
    names: dict[tuple[str, int], str] = {}
    for name in TABLES:
        for r in reference(name).itertuples():
            names.setdefault((r.sim, int(r.dim)), r.row)
    return names
