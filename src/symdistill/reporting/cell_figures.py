"""The report's figures for one cell (matplotlib's Agg renderer, PNG; no display needed).

- ``sparsity``: each message component's std over epochs, and its final value sorted. The paper's evidence that
  Bottleneck, L1 and KL concentrate the information in ``dim`` components.
- ``force_fit``: the most significant messages against the best linear combination of the true force (the
  paper's Fig. 3), titled with Table 1's R²; for a system without a known law, against the distance r.
- ``pareto``: the symbolic front of each fitted component, with the selected member and the members the judge
  accepted marked.
- ``training``: train and test loss and the learning rate per epoch.
- ``trajectory``: the GNN integrated from a test simulation's first stored snapshot, beside the stored truth.

Figures are built on ``matplotlib.figure.Figure`` directly, never through pyplot's global state, so any number of
them can be made in one process without leaking memory or needing a GUI backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from symdistill.core.bundles import Files
from symdistill.core.fits import affine_fit
from symdistill.core.io import read_json, read_rows
from symdistill.core.names import recorded_message_kind
from symdistill.core.plotting import HIGHLIGHT, MAX_POINTS, MUTED, save
from symdistill.core.vocabulary import (
    FIGURES,
    GENERALISATION_MODELS,
    READINGS,
    STORED_TRAJECTORY,
    judged_without_law,
)
from symdistill.engine.search_files import read_front
from symdistill.nbody.data import AXES
from symdistill.nbody.forcefit import potential_basis, top_components
from symdistill.nbody.messages import read_messages
from symdistill.nbody.rollout import gnn_acceleration, rk4_rollout, stored_trajectory
from symdistill.nbody.symbolic import input_names
from symdistill.nbody.train import HISTORY_COLUMNS, load_model

# ---------------------------------------------------------------- training


def sparsity_figure(history: pd.DataFrame, top: list[str], ranking: str, cell: str) -> Figure:
    """Message std per component over epochs and at the last epoch, sorted; ``top`` (ranked by ``ranking``,
    std or KL) highlighted."""
    std = np.array(history["message_std"].tolist(), dtype=float)  # (epochs, components)
    names = [f"e{k}" for k in range(std.shape[1])]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    over_time, final = fig.subplots(1, 2)
    for k, name in enumerate(names):
        chosen = name in top
        over_time.plot(
            history["epoch"],
            std[:, k],
            color=HIGHLIGHT if chosen else MUTED,
            lw=1.6 if chosen else 0.7,
            label=name if chosen else None,
            zorder=3 if chosen else 2,
        )
    over_time.set(yscale="log", xlabel="epoch", ylabel="message std over test edges", title=f"{cell}: message sparsity")
    over_time.legend(title=f"most significant ({ranking})", fontsize="small")
    if "kept_components" in history:  # a pruned variant: how many components φe kept in each epoch (std 0 after)
        kept = over_time.twinx()
        kept.step(history["epoch"], [len(k) for k in history["kept_components"]], where="mid", color="0.3", ls="--")
        kept.set(ylabel="components kept (dashed)", ylim=(0, std.shape[1] * 1.05))
    order = np.argsort(-std[-1], kind="stable")
    final.bar(np.arange(len(order)), std[-1, order], color=[HIGHLIGHT if names[k] in top else MUTED for k in order])
    final.set(yscale="log", xlabel="component, by final std", ylabel="std", title="last epoch")
    return fig


def training_figure(history: pd.DataFrame, cell: str) -> Figure:
    """Train and test loss (log scale) with the OneCycle learning rate on a second axis."""
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    loss = fig.subplots()
    loss.plot(history["epoch"], history["train_loss"], marker=".", label="train (per graph)")
    loss.plot(history["epoch"], history["test_loss"], marker=".", label="test (monitor graphs)")
    loss.set(yscale="log", xlabel="epoch", ylabel="loss: Σ|a − â| per graph", title=f"{cell}: training")
    rate = loss.twinx()
    rate.plot(history["epoch"], history["lr"], color="0.4", ls=":", label="learning rate")
    rate.set_ylabel("learning rate")
    handles = [h for ax in (loss, rate) for h in ax.get_legend_handles_labels()[0]]
    loss.legend(handles=handles, fontsize="small")
    return fig


# ---------------------------------------------------------------- messages


def force_fit_figure(frame: pd.DataFrame, fit: dict[str, Any], dim: int, cell: str) -> Figure:
    """Each of the top-``dim`` messages against its best linear combination of the true force (paper Fig. 3);
    FlatHGN's pair energy against the potential (plus its first-order f(q, m) terms)."""
    energy = recorded_message_kind(fit) == "energy"
    basis = potential_basis(frame) if energy else frame[[f"f{a}" for a in AXES[:dim]]].to_numpy()
    law = "U" if energy else "F"
    shown = np.random.default_rng(0).choice(len(frame), size=min(MAX_POINTS, len(frame)), replace=False)
    components = fit["components"]
    fig = Figure(figsize=(3.4 * len(components), 3.6), layout="constrained")
    scores = fit["potential" if energy else "force"]["r2"]
    for ax, component, r2 in zip(fig.subplots(1, len(components), squeeze=False)[0], components, scores, strict=True):
        message = frame[component].to_numpy()
        fitted = affine_fit(basis, message)(basis)
        ax.scatter(fitted[shown], message[shown], s=3, alpha=0.4, lw=0)
        lo, hi = np.percentile(np.concatenate([message, fitted]), [1, 99])
        pad = 0.1 * (hi - lo) or 1.0
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.set(
            xlim=(lo - pad, hi + pad),
            ylim=(lo - pad, hi + pad),
            xlabel=f"best linear combination of {law}",
            ylabel=f"message {component}",
            title=f"{component}: R² {r2:.3f}" + ("" if energy else " (Table 1)"),
        )
    fig.suptitle(f"{cell}: messages vs the true {'potential' if energy else 'force'}")
    return fig


