"""Rule ``halos_figures``: one split's figures — the messages' sparsity over training, the top message (φe)
against distance beside the selected equation and the planted law, and δ̂ against δ on the test halos.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from symdistill.core.bundles import Files
from symdistill.core.expressions import evaluate, to_sympy
from symdistill.core.io import InputError, read_json, read_provenance, read_rows
from symdistill.core.plotting import HIGHLIGHT, MAX_POINTS, MUTED, save
from symdistill.core.vocabulary import HALO_FIGURES
from symdistill.cosmology.catalogue import EDGE_INPUTS, CatalogueError, HaloUnits, PlantedLaw
from symdistill.cosmology.catalogue import FORMAT as CATALOGUE_FORMAT
from symdistill.cosmology.judge import planted_law
from symdistill.cosmology.messages import MESSAGES_FORMAT, read_table


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


@dataclass(frozen=True)
class HaloFigureInputs(Files):
    """Rule ``halos_figures``' inputs: a split's training history, message table, evaluation and predictions, and
    the catalogue (for its planted law)."""

    history: Path
    messages: Path
    evaluation: Path
    predictions: Path
    catalogue: Path


def halo_figures(cell: str, inputs: HaloFigureInputs, outputs: Iterable[str | Path], units: HaloUnits) -> None:
    """Rule ``halos_figures``: the three figures of one split, in ``HALO_FIGURES``' order."""
    history = read_rows(inputs.history, ("epoch", "message_std"), "a halo network's history", "halos_train")
    messages, messages_meta = read_table(inputs.messages, MESSAGES_FORMAT, cell)
    component = messages_meta["ranked_components"][0]
    evaluation = read_json(inputs.evaluation)
    meta = read_provenance(inputs.catalogue, "halo catalogue", CATALOGUE_FORMAT, CatalogueError)
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
