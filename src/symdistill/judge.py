"""An automatic judge of force-law recovery: the paper's Table 5, by numbers instead of by eye.

On fresh edges — new receiver/sender pairs whose distances reach beyond the training range — every member p
of a cell's Pareto front is tested against the known law F (the pair force of the system's potential):

(a) p is an affine map of the law: R² of p regressed on [F, 1] ≥ ``truth_r2`` (0.999), on all fresh edges;
(b) p fits the message as well as the law can: R²(message, p) ≥ R²(message, best affine map of F) −
    ``fit_margin``, on the fresh edges inside the training range (where the network's message is trustworthy).
    (a) alone accepts a one-component law such as F_y; (b) rejects it.

φv sees the receiver, so a message may encode F times any function of the receiver. Two readings:
- ``physical``: the law as F or as the acceleration F/m₁ (what the paper accepted for 1/r and 1/r²);
- ``receiver_scaled``: also F times any smooth function h of the receiver's mass (and its charge's sign),
  tested as an affine fit on [F, F/m₁] within quantile bins of m₁ (where h ≈ a + b/m₁). It accepts e.g.
  F/(m₁ + 10.2), seen on well-trained spring messages.
Per reading and component: ``strict`` if the selected member passes, ``on_front`` if another member does,
``partial`` if some member passes (a) but none passes both, ``fail`` otherwise. A cell's outcome is its worst
component's.

FlatHGN's message is the pair energy, which Hamilton's equations fix only up to a scale and an additive
f(q, m) of the non-dynamical features (e.g. a·q1q2/r + f on charge). So energies are compared as
differences: every fresh (receiver, sender) pair is placed at two distances, and (a) and (b) are the same
tests on H(first) − H(second) against U(first) − U(second), where any f cancels. Both readings coincide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.data import read_split
from symdistill.io import read_json, write_json
from symdistill.messages import edge_features, edge_messages, true_forces, true_potentials
from symdistill.models import message_kind
from symdistill.symbolic import evaluate
from symdistill.systems import get_system
from symdistill.train import load_model

OUTCOMES = ("strict", "on_front", "partial", "fail")  # best first
READINGS = {"physical": ("force", "acceleration"), "receiver_scaled": ("force", "acceleration", "receiver")}
ENERGY_READINGS = {"physical": ("potential",), "receiver_scaled": ("potential",)}


@dataclass(frozen=True)
class JudgeSpec:
    """The ``judge`` rule's params."""

    edges: int
    truth_r2: float
    fit_margin: float
    r_min: float  # closest fresh edge: below r ≈ 0.3 the softening (r + 0.01) separates the laws' forms
    range_factor: float  # fresh distances reach range_factor × the 99th percentile of test distances
    receiver_bins: int
    seed: int


def r2_affine(target: np.ndarray, basis: np.ndarray, groups: np.ndarray | None = None) -> float:
    """R² of the least-squares affine fit of ``target`` on ``basis``, separately within each group."""
    if not np.all(np.isfinite(target)):
        return -np.inf
    total = np.sum((target - target.mean()) ** 2)
    if total == 0:
        return 0.0
    groups = np.zeros(len(target), dtype=int) if groups is None else groups
    residual = 0.0
    for g in np.unique(groups):
        rows = groups == g
        design = np.column_stack([basis[rows], np.ones(rows.sum())])
        coef, *_ = np.linalg.lstsq(design, target[rows], rcond=None)
        residual += np.sum((design @ coef - target[rows]) ** 2)
    return float(1 - residual / total)


def r2(target: np.ndarray, pred: np.ndarray) -> float:
    if not np.all(np.isfinite(pred)):
        return -np.inf
    return float(1 - np.sum((target - pred) ** 2) / np.sum((target - target.mean()) ** 2))