def distance_figure(frame: pd.DataFrame, components: list[str], cell: str) -> Figure:
    """A system without a known law has no force to fit the messages to: each of the most significant messages
    against the pair's distance r, the one thing every pair law depends on."""
    shown = np.random.default_rng(0).choice(len(frame), size=min(MAX_POINTS, len(frame)), replace=False)
    fig = Figure(figsize=(3.4 * len(components), 3.6), layout="constrained")
    for ax, component in zip(fig.subplots(1, len(components), squeeze=False)[0], components, strict=True):
        ax.scatter(frame["r"].to_numpy()[shown], frame[component].to_numpy()[shown], s=3, alpha=0.4, lw=0)
        ax.set(xlabel="distance r", ylabel=f"message {component}", title=component)
    fig.suptitle(f"{cell}: messages vs distance (no known law to fit them to)")
    return fig


# ---------------------------------------------------------------- symbolic regression


def front_points(
    front: pd.DataFrame, component: dict[str, Any], readings: Mapping[str, list[str]] = READINGS
) -> pd.DataFrame:
    """One component's front (complexity, loss) with the judge's verdict on each member beside it."""
    rows = front[front["component"] == component["component"]].set_index("complexity")["loss"]
    judged = component["members"]  # a system without a law: members carry no verdict, and none is marked
    members = pd.DataFrame(
        {
            "complexity": [m["complexity"] for m in judged],
            "selected": [m["selected"] for m in judged],
            "physical": [any(m.get("passes", {}).get(b, False) for b in readings["physical"]) for m in judged],
            "receiver_scaled": [any(m.get("passes", {}).values()) for m in judged],
            "affine": [any(m.get("affine", {}).values()) for m in judged],
        }
    )
    if sorted(members["complexity"]) != sorted(rows.index):
        raise ValueError(
            f"the judge's members of {component['component']} (complexities "
            f"{sorted(members['complexity'])}) are not the front's ({sorted(rows.index)})"
        )
    return members.assign(loss=rows.loc[members["complexity"]].to_numpy()).sort_values("complexity")


