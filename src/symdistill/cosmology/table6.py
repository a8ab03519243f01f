"""Rule ``table6``: Table 6 beside the paper's, and the out-of-distribution test; also the report's view of both.

Table 6 is read from the ``random`` split's evaluation (a seeded hold-out, as the paper's main result), the
out-of-distribution test from the ``ood`` split's (trained on δ ≤ cut, tested above it); either is left out when
the run has no such split. Every number is a mean |δ − δ̂| on the halos each column names.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.io import atomic_output, read_json
from symdistill.core.rendering import TableFiles, html_page
from symdistill.core.vocabulary import NOT_RUN, SYMBOLS
from symdistill.cosmology.formulas import FORMULAS, PAPER_OOD
from symdistill.cosmology.messages import NODE_TARGET

COLUMNS = ["section", "row", "paper_train", "paper_test", "train", "test", "note"]


def split_of(path: str | Path) -> str:
    """``results/cosmology/{catalogue}/{split}/evaluation.json`` → split."""
    return Path(path).parent.name


def table6_frame(evaluations: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """The tidy table: one row per formula or model and section (``table6``: the random split; ``ood``)."""
    rows = []
    main = evaluations.get("random")
    if main is not None:
        for name, formula in FORMULAS.items():
            scored = main["formulas"][name]
            rows.append(
                ["table6", formula.label, np.nan, formula.paper_mae, *_pair(scored["refit"]), _constants(scored)]
            )
            rows.append(
                [
                    "table6_paper_constants",
                    formula.label,
                    np.nan,
                    formula.paper_mae,
                    *_pair(scored["with_paper_constants"]),
                    "the paper's constants, in cosmology.units",
                ]
            )
        rows.append(["table6", "GN", np.nan, np.nan, *_pair(main["gn"]), ""])
        rows.append(["table6", "Distilled symbolic model (ours)", np.nan, np.nan, *_symbolic(main)])
    ood = evaluations.get("ood")
    if ood is not None:
        paper = [PAPER_OOD["symbolic"]["train"], PAPER_OOD["symbolic"]["test"]]
        rows.append(["ood", "GN", PAPER_OOD["gn"]["train"], PAPER_OOD["gn"]["test"], *_pair(ood["gn"]), ""])
        if "symbolic_transferred" in ood:
            rows.append(
                ["ood", "Distilled on the random split, refitted here", *paper, *_symbolic(ood, "symbolic_transferred")]
            )
        best = ood["formulas"]["with_mass"]
        rows.append(["ood", "Best with mass, refitted", *paper, *_pair(best["refit"]), _constants(best)])
        rows.append(["ood", "Distilled from this split's GN", np.nan, np.nan, *_symbolic(ood)])
    return pd.DataFrame(rows, columns=COLUMNS)


def _pair(scores: Mapping[str, float]) -> list[float]:
    return [scores["train"], scores["test"]]


def _constants(scored: Mapping[str, Any]) -> str:
    return "C = " + ", ".join(f"{c:.4g}" for c in scored["refit_constants"])


def _symbolic(evaluation: Mapping[str, Any], model: str = "symbolic") -> list[Any]:
    found = evaluation[model]
    if "error" in found:
        return [np.nan, np.nan, found["error"]]
    refit = found["refit"]
    edges = "; ".join(f"φe: {e}" for e in refit["edge"].values())
    return [refit["train"], refit["test"], f"{edges}; φv: {refit['node']}"]


def verdict_lines(evaluations: Mapping[str, dict[str, Any]]) -> list[str]:
    """Per split: the planted law's judge and the law's own error (the noise floor), or why there is none."""
    lines = []
    for split, record in evaluations.items():
        status = record["search_status"]
        if status != "ok":
            lines.append(f"{split}: the searches' status is {status} (a front stopped by the clock: not reproducible)")
        planted = record["planted"]
        if planted is None:
            lines.append(f"{split}: no planted law (a real catalogue): Table 6's comparison is the result")
            continue
        parts = ", ".join(
            f"{'φv' if name == NODE_TARGET else 'φe ' + name} {SYMBOLS[v['outcome']]} {v['outcome']}"
            for name, v in planted["parts"].items()
        )
        law = planted["law"]
        lines.append(
            f"{split}: planted law {SYMBOLS[planted['outcome']]} {planted['outcome']} ({parts}); the planted law "
            f"itself scores {law['train']:.4f} (train) and {law['test']:.4f} (test): the noise floor"
        )
    return lines


def _text(value: float | None) -> str:
    """A score as the tables print it; none (a model that did not run, or gave a non-finite δ̂) as —."""
    return NOT_RUN if value is None or pd.isna(value) else f"{value:.4f}"


SECTIONS = {
    "table6": "Table 6: mean |δ − δ̂| of each formula, constants refitted on the training halos",
    "table6_paper_constants": "Table 6 with the paper's constants as published",
    "ood": "Out of distribution: trained on δ ≤ cosmology.split.ood_cut, tested above it",
}


def markdown(frame: pd.DataFrame, notes: list[str], catalogue: str) -> str:
    lines = [f"# Cosmology (catalogue: {catalogue})", ""]
    for section, title in SECTIONS.items():
        part = frame[frame["section"] == section]
        if part.empty:
            continue
        lines += [f"## {title}", "", "| | paper train | paper test | ours train | ours test | note |", "|---" * 6 + "|"]
        for row in part.itertuples():
            cells = [row.row, *map(_text, (row.paper_train, row.paper_test, row.train, row.test)), row.note]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines + [f"- {note}" for note in notes]) + "\n"


def html_body(frame: pd.DataFrame, notes: list[str], catalogue: str) -> str:
    """The tables as HTML (the report embeds this)."""
    e = html.escape
    out = [f"<h2>Cosmology (catalogue: {e(catalogue)})</h2>"]
    for section, title in SECTIONS.items():
        part = frame[frame["section"] == section]
        if part.empty:
            continue
        head = "".join(f"<th>{h}</th>" for h in ("", "paper train", "paper test", "ours train", "ours test", "note"))
        body = "".join(
            f'<tr><td class="stub">{e(row.row)}</td>'
            + "".join(f"<td>{_text(v)}</td>" for v in (row.paper_train, row.paper_test, row.train, row.test))
            + f'<td style="text-align:left;white-space:normal">{e(row.note)}</td></tr>'
            for row in part.itertuples()
        )
        out.append(f'<h3>{e(title)}</h3><table class="sd"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    out.append('<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    return "".join(out)


def read_evaluations(paths: Iterable[str | Path]) -> tuple[dict[str, dict[str, Any]], str]:
    """Each split's evaluation.json, and the catalogue they share."""
    paths = list(paths)
    evaluations = {split_of(p): read_json(p) for p in paths}
    catalogue = Path(paths[0]).parent.parent.name if paths else "none"
    return evaluations, catalogue