def fresh_pairs(x: np.ndarray, edges: int, rng: np.random.Generator) -> np.ndarray:
    """(edges, 2, f): features of random test nodes as receiver (0) and sender (1)."""
    nodes = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return np.stack([nodes[rng.integers(len(nodes), size=edges)], nodes[rng.integers(len(nodes), size=edges)]], axis=1)


def place_senders(pairs: np.ndarray, dim: int, rng: np.random.Generator, r_min: float, r_max: float) -> pd.DataFrame:
    """The edge frame of ``pairs`` with each sender moved to a log-uniform distance in [r_min, r_max] from its
    receiver, in a random direction (one two-node graph per edge)."""
    direction = rng.normal(size=(len(pairs), dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    distance = np.exp(rng.uniform(np.log(r_min), np.log(r_max), size=len(pairs)))
    placed = pairs.copy()
    placed[:, 1, :dim] = pairs[:, 0, :dim] - distance[:, None] * direction
    return edge_features(placed, np.array([1]), np.array([0]), dim)


def fresh_edges(x: np.ndarray, sim: str, dim: int, spec: JudgeSpec, r_max: float) -> pd.DataFrame:
    """New (receiver, sender) pairs: random test nodes, the sender at a log-uniform distance in [r_min, r_max]."""
    rng = np.random.default_rng(spec.seed)
    return place_senders(fresh_pairs(x, spec.edges, rng), dim, rng, spec.r_min, r_max)


def receiver_groups(frame: pd.DataFrame, bins: int, charged: bool) -> np.ndarray:
    edges = np.quantile(frame["m1"], np.linspace(0, 1, bins + 1)[1:-1])
    groups = np.searchsorted(edges, frame["m1"])
    return groups * 2 + (frame["q1"].to_numpy() > 0) if charged else groups


@dataclass(frozen=True)
class Laws:
    """What a component is tested against: per basis the law's values, the groups within which a fit is
    affine (None: one fit), and which bases each reading accepts."""

    values: dict[str, np.ndarray]
    groups: dict[str, np.ndarray | None]
    readings: dict[str, tuple[str, ...]]


def force_laws(force: np.ndarray, m1: np.ndarray, groups: np.ndarray) -> Laws:
    """F, F/m₁, and F·h(receiver): within a narrow bin of the receiver h(m₁) ≈ a + b/m₁, so affine in [F, F/m₁]."""
    acceleration = force / m1[:, None]
    return Laws({"force": force, "acceleration": acceleration, "receiver": np.column_stack([force, acceleration])},
                {"force": None, "acceleration": None, "receiver": groups}, READINGS)


def energy_laws(potential_difference: np.ndarray) -> Laws:
    return Laws({"potential": potential_difference[:, None]}, {"potential": None}, ENERGY_READINGS)


def judge_component(front: pd.DataFrame, message: np.ndarray, laws: Laws, member: Callable[[str], np.ndarray],
                    in_range: np.ndarray, spec: JudgeSpec) -> dict[str, Any]:
    """Numbers and outcome per reading for one message component's front; ``member`` evaluates an equation
    on the same edges as ``message``."""
    ceiling = {b: r2_affine(message[in_range], laws.values[b][in_range], None if g is None else g[in_range])
               for b, g in laws.groups.items()}
    members = []
    for row in front.itertuples():
        p = member(row.sympy)
        truth = {b: r2_affine(p, laws.values[b], g) for b, g in laws.groups.items()}
        fit = r2(message[in_range], p[in_range])
        affine = {b: bool(truth[b] >= spec.truth_r2) for b in laws.groups}
        passes = {b: affine[b] and bool(fit >= ceiling[b] - spec.fit_margin) for b in laws.groups}
        members.append({"complexity": int(row.complexity), "selected": bool(row.selected), "sympy": row.sympy,
                        "truth_r2": truth, "fit_r2": fit, "affine": affine, "passes": passes})
    return {"ceiling_r2": ceiling, "members": members,
            "outcome": {reading: outcome(members, bases) for reading, bases in laws.readings.items()}}


def outcome(members: list[dict[str, Any]], bases: tuple[str, ...]) -> str:
    if any(m["selected"] and any(m["passes"][b] for b in bases) for m in members):
        return "strict"
    if any(any(m["passes"][b] for b in bases) for m in members):
        return "on_front"
    if any(any(m["affine"][b] for b in bases) for m in members):
        return "partial"
    return "fail"


def worst(outcomes: list[str]) -> str:
    return max(outcomes, key=OUTCOMES.index)


def judge_cell(model_path: str | Path, test_path: str | Path, front_path: str | Path, result_path: str | Path,
               out_path: str | Path, spec: JudgeSpec) -> None:
    """Rule ``judge``: the recovery outcome of one cell with every number behind it."""
    result = read_json(result_path)
    verdict: dict[str, Any] = {"cell": result["cell"], "settings": asdict(spec), "symbolic_status": result["status"]}
    if result["status"] != "ok":
        verdict["outcome"] = {reading: "no_result" for reading in READINGS}
        verdict["reason"] = "; ".join(c.get("message", "") for c in result["components"] if c["status"] != "ok")
        write_json(out_path, verdict)
        return
    model, record = load_model(model_path)
    sim, dim, n = (record["system"][k] for k in ("sim", "dim", "n"))
    test = read_split(test_path)
    r_in = float(np.quantile(_edge_distances(test.x, dim), 0.99))
    r_max = spec.range_factor * r_in
    rng = np.random.default_rng(spec.seed)
    pairs = fresh_pairs(test.x, spec.edges, rng)
    names = result["inputs"]
    if message_kind(record["model"]) == "energy":
        frames = [place_senders(pairs, dim, rng, spec.r_min, r_max) for _ in range(2)]
        u = [true_potentials(sim, f, dim, n) for f in frames]
        values = edge_messages(model, frames[0], dim)[0] - edge_messages(model, frames[1], dim)[0]
        laws = energy_laws(u[0] - u[1])
        in_range = (frames[0]["r"].to_numpy() <= r_in) & (frames[1]["r"].to_numpy() <= r_in)

        def member(equation: str) -> np.ndarray:
            return evaluate(equation, names, frames[0]) - evaluate(equation, names, frames[1])
    else:
        frame = place_senders(pairs, dim, rng, spec.r_min, r_max)
        frames = [frame]
        values = edge_messages(model, frame, dim)[0]
        laws = force_laws(true_forces(sim, frame, dim, n), frame["m1"].to_numpy(),
                          receiver_groups(frame, spec.receiver_bins, get_system(sim).charged))
        in_range = frame["r"].to_numpy() <= r_in

        def member(equation: str) -> np.ndarray:
            return evaluate(equation, names, frame)
    front = pd.read_parquet(front_path)
    components = []
    for entry in result["components"]:
        k = int(entry["component"][1:])
        verdict_k = judge_component(front[front["component"] == entry["component"]], values[:, k], laws, member,
                                    in_range, spec)
        components.append({"component": entry["component"], **verdict_k})
    verdict.update(
        message=message_kind(record["model"]),
        readings={reading: list(bases) for reading, bases in laws.readings.items()},
        edges=len(frames[0]), edges_in_range=int(in_range.sum()), r_train_p99=r_in, r_range=[spec.r_min, r_max],
        components=components,
        outcome={reading: worst([c["outcome"][reading] for c in components]) for reading in READINGS},
    )
    write_json(out_path, verdict)


def _edge_distances(x: np.ndarray, dim: int, graphs: int = 10_000) -> np.ndarray:
    pos = x[:graphs, :, :dim].astype(np.float64)
    diff = pos[:, :, None] - pos[:, None]
    r = np.linalg.norm(diff, axis=-1)
    return r[:, ~np.eye(x.shape[1], dtype=bool)].ravel()
