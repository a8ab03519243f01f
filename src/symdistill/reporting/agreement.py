"""How a run's Tables 1, 3 and 5 agree with the paper's and the Cambridge reproduction's: counts over the cells
(or rows) that were run and have a reference value, and the disagreements by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from symdistill.core.rendering import Fold, Note, mark, outcome_marks
from symdistill.core.vocabulary import READINGS
from symdistill.reporting.references import SOURCES, WHO


@dataclass(frozen=True)
class Agreement:
    """How many compared cells (or rows) of a table match a reference by ``criterion``, and which do not."""

    against: str  # a key of SOURCES: "paper" or "cambridge"
    criterion: str
    matches: int
    compared: int
    disagreements: tuple[str, ...]
    unit: str = "cells"
    reading: str | None = None  # Table 5: the judge's reading compared

    def sentence(self) -> str:
        return f"matches {WHO[self.against]} in {self.matches}/{self.compared} compared {self.unit} ({self.criterion})"


def compared_cells(frame: pd.DataFrame, against: str) -> pd.DataFrame:
    """Cells that were run here and have a reference value: a cell not run is never counted as a mismatch."""
    return frame[(frame["runs"] > 0) & frame[against].notna()]


def reading_name(reading: str) -> str:
    return reading.replace("_", "-")


def agreement(frame: pd.DataFrame, against: str = "paper", reading: str = "physical") -> Agreement:
    """Table 5: compare our recovery with a reference over the cells that were run and that it reports."""
    compared = compared_cells(frame, against)
    same = (compared[f"{reading}_success"] == compared[against]).astype(bool)
    disagreements = tuple(
        f"{r['row']} n={r['n']}, {r['model']}: {WHO[against]} {mark(r[against])}, "
        f"ours {outcome_marks(r[reading], r[f'{reading}_successes'], r['runs'])}"
        for _, r in compared[~same].iterrows()
    )
    criterion = f"{reading_name(reading)} reading"
    return Agreement(against, criterion, int(same.sum()), len(compared), disagreements, reading=reading)


LINEAR_R2 = 0.9  # Table 1: at or above, the messages are a linear map of the law (the trimmed R²'s floor is ≈ 0.38)


def table1_agreement(frame: pd.DataFrame) -> Agreement:
    """Does each compared cell fall on the paper's side of LINEAR_R2?

    Ours is the better of the force and acceleration bases: the paper's 1.000 for 1/r fits only the second.
    """
    compared = compared_cells(frame, "paper")
    ours = compared[["force_mean", "acceleration_mean"]].max(axis=1)
    same = (ours >= LINEAR_R2) == (compared["paper"] >= LINEAR_R2)
    disagreements = tuple(
        f"{r['row']} n={r['n']}, {r['model']}: the paper {r['paper']:.3f}, ours {best:.3f}"
        for (_, r), best, agree in zip(compared.iterrows(), ours, same, strict=True)
        if not agree
    )
    criterion = f"the better of F and F/m₁ on the paper's side of R² = {LINEAR_R2}"
    return Agreement("paper", criterion, int(same.sum()), len(compared), disagreements)


def table3_agreement(frame: pd.DataFrame) -> Agreement:
    """Is the best (lowest-loss) model of each row the paper's best (its bold), among the models run here that
    the paper reports? Rows with fewer than two such models are skipped."""
    compared = compared_cells(frame, "paper")
    matches, rows, disagreements = 0, 0, []
    for (row, n), part in compared.groupby(["row", "n"], sort=False, dropna=False):
        if len(part) < 2:
            continue
        ours = part.loc[part["test_loss_mean"].idxmin(), "model"]
        paper = part.loc[part["paper"].idxmin(), "model"]
        rows += 1
        matches += ours == paper
        if ours != paper:
            disagreements.append(
                f"{row} n={n}: lowest loss here {ours}, in the paper {paper} (of {', '.join(part['model'])})"
            )
    criterion = "the same model has the lowest loss, among the models run here that the paper reports"
    return Agreement("paper", criterion, int(matches), rows, tuple(disagreements), unit="rows")


def agreement_notes(found: Agreement) -> list[Note]:
    """Tables 1 and 3: the count, then the disagreements folded."""
    notes: list[Note] = [f"Ours {found.sentence()}."]
    return notes + ([Fold(f"Disagrees with {WHO[found.against]}", found.disagreements)] if found.disagreements else [])


def agreements(frame: pd.DataFrame) -> list[Agreement]:
    """Table 5 against each reference, in each reading."""
    return [agreement(frame, against, reading) for against in SOURCES for reading in READINGS]


def disagreement_notes(found: list[Agreement]) -> list[Note]:
    """Every disagreement, once per reference and reading: a reading that disagrees on the very same cells says so."""
    notes: list[Note] = []
    for a in found:
        first = next(b for b in found if b.against == a.against)
        reading = reading_name(a.reading or "")
        if a.disagreements and a is not first and a.disagreements == first.disagreements:
            notes.append(f"{reading} reading: the same disagreements with {WHO[a.against]}.")
        elif a.disagreements:
            notes.append(Fold(f"Disagrees with {WHO[a.against]} ({reading})", a.disagreements))
    return notes