def table6_notes(evaluations: Mapping[str, dict[str, Any]]) -> list[str]:
    """What the tables say under them, in the table files and the report alike: each split's verdict, how the
    paper's numbers compare with ours, the units, and the formulas."""
    return verdict_lines(evaluations) + [
        "Paper: Quijote, 215,854 halos; its Table 6 gives one error per formula (its split is not stated), "
        "its OOD test train and test errors. Its OOD symbolic model is the formula distilled on the full data with "
        "its constants refitted on δ ≤ 1: ours is the random split's distilled model refitted, and the paper's "
        "formula refitted; the ood network's own distillation is shown too.",
        "Ours: every equation in cosmology.units (r / length, M / mass, v / velocity); — where a model gave no "
        "finite δ̂ for some halo (evaluation.json counts them).",
        *(f"{formula.label}: {formula.text}" for formula in FORMULAS.values()),
    ]


def make_table6(paths: Iterable[str | Path], files: TableFiles) -> None:
    """Rule ``table6``: results/tables/table6.{csv,md,html}."""
    evaluations, catalogue = read_evaluations(paths)
    frame = table6_frame(evaluations)
    notes = table6_notes(evaluations)
    with atomic_output(files.csv) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_output(files.md) as tmp:
        tmp.write_text(markdown(frame, notes, catalogue))
    with atomic_output(files.html) as tmp:
        tmp.write_text(html_page("Table 6", html_body(frame, notes, catalogue)))
