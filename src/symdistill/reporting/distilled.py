"""The table of systems given as data without a law (results/tables/distilled.{csv,md,html}).

Such a system has no law to judge a front against (the judge's outcome ``no_law``), so Table 5 and Table 1 leave
it out; what the method gives is the equation it selected for each message component, and how well that
equation fits the message on held-out edges (R² of its best affine map, which the search never saw). This table
lists them per cell, the equation in the paper's notation (Δx for the receiver-minus-sender dx, constants
rounded), beside Table 3's test loss of the cell's network.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sympy

from symdistill.core.io import atomic_output
from symdistill.core.names import Cell, parse_dataset
from symdistill.core.rendering import TableFiles, html_page
from symdistill.core.vocabulary import judged_without_law
from symdistill.nbody.data import AXES
from symdistill.nbody.symbolic import input_names
from symdistill.reporting.cell_reports import readable

TITLE = "Systems given as data without a law: the selected equations"
COLUMNS = ("system", "dim", "n", "model", "seed", "component", "equation", "complexity", "heldout_fit_r2", "test_loss")
NOTE = (
    "No law is known for these systems (systems.NAME.trajectories without law:), so nothing is judged and Tables 1 "
    "and 5 leave them out (no force to fit, no law to recover): each "
    "component's selected equation (Occam's rule on its Pareto front), in the paper's notation with Δ = receiver − "
    "sender and constants to 3 significant digits; heldout_fit_r2: R² of its best affine map to the message on test "
    "edges the search never saw; test_loss: the network's (Table 3's metric)."
)


def paper_notation(text: str, dim: int) -> str:
    """A front member as the paper writes an equation: rounded, simplified where cheap, dx written Δx."""
    names = input_names(dim)
    deltas = {sympy.Symbol(f"d{a}"): sympy.Symbol(f"Δ{a}") for a in AXES[:dim]}
    expr = readable(text, names)
    return str(expr.xreplace({s: deltas.get(sympy.Symbol(s.name), s) for s in expr.free_symbols}))


def distilled_frame(judges: Mapping[Cell, Mapping[str, Any]], losses: Mapping[Cell, float]) -> pd.DataFrame:
    """One row per component of every cell whose judge found no law to judge against, in cell order."""
    rows = []
    for cell in sorted(c for c, record in judges.items() if judged_without_law(record)):
        d = parse_dataset(cell.dataset)
        where = {"system": d.sim, "dim": d.dim, "n": d.n, "model": cell.model, "seed": cell.seed}
        found = [(c["component"], selected_member(c)) for c in judges[cell]["components"]]
        for component, selected in [f for f in found if f[1] is not None] or [(NO_EQUATION, None)]:
            rows.append(
                where
                | {
                    "component": component,
                    "equation": NO_EQUATION if selected is None else paper_notation(selected["sympy"], d.dim),
                    "complexity": None if selected is None else selected["complexity"],
                    "heldout_fit_r2": None if selected is None else selected["heldout_fit_r2"],
                    "test_loss": losses.get(cell),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


NO_EQUATION = "—"  # a cell whose search left no front: listed, never dropped (its judge file says why)


def selected_member(component: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The member Occam's rule selected; None for a component whose search left no front."""
    return next((m for m in component["members"] if m["selected"]), None)


def _number(value: Any, spec: str) -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, spec)


def _row_texts(row: pd.Series) -> list[str]:
    return [
        f"{row['system']} {row['dim']}D n={row['n']}",
        f"{row['model']} seed {row['seed']}",
        str(row["component"]),
        str(row["equation"]),
        _number(row["complexity"], ".0f"),
        _number(row["heldout_fit_r2"], ".4f"),
        _number(row["test_loss"], ".4g"),
    ]


HEADINGS = ("system", "cell", "component", "selected equation", "complexity", "held-out fit R²", "test loss")


def distilled_markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown, its note under it (the .md file beside the tidy CSV)."""
    lines = [f"## {TITLE}", "", "| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    lines += ["| " + " | ".join(t.replace("|", "\\|") for t in _row_texts(row)) + " |" for _, row in frame.iterrows()]
    return "\n".join([*lines, "", NOTE, ""])


def distilled_html(frame: pd.DataFrame) -> str:
    """The table as an HTML fragment: every text escaped (an equation is the search's output, a name the config's)."""
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in HEADINGS)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(t)}</td>" for t in _row_texts(row)) + "</tr>" for _, row in frame.iterrows()
    )
    return (
        f'<table class="sd"><caption>{e(TITLE)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f'<ul class="notes"><li>{e(NOTE)}</li></ul>'
    )


def write_distilled(frame: pd.DataFrame, files: TableFiles) -> None:
    """The tidy frame as CSV, and the table as Markdown and as an HTML page, each atomically."""
    with atomic_output(files.csv) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_output(files.md) as tmp:
        tmp.write_text(distilled_markdown(frame), encoding="utf-8")
    with atomic_output(files.html) as tmp:
        tmp.write_text(html_page(TITLE, distilled_html(frame)), encoding="utf-8")


def distilled_outputs(outputs: Any) -> TableFiles | None:
    """Rule ``tables``' files of this table (a mapping, or Snakemake's named outputs), where the run has a system
    without a law: the rule names them only then."""
    if outputs.get("distilled_csv") is None:
        return None
    return TableFiles(*(Path(outputs.get(f"distilled_{ext}")) for ext in ("csv", "md", "html")))
