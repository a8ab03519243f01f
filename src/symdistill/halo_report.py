"""Table 6 beside the paper's, the out-of-distribution test, and the cosmology experiment's figures.

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
from matplotlib.figure import Figure

from symdistill.halo_distillation import MESSAGES_FORMAT, NODE_TARGET, read_table
from symdistill.halo_formulas import FORMULAS, PAPER_OOD, planted_law
from symdistill.halos import EDGE_INPUTS, CatalogueError, HaloUnits, PlantedLaw
from symdistill.halos import FORMAT as CATALOGUE_FORMAT
from symdistill.io import InputError, atomic_output, read_json, read_provenance, read_rows
from symdistill.plotting import HIGHLIGHT, MAX_POINTS, MUTED, save
from symdistill.rendering import html_page
from symdistill.symbolic import evaluate, to_sympy
from symdistill.vocabulary import HALO_FIGURES, NOT_RUN, SYMBOLS

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


def make_table6(paths: Iterable[str | Path], csv: str | Path, md: str | Path, page: str | Path) -> None:
    """Rule ``table6``: results/tables/table6.{csv,md,html}."""
    evaluations, catalogue = read_evaluations(paths)
    frame = table6_frame(evaluations)
    notes = table6_notes(evaluations)
    with atomic_output(csv) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_output(md) as tmp:
        tmp.write_text(markdown(frame, notes, catalogue))
    with atomic_output(page) as tmp:
        tmp.write_text(html_page("Table 6", html_body(frame, notes, catalogue)))


def report_section(evaluations: list[str], figures: list[str]) -> str | None:
    """The report's cosmology section: the tables, the judge's verdict and every split's figures, embedded; None
    for a run without the cosmology experiment."""
    if not evaluations:
        return None
    from symdistill.report import data_uri  # the report module imports this one's callers: imported where used

    found, catalogue = read_evaluations(evaluations)
    parts = [html_body(table6_frame(found), table6_notes(found), catalogue)]
    for path in figures:
        figure = HALO_FIGURES[Path(path).stem]
        split = Path(path).parent.name
        parts.append(
            f'<figure><img src="{data_uri(path)}" alt="{html.escape(figure.label)}, {split}">'
            f"<figcaption>{html.escape(split)}: {html.escape(figure.caption)}</figcaption></figure>"
        )
    return "".join(parts)


# ---------------------------------------------------------------- figures


def sparsity_figure(history: pd.DataFrame, top: str, cell: str) -> Figure:
    std = np.array(history["message_std"].tolist(), dtype=float)
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    over, final = fig.subplots(1, 2)
    k = int(top[1:])
    for j in range(std.shape[1]):
        if j != k:
            over.plot(history["epoch"], std[:, j], color=MUTED, lw=0.6)
    over.plot(history["epoch"], std[:, k], color=HIGHLIGHT, lw=2, label=top)
    over.set(yscale="log", xlabel="epoch", ylabel="message std", title=f"{cell}: message std per component")
    over.legend()
    final.bar(np.arange(std.shape[1]), np.sort(std[-1])[::-1], color=MUTED)
    final.bar([0], [std[-1, k]], color=HIGHLIGHT)
    final.set(yscale="log", xlabel="component (sorted)", ylabel="std, last epoch", title="sorted")
    return fig


def kernel_figure(
    messages: pd.DataFrame, component: str, equation: str | None, law: PlantedLaw | None, units: HaloUnits, cell: str
) -> Figure:
    """The top message against distance (points coloured by the sender's mass) and, at three sender masses, the
    selected φe and the planted law scaled to the messages by least squares."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    shown = messages.sample(min(MAX_POINTS, len(messages)), random_state=0)
    distance = shown["r"] * units.length
    points = ax.scatter(distance, shown[component], c=np.log10(shown["m2"]), s=4, cmap="viridis")
    fig.colorbar(points, ax=ax, label="log10 M̃_j")
    grid = np.linspace(0, messages["r"].max(), 200)
    typical = {name: float(messages[name].median()) for name in EDGE_INPUTS}
    scale = 1.0
    if law is not None:
        truth = law.message(messages["m2"].to_numpy() * units.mass, messages["r"].to_numpy() * units.length)
        scale = float(np.dot(truth, messages[component]) / max(np.dot(truth, truth), 1e-300))
    for q, style in zip((0.1, 0.5, 0.9), (":", "-", "--"), strict=True):
        m2 = float(messages["m2"].quantile(q))
        probe = pd.DataFrame({**{n: np.full_like(grid, typical[n]) for n in EDGE_INPUTS}, "r": grid, "m2": m2})
        if equation is not None:
            ax.plot(
                grid * units.length,
                evaluate(equation, list(EDGE_INPUTS), probe),
                "k" + style,
                lw=1.5,
                label=f"selected φe, M̃_j = {m2:.2g}",
            )
        if law is not None:
            ax.plot(
                grid * units.length,
                scale * law.message(np.full_like(grid, m2 * units.mass), grid * units.length),
                HIGHLIGHT,
                ls=style,
                lw=1,
                label=f"planted law (scaled), M̃_j = {m2:.2g}",
            )
    ax.set(xlabel="|r_i − r_j| (Mpc/h)", ylabel=f"message {component}", title=f"{cell}: φe")
    ax.legend(fontsize=7)
    return fig


def prediction_figure(predictions: pd.DataFrame, cell: str) -> Figure:
    test = predictions[~predictions["train"]]
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    shown = test.sample(min(MAX_POINTS, len(test)), random_state=0)
    for column, label, colour in (
        ("gn", "GN", "C0"),
        ("symbolic", "distilled symbolic", HIGHLIGHT),
        ("symbolic_transferred", "distilled on the random split, refitted", "C1"),
        ("with_mass", "best with mass, refitted", "C2"),
    ):
        if column in shown and shown[column].notna().all():
            error = float(np.mean(np.abs(test[column] - test["delta"])))
            ax.scatter(shown["delta"], shown[column], s=4, color=colour, alpha=0.5, label=f"{label}: {error:.4f}")
    low, high = float(test["delta"].min()), float(test["delta"].max())
    ax.plot([low, high], [low, high], "k-", lw=0.8)
    margin = 0.25 * (high - low)
    ax.set_ylim(
        low - margin, high + margin
    )  # a model that blows up out of distribution is off the scale, not the scale
    ax.set(xlabel="δ", ylabel="δ̂", title=f"{cell}: test halos (mean |δ − δ̂| in the legend)")
    ax.legend(fontsize=8)
    return fig


def halo_figures(cell: str, inputs: Any, outputs: Iterable[str], units: HaloUnits) -> None:
    """Rule ``halos_figures``: the three figures of one split, in ``HALO_FIGURES``' order."""
    history = read_rows(inputs.history, ("epoch", "message_std"), "a halo network's history", "halos_train")
    messages, messages_meta = read_table(inputs.messages, MESSAGES_FORMAT, cell)
    component = messages_meta["ranked_components"][0]
    evaluation = read_json(inputs.evaluation)
    meta = read_provenance(Path(inputs.catalogue), "halo catalogue", CATALOGUE_FORMAT, CatalogueError)
    symbolic = evaluation["symbolic"]
    # the searched φe, not the refitted one: the composed refit moves φe's scale against φv's, off the messages'
    equation = None if "error" in symbolic else next(iter(symbolic["searched"]["edge"].values()))
    if equation is not None:
        try:
            to_sympy(equation, list(EDGE_INPUTS))
        except ValueError as err:  # the whitelist's error names the token; this names the file
            raise InputError(
                f"{inputs.evaluation}: the selected φe: {err}: rebuild it with `-R halos_evaluate`"
            ) from None
    figures = {
        "halo_sparsity": sparsity_figure(history, component, cell),
        "halo_kernel": kernel_figure(messages, component, equation, planted_law(meta), units, cell),
        "halo_prediction": prediction_figure(pd.read_parquet(inputs.predictions), cell),
    }
    for name, path in zip(HALO_FIGURES, outputs, strict=True):
        save(figures[name], path)
