"""The wide views of a tidy table, laid out like the paper (systems down, models across, a group of sub-columns
per model), as Markdown and as HTML, with the table's notes under it; and the marks each cell is written with."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from symdistill.core.bundles import Files
from symdistill.core.vocabulary import NO_VALUE, NOT_RUN, SYMBOLS

TABLE_CSS = """
table.sd { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
table.sd th, table.sd td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: center; white-space: nowrap; }
table.sd th { background: #eef; }
table.sd td.stub { text-align: left; font-weight: bold; }
table.sd td.agree { background: #d9f2d9; }
table.sd td.disagree { background: #f8d4d4; }
table.sd td.notrun { color: #888; }
ul.notes, details.notes { font-size: 0.85em; color: #333; }
"""


@dataclass(frozen=True)
class TableFiles(Files):
    """A table's three files, named as the table rules name their outputs: the tidy CSV, Markdown and HTML."""

    csv: Path
    md: Path
    html: Path


@dataclass(frozen=True)
class Fold:
    """A list under one heading: one Markdown line per item ("- heading: item"), and in HTML a ``<details>``
    that shows the heading and the count, the items one click away (the agreement counts stay visible)."""

    heading: str
    items: tuple[str, ...]

    def lines(self) -> list[str]:
        return [f"{self.heading}: {item}" for item in self.items]


Note = str | Fold
Entry = tuple[str, str]  # one table cell: its text and its CSS class


@dataclass(frozen=True)
class WideTable:
    """A table laid out like the paper: stub columns (system, n), then a group of sub-columns per model."""

    title: str
    groups: list[tuple[str, list[str]]]
    rows: list[list[Entry]]  # the two stubs, then every sub-column
    notes: list[Note]

    def note_lines(self) -> list[str]:
        return [line for note in self.notes for line in (note.lines() if isinstance(note, Fold) else [note])]

    def markdown(self) -> str:
        header = ["System", "n"] + [f"{group}: {sub}" for group, subs in self.groups for sub in subs]
        lines = [f"## {self.title}", "", _md_row(header), _md_row(["---"] * len(header))]
        lines += [_md_row([text for text, _ in row]) for row in self.rows]
        return "\n".join(lines + [""] + [f"- {note}" for note in self.note_lines()]) + "\n"

    def html(self) -> str:
        e = html.escape
        top = '<th rowspan="2">System</th><th rowspan="2">n</th>' + "".join(
            f'<th colspan="{len(subs)}">{e(group)}</th>' for group, subs in self.groups
        )
        sub = "".join(f"<th>{e(s)}</th>" for _, subs in self.groups for s in subs)
        body = "".join(
            "<tr>" + "".join(f'<td class="{cls}">{e(text)}</td>' for text, cls in row) + "</tr>" for row in self.rows
        )
        notes = "".join(f"<li>{e(note)}</li>" for note in self.notes if isinstance(note, str))
        folds = "".join(
            f'<details class="notes"><summary>{e(f.heading)}: {len(f.items)} cell{"s" * (len(f.items) != 1)}</summary>'
            "<ul>" + "".join(f"<li>{e(item)}</li>" for item in f.items) + "</ul></details>"
            for f in self.notes
            if isinstance(f, Fold)
        )
        return (
            f'<h2>{e(self.title)}</h2><table class="sd"><thead><tr>{top}</tr><tr>{sub}</tr></thead>'
            f'<tbody>{body}</tbody></table><ul class="notes">{notes}</ul>{folds}'
        )


def _md_row(entries: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in entries) + " |"


def _column_title(model: str, paper: str) -> str:
    if model and paper:
        return f"{model} (paper: {paper})"
    return f"{model} (not in the paper)" if model else f"paper {paper} (no model here)"


def wide_table(
    title: str, frame: pd.DataFrame, subs: list[str], entries: Callable[[pd.Series], list[Entry]], notes: list[Note]
) -> WideTable:
    """``frame``'s (row, n) down and its models across, ``entries`` of each record under its model's ``subs``."""
    groups = [
        (_column_title(m, p), subs) for m, p in dict.fromkeys(zip(frame["model"], frame["paper_model"], strict=True))
    ]
    rows = []
    for (row, n), part in frame.groupby(["row", "n"], sort=False, dropna=False):
        stubs = [(row, "stub"), ("" if pd.isna(n) else str(n), "")]
        rows.append(stubs + [entry for _, record in part.iterrows() for entry in entries(record)])
    return WideTable(title, groups, rows, notes)


def mark(value: Any) -> str:
    return NO_VALUE if pd.isna(value) else ("✓" if value else "✗")


def outcome_marks(results: str, successes: int, runs: int) -> str:
    if runs == 0:
        return NOT_RUN
    return "".join(SYMBOLS[r] for r in results.split()) + f" {successes}/{runs}"


def value_text(mean: float, sd: float, runs: int) -> str:
    if runs == 0:
        return NOT_RUN
    return f"{mean:.3f}" if runs == 1 else f"{mean:.3f} ± {sd:.3f}"


def reference_text(value: float) -> str:
    return NO_VALUE if pd.isna(value) else f"{value:.3f}"


def html_page(title: str, body: str, css: str = TABLE_CSS) -> str:
    e = html.escape
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{css}</style></head><body>{body}</body></html>\n"
    )