def pareto_figure(front: pd.DataFrame, verdict: dict[str, Any], cell: str) -> Figure:
    """Loss against complexity per fitted component; selected, accepted and law-shaped members marked."""
    components = verdict.get("components", [])
    fig = Figure(figsize=(max(5.0, 4.6 * len(components)), 3.8), layout="constrained")
    if not components:
        ax = fig.subplots()
        ax.text(
            0.5,
            0.5,
            f"no symbolic result ({verdict['symbolic_status']}):\n{verdict.get('reason', '')[:200]}",
            ha="center",
            va="center",
            wrap=True,
        )
        ax.set_axis_off()
        fig.suptitle(f"{cell}: Pareto front")
        return fig
    for ax, component in zip(fig.subplots(1, len(components), squeeze=False)[0], components, strict=True):
        points = front_points(front, component, verdict.get("readings", READINGS))
        ax.plot(points["complexity"], points["loss"], color=MUTED, marker="o", ms=4, label="front")
        marks = [
            (points["affine"] & ~points["receiver_scaled"], dict(marker="^", color="C0", s=50), "law's form, poor fit"),
            (
                points["receiver_scaled"] & ~points["physical"],
                dict(marker="D", color="C1", s=50),
                "passes (receiver-scaled)",
            ),
            (points["physical"], dict(marker="*", color="C2", s=160), "passes (physical)"),
            (points["selected"], dict(marker="o", facecolors="none", edgecolors=HIGHLIGHT, s=220, lw=2), "selected"),
        ]
        for rows, style, label in marks:
            if rows.any():
                ax.scatter(points.loc[rows, "complexity"], points.loc[rows, "loss"], label=label, zorder=3, **style)
        ax.set(yscale="log", xlabel="complexity", ylabel="loss", title=front_title(component, verdict))
        ax.legend(fontsize="small")
    fig.suptitle(f"{cell}: Pareto front")
    return fig


def front_title(component: dict[str, Any], verdict: dict[str, Any]) -> str:
    """The judge's outcomes per reading, or for a system without a law the selected member's held-out fit."""
    if judged_without_law(verdict):
        selected = next((m for m in component["members"] if m["selected"]), {"heldout_fit_r2": None})
        fit = "n/a" if selected["heldout_fit_r2"] is None else f"{selected['heldout_fit_r2']:.3f}"
        return f"{component['component']}: no law to judge; selected fits held-out R² {fit}"
    outcome = component["outcome"]
    return f"{component['component']}: physical {outcome['physical']}, receiver-scaled {outcome['receiver_scaled']}"


# ---------------------------------------------------------------- trajectory


