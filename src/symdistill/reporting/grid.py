"""Table 5 as one picture: systems down, models across, each cell coloured by the judge's outcome, with the
paper's and the Cambridge reproduction's marks inside it and the cells that disagree with the paper outlined.

Drawn from the tables rule's tidy Table 5 frame (the CSV), so the picture and the table cannot disagree; written
as PNG (embedded at the top of the report) and SVG (for papers and slides) beside the table in results/tables/.
Both files are byte-reproducible: no date in the SVG, and its element ids are salted with a fixed string.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from symdistill.core.io import atomic_output
from symdistill.core.rendering import mark
from symdistill.core.vocabulary import LEGEND, NOT_RUN, SYMBOLS, VERDICTS
from symdistill.reporting.references import WHO

COLOURS = {
    "strict": "#1a9850",
    "on_front": "#91cf60",
    "partial": "#fee08b",
    "fail": "#f46d43",
    "no_result": "#9e9ac8",
}
NOT_RUN_COLOUR = "#f0f0f0"
DISAGREE = "#000000"
DPI = 100
SVG_SALT = "symdistill"  # matplotlib's SVG ids are random unless salted


def cell_outcome(results: str) -> str | None:
    """The outcome at least half of the seeds reach or beat (the median in VERDICTS' order, best first); None for
    a cell not run. One seed: its outcome."""
    ranked = sorted(results.split(), key=VERDICTS.index)
    return ranked[(len(ranked) - 1) // 2] if ranked else None


def column_label(model: str, paper_model: str) -> str:
    return model if model else f"({paper_model})"


def grid_figure(frame: pd.DataFrame) -> Figure:
    """The outcome grid of a Table 5 frame (``symdistill.reporting.tables.table5_frame``, physical reading)."""
    rows = list(dict.fromkeys(zip(frame["row"], frame["n"], strict=True)))
    columns = list(dict.fromkeys(zip(frame["model"], frame["paper_model"], strict=True)))
    fig = Figure(figsize=(1.3 + 1.05 * len(columns), 1.6 + 0.42 * len(rows)), layout="constrained")
    ax = fig.subplots()
    for entry in frame.itertuples():
        x, y = columns.index((entry.model, entry.paper_model)), rows.index((entry.row, entry.n))
        outcome = cell_outcome(entry.physical) if entry.runs else None
        disagrees = bool(entry.runs) and not pd.isna(entry.paper) and bool(entry.physical_success) != entry.paper
        ax.add_patch(
            Rectangle(
                (x + 0.04, y + 0.04),
                0.92,
                0.92,
                facecolor=COLOURS[outcome] if outcome else NOT_RUN_COLOUR,
                edgecolor=DISAGREE if disagrees else "white",
                linewidth=2.5 if disagrees else 0.5,
            )
        )
        ours = "".join(SYMBOLS[r] for r in entry.physical.split()) if entry.runs else NOT_RUN
        ax.text(x + 0.5, y + 0.42, ours, ha="center", va="center", fontsize=12)
        references = f"P {mark(entry.paper)} · C {mark(entry.cambridge)}"
        ax.text(x + 0.5, y + 0.8, references, ha="center", va="center", fontsize=6.5, color="0.2")
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([k + 0.5 for k in range(len(columns))], [column_label(*c) for c in columns], rotation=30, ha="right")
    ax.set_yticks([k + 0.5 for k in range(len(rows))], [row if pd.isna(n) else f"{row} n={n}" for row, n in rows])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("Table 5: force-law recovery (physical reading)", fontsize=11)
    handles = [Patch(facecolor=COLOURS[o], label=f"{SYMBOLS[o]} {LEGEND[o]}") for o in VERDICTS]
    handles += [
        Patch(facecolor=NOT_RUN_COLOUR, label=f"{NOT_RUN} not run"),
        Patch(facecolor="white", edgecolor=DISAGREE, linewidth=2.5, label="disagrees with the paper"),
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=2,
        fontsize=7,
        frameon=False,
        title=f"P: {WHO['paper']}, C: {WHO['cambridge']}; seeds in order, colour: the median seed's outcome",
        title_fontsize=7,
    )
    return fig


def write_grid(frame: pd.DataFrame, png: str | Path, svg: str | Path) -> None:
    """The grid as PNG and SVG, each written atomically and byte-reproducibly."""
    fig = grid_figure(frame)
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        for path, form, metadata in ((png, "png", {"Software": None}), (svg, "svg", {"Date": None})):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=form, dpi=DPI, metadata=metadata)
            with atomic_output(path) as tmp:
                tmp.write_bytes(buffer.getvalue())