def trajectory_figure(truth: np.ndarray, predicted: np.ndarray, times: np.ndarray, dim: int, cell: str) -> Figure:
    """Particle paths in the x–y plane (truth solid, GNN dashed) and the mean position error over time."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    paths, error = fig.subplots(1, 2)
    for p in range(truth.shape[1]):
        color = f"C{p % 10}"
        paths.plot(truth[:, p, 0], truth[:, p, 1], color=color, lw=1.6, label="truth" if p == 0 else None)
        paths.plot(
            predicted[:, p, 0], predicted[:, p, 1], color=color, lw=1.2, ls="--", label="GNN" if p == 0 else None
        )
        paths.plot(truth[0, p, 0], truth[0, p, 1], "o", color=color, ms=5)
    lo, hi = truth[..., :2].min(axis=(0, 1)), truth[..., :2].max(axis=(0, 1))
    pad = 0.25 * (hi - lo).max()
    paths.set(
        xlim=(lo[0] - pad, hi[0] + pad),
        ylim=(lo[1] - pad, hi[1] + pad),
        xlabel="x",
        ylabel="y",
        title=f"{cell}: test simulation" + (" (x–y projection)" if dim == 3 else ""),
    )
    paths.legend(fontsize="small")
    with np.errstate(all="ignore"):
        distance = np.linalg.norm(predicted[..., :dim] - truth[..., :dim], axis=-1).mean(axis=1)
    error.plot(times - times[0], distance, marker=".")
    error.set(xlabel="time since the first snapshot", ylabel="mean |x_GNN − x_true|", title="position error")
    return fig


def _model_style(model: str) -> dict[str, str]:
    """One colour and the report's name per scored model, in every panel: the record lists the models in their
    order, and its rollout (JSON, keys sorted) alphabetically, so colours by position disagreed between panels."""
    if model == STORED_TRAJECTORY:
        return {"color": "k", "label": "the simulation (stored)"}
    return {"color": f"C{list(GENERALISATION_MODELS).index(model)}", "label": GENERALISATION_MODELS[model]}


def generalisation_figure(record: Mapping[str, Any], cell: str) -> Figure:
    """Relative error per set and model scored; each model's rollout error and energy drift against time."""
    models, sets, rollout = record["models"], list(record["sets"]), record.get("rollout")
    panels = 1 + (rollout is not None) + bool(rollout and rollout.get("energy"))
    fig = Figure(figsize=(4.2 * panels, 3.8), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        values = [record["sets"][name][model]["relative"] for name in sets]
        axes[0].bar(np.arange(len(sets)) + (k - (len(models) - 1) / 2) * width, values, width, **_model_style(model))
    axes[0].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[0].set_xticks(np.arange(len(sets)), sets)
    axes[0].set(ylabel="relative error (1: predicting zero)", title="in and out of distribution")
    axes[0].legend(fontsize="small")
    if rollout is not None:
        for model, error in rollout["error"].items():
            axes[1].plot(
                rollout["times"], [np.nan if e is None else e for e in error], marker=".", **_model_style(model)
            )
        axes[1].set(yscale="log", xlabel="time", ylabel="RMS position error", title="rollout from test states")
        axes[1].legend(fontsize="small")
    if panels == 3:
        for model, drift in rollout["energy"].items():
            axes[2].plot(rollout["times"][1:], [np.nan if d is None else d for d in drift[1:]], **_model_style(model))
        axes[2].set(yscale="log", xlabel="time", ylabel="|E(t) − E(0)| / |E(0)|", title="energy drift")
        axes[2].legend(fontsize="small")
    fig.suptitle(f"{cell}: generalisation")
    return fig


# ---------------------------------------------------------------- the rule


@dataclass(frozen=True)
class CellFigureInputs(Files):
    """Rule ``figures``' inputs: the cell's training history and network, its messages, front and judge, its test
    split, its generalisation file and, where its system has a law, its force fit."""

    history: Path
    model: Path
    messages: Path
    front: Path
    judge: Path
    test: Path
    generalisation: Path
    forcefit: Path | None = None  # none for a system without a known law


def cell_figures(
    inputs: CellFigureInputs, outputs: Mapping[str, str | Path], rollout_simulation: int, rollout_substeps: int
) -> None:
    """Rule ``figures``: the PNGs of one cell, ``outputs[name]`` for each name in FIGURES."""
    history = read_rows(inputs.history, HISTORY_COLUMNS, "a training history", "train")
    frame, meta = read_messages(inputs.messages)
    cell, dim, top = meta["cell"], meta["system"]["dim"], top_components(meta)
    verdict = read_json(inputs.judge)
    front = read_front(inputs.front, input_names(dim))
    try:
        pareto = pareto_figure(front, verdict, cell)
    except ValueError as err:
        raise ValueError(f"{inputs.front} and {inputs.judge}: {err}") from None
    model, record = load_model(inputs.model)
    truth, times = stored_trajectory(inputs.test, rollout_simulation)
    system = record["system"]
    predicted = rk4_rollout(gnn_acceleration(model, system["sim"], system["n"]), truth[0], times, dim, rollout_substeps)
    figures = {
        "sparsity": sparsity_figure(history, top, meta["significance"], cell),
        "force_fit": (
            distance_figure(frame, top, cell)
            if inputs.forcefit is None
            else force_fit_figure(frame, read_json(inputs.forcefit), dim, cell)
        ),
        "pareto": pareto,
        "training": training_figure(history, cell),
        "trajectory": trajectory_figure(truth, predicted, times, dim, cell),
        "generalisation": generalisation_figure(read_json(inputs.generalisation), cell),
    }
    for name in FIGURES:
        save(figures[name], outputs[name])
