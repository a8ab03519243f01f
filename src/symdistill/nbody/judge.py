"""An automatic judge of force-law recovery: the paper's Table 5, by numbers instead of by eye.

Every member p of a cell's Pareto front is tested against the known law F (the pair force of the system's
potential) on two sets of edges:

(a) p is an affine map of the law: R² of p regressed on [F, 1] ≥ ``judge.truth_r2``, on *probe* edges —
    random test nodes as receiver and sender, the sender placed at a log-uniform distance that reaches beyond
    the training range. Only p and the law are evaluated there (no network), so it is pure mathematics: do the
    two functions agree, also where the data never went?
(b) p fits the message as well as the law does: R²(message, best affine map of p) ≥ R²(message, best affine
    map of L) − ``judge.fit_margin``, where L is the law's components in the proportions the message holds them,
    fitted by least trimmed squares on the best ``judge.keep_fraction`` of edges as Table 1's metric (a plain
    least-squares fit lets a few close encounters of a 1/r² system choose the proportions, which then
    differed by up to a factor 2 between two sets of held-out edges of one cell). This is tested on
    *held-out* edges: the edges of test graphs that the message table (and so the search) never saw, at
    least ``judge.r_min`` long (as the probe edges: closer, the softening r + 0.01 decides the form). (a) alone
    accepts a one-component law such as F_y; (b) rejects it. (b) needs the network, and a network is
    trustworthy only on the joint distribution it was trained on: its messages on probe pairs, whose
    positions and velocities come from unrelated snapshots, can carry terms the dynamics never exposed
    (seen on 1/r²: R² of the message to the law 0.98 on real edges, 0.1 on probe pairs, 0.98 again with
    the velocities zeroed).

φv sees the receiver, so a message may encode F times any function of the receiver. Two readings:
- ``physical``: the law as F or as the acceleration F/m₁ (what the paper accepted for 1/r and 1/r²);
- ``receiver_scaled``: also F times any smooth function h of the receiver's mass (and its charge's sign),
  tested as an affine fit on [F, F/m₁] within quantile bins of m₁ (where h ≈ a + b/m₁). It accepts e.g.
  F/(m₁ + 10.2), seen on well-trained spring messages.
Per reading and component: ``strict`` if the selected member passes, ``on_front`` if another member does,
``partial`` if some member passes (a) but none passes both, ``fail`` otherwise. A cell's outcome is its worst
component's. ``law_r2`` says whose failure it is: per reading, the R² of the law's best fit to the message on the
held-out edges (the ceiling of (b); the worst component's). Near 1, the message is the law and a failure is the
search's; well below 1 the network has not (yet) put the law into this component — no search can recover it.
Table 1's trimmed force fit cannot tell the two apart: it scores a message unrelated to the force 0.38.

FlatHGN's message is the pair energy, which Hamilton's equations fix only up to a scale and an additive
f(q, m) of the non-dynamical features (e.g. a·q1q2/r + f on charge). So energies are compared as
differences of the same pair (same charges and masses) in two configurations, where any f cancels: probe
pairs placed at two distances for (a), the same edge in two snapshots of its simulation for (b). Both
readings coincide.

A system given as data without a law (``systems.NAME.trajectories`` and no ``law:``) has nothing to be judged
against: its outcome is ``no_law``, and the record keeps each front member's fit to the message on the held-out
edges instead (the selected one is what the report shows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from symdistill.core.bundles import Files
from symdistill.core.expressions import evaluate
from symdistill.core.fits import affine_fit, finite_or_none, r2_affine
from symdistill.core.io import write_json
from symdistill.core.specs import Spec
from symdistill.core.vocabulary import ENERGY_READINGS, NO_LAW, NO_RESULT, OUTCOMES, READINGS
from symdistill.engine.search_files import read_front, read_result
from symdistill.nbody.data import Split, has_law, read_metadata, read_split
from symdistill.nbody.forcefit import least_trimmed_squares
from symdistill.nbody.messages import (
    edge_features,
    edge_messages,
    read_messages,
    sample_graphs,
    true_forces,
    true_potentials,
)
from symdistill.nbody.symbolic import input_names
from symdistill.nbody.systems import edge_index, get_system
from symdistill.nbody.train import load_model


@dataclass(frozen=True)
class JudgeSpec(Spec):
    """The ``judge`` rule's params."""

    edges: int  # probe edges, and (about) as many held-out edges
    truth_r2: float
    fit_margin: float
    keep_fraction: float  # (b): the law's combination is fitted to the message on this best fraction of edges
    r_min: float  # closest judged edge: below r ≈ 0.3 the softening (r + 0.01) separates the laws' forms
    range_factor: float  # probe distances reach range_factor × the 99th percentile of test distances
    receiver_bins: int
    seed: int


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


def fresh_edges(x: np.ndarray, dim: int, spec: JudgeSpec, r_max: float) -> pd.DataFrame:
    """Probe edges: random test nodes, the sender at a log-uniform distance in [r_min, r_max]."""
    rng = np.random.default_rng(spec.seed)
    return place_senders(fresh_pairs(x, spec.edges, rng), dim, rng, spec.r_min, r_max)


def heldout_graphs(test: Split, seen: np.ndarray, edges: int, rng: np.random.Generator) -> np.ndarray:
    """Test graphs outside ``seen`` (the message table's), as many as ``edges`` edges need, in random order."""
    pool = np.setdiff1d(np.arange(len(test.x)), seen)
    if len(pool) == 0:
        raise ValueError(
            f"no test graph is left for the judge's held-out edges: the message table uses all "
            f"{len(test.x)}; lower messages.graphs or raise simulation.test_sims"
        )
    per_graph = len(edge_index(test.metadata["sim"], test.n)[0])
    return rng.choice(pool, size=min(len(pool), -(-edges // per_graph)), replace=False)


def other_snapshots(test: Split, graphs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each graph, another snapshot of its simulation: the same bodies, so the same charges and masses."""
    partners = []
    for g in graphs:
        same = np.flatnonzero(test.sim == test.sim[g])
        partners.append(rng.choice(same[same != g]))
    return np.array(partners, dtype=int)


def graph_edges(test: Split, graphs: np.ndarray) -> pd.DataFrame:
    senders, receivers = edge_index(test.metadata["sim"], test.n)
    return edge_features(test.x[graphs], np.array(senders), np.array(receivers), test.dim)


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
    return Laws(
        {"force": force, "acceleration": acceleration, "receiver": np.column_stack([force, acceleration])},
        {"force": None, "acceleration": None, "receiver": groups},
        READINGS,
    )


def energy_laws(potential_difference: np.ndarray) -> Laws:
    return Laws({"potential": potential_difference[:, None]}, {"potential": None}, ENERGY_READINGS)


@dataclass(frozen=True)
class Domain:
    """A set of edges a front member is judged on: the law there (None for a system without one), and how to
    evaluate an equation there."""

    laws: Laws | None
    evaluate: Callable[[str], np.ndarray]


def force_domain(
    sim: str, frame: pd.DataFrame, dim: int, n: int, names: list[str], bins: int, law: bool = True
) -> Domain:
    laws = (
        force_laws(
            true_forces(sim, frame, dim, n),
            frame["m1"].to_numpy(),
            receiver_groups(frame, bins, get_system(sim).charged),
        )
        if law
        else None
    )
    return Domain(laws, lambda equation: evaluate(equation, names, frame))


def energy_domain(
    sim: str, first: pd.DataFrame, second: pd.DataFrame, dim: int, n: int, names: list[str], law: bool = True
) -> Domain:
    """Differences between two configurations of the same pairs, in which any f(q, m) cancels."""
    laws = energy_laws(true_potentials(sim, first, dim, n) - true_potentials(sim, second, dim, n)) if law else None
    return Domain(laws, lambda equation: evaluate(equation, names, first) - evaluate(equation, names, second))


def robust_law(message: np.ndarray, values: np.ndarray, groups: np.ndarray | None, keep: float) -> np.ndarray:
    """The message's combination of the law's components, edge by edge: an affine fit by least trimmed
    squares (within each group), so that the heavy tails of 1/r² messages do not choose the weights."""
    groups = np.zeros(len(message), dtype=int) if groups is None else groups
    prediction = np.empty(len(message))
    for g in np.unique(groups):
        rows = groups == g
        fit, _ = least_trimmed_squares(values[rows], message[rows], keep)
        prediction[rows] = fit(values[rows])
    return prediction


def judge_component(
    front: pd.DataFrame, message: np.ndarray, heldout: Domain, probe: Domain, spec: JudgeSpec
) -> dict[str, Any]:
    """Numbers and outcome per reading for one message component's front: (a) on ``probe``, (b) on
    ``heldout``, where ``message`` was taken.

    (b) compares two one-predictor fits of the message: the member's, and the law's (its components in the
    message's robust combination); within the receiver groups, both may be rescaled group by group.
    """
    laws = heldout.laws
    ceiling = {
        b: r2_affine(message, robust_law(message, laws.values[b], g, spec.keep_fraction)[:, None], g)
        for b, g in laws.groups.items()
    }
    members = []
    for row in front.itertuples():
        on_probe = probe.evaluate(row.sympy)
        truth = {b: r2_affine(on_probe, probe.laws.values[b], g) for b, g in probe.laws.groups.items()}
        on_heldout = heldout.evaluate(row.sympy)[:, None]
        fit = {b: r2_affine(message, on_heldout, g) for b, g in laws.groups.items()}
        affine = {b: bool(truth[b] >= spec.truth_r2) for b in laws.groups}
        passes = {b: affine[b] and bool(fit[b] >= ceiling[b] - spec.fit_margin) for b in laws.groups}
        members.append(
            {
                "complexity": int(row.complexity),
                "selected": bool(row.selected),
                "sympy": row.sympy,
                "truth_r2": {b: finite_or_none(value) for b, value in truth.items()},  # null: not finite on a probe
                "fit_r2": {b: finite_or_none(value) for b, value in fit.items()},
                "affine": affine,
                "passes": passes,
                "law_fit": law_fits(on_probe, probe.laws, [b for b, ok in passes.items() if ok]),
            }
        )
    return {
        "ceiling_r2": ceiling,
        "members": members,
        "outcome": {reading: outcome(members, bases) for reading, bases in laws.readings.items()},
    }


def unjudged(
    front: pd.DataFrame, values: np.ndarray, heldout: Domain, searched: list[dict[str, Any]]
) -> dict[str, Any]:
    """A system without a law: no verdict (``no_law``), but each component's front members with how well each
    fits the message on the held-out edges (R² of its best affine map), so the report can show the selected
    equation and its fit. The search saw none of these edges."""
    components = []
    for entry in searched:
        k = int(entry["component"][1:])
        rows = front[front["component"] == entry["component"]]
        members = [
            {
                "complexity": int(row.complexity),
                "selected": bool(row.selected),
                "sympy": row.sympy,
                "heldout_fit_r2": finite_or_none(r2_affine(values[:, k], heldout.evaluate(row.sympy)[:, None])),
            }
            for row in rows.itertuples()
        ]
        components.append({"component": entry["component"], "members": members})
    return {"components": components, "outcome": {reading: NO_LAW for reading in READINGS}}


def law_fits(values: np.ndarray, laws: Laws, bases: list[str]) -> dict[str, dict[str, Any]]:
    """For each basis a member passes in with one affine fit (not within receiver groups): the fit's weights on
    the law's components and its offset on the probe edges, so the report can write the member as the law
    ("≈ 0.37 q₁q₂ Δx/r³", symdistill.nbody.laws.fitted_law)."""
    fits = {}
    for b in bases:
        if laws.groups[b] is None:
            coef = affine_fit(laws.values[b], values).coef
            fits[b] = {"weights": [float(w) for w in coef[:-1]], "offset": float(coef[-1])}
    return fits


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


JUDGED_STATUSES = ("ok", "timeout")  # a search stopped by its time ceiling keeps its front, which is judged


@dataclass(frozen=True)
class JudgeInputs(Files):
    """Rule ``judge``'s inputs: the cell's network, test split, message table and search files."""

    model: Path
    test: Path
    messages: Path
    front: Path
    result: Path


def judge_cell(inputs: JudgeInputs, out_path: str | Path, spec: JudgeSpec) -> None:
    """Rule ``judge``: the recovery outcome of one cell with every number behind it; rule ``judge_rest``: the same
    for the components ``symbolic_rest`` searched."""
    meta = read_metadata(inputs.test)
    result = read_result(inputs.result, input_names(int(meta["dim"])))
    verdict: dict[str, Any] = {"cell": result["cell"], "settings": asdict(spec), "symbolic_status": result["status"]}
    if result["status"] not in JUDGED_STATUSES:  # no front; without a law still no_law, the mark of such a system
        law = has_law(meta)
        verdict["outcome"] = {reading: NO_RESULT if law else NO_LAW for reading in READINGS}
        verdict["reason"] = "; ".join(c.get("message", "") for c in result["components"] if c["status"] != "ok")
        verdict |= {} if law else {"components": []}
        write_json(out_path, verdict)
        return
    if not result["components"]:  # rule judge_rest of a cell whose φe carries no component beyond Table 5's
        write_json(out_path, verdict | {"components": []})
        return
    model, record = load_model(inputs.model)
    test = read_split(inputs.test)
    sample = read_messages(inputs.messages)[1]["sample"]
    r_in = float(np.quantile(_edge_distances(test.x, test.dim), 0.99))
    r_max = spec.range_factor * r_in
    rng = np.random.default_rng(spec.seed)
    pairs = fresh_pairs(test.x, spec.edges, rng)
    heldout = heldout_graphs(test, sample_graphs(len(test.x), sample["graphs"], sample["seed"]), spec.edges, rng)
    judged_edges = energy_edges if record["model"].message_kind == "energy" else force_edges
    values, held, probe = judged_edges(model, test, heldout, pairs, rng, r_max, result["inputs"], spec)
    front = read_front(inputs.front, result["inputs"], result)
    if held.laws is None:
        verdict.update(message=record["model"].message_kind, heldout_edges=len(values))
        verdict.update(unjudged(front, values, held, result["components"]))
        write_json(out_path, verdict)
        return
    components = []
    for entry in result["components"]:
        k = int(entry["component"][1:])
        verdict_k = judge_component(front[front["component"] == entry["component"]], values[:, k], held, probe, spec)
        components.append({"component": entry["component"], **verdict_k})
    verdict.update(
        message=record["model"].message_kind,
        readings={reading: list(bases) for reading, bases in held.laws.readings.items()},
        probe_edges=len(pairs),
        probe_r_range=[spec.r_min, r_max],
        r_train_p99=r_in,
        heldout_graphs=len(heldout),
        heldout_edges=len(values),
        components=components,
        outcome={reading: worst([c["outcome"][reading] for c in components]) for reading in READINGS},
        law_r2={
            reading: min(max(c["ceiling_r2"][b] for b in bases) for c in components)
            for reading, bases in held.laws.readings.items()
        },
    )
    write_json(out_path, verdict)


JudgedEdges = tuple[np.ndarray, Domain, Domain]  # messages on the held-out edges, the held-out and probe domains


def force_edges(
    model: torch.nn.Module,
    test: Split,
    heldout: np.ndarray,
    pairs: np.ndarray,
    rng: np.random.Generator,
    r_max: float,
    names: list[str],
    spec: JudgeSpec,
) -> JudgedEdges:
    sim, dim, n, law = test.metadata["sim"], test.dim, test.n, has_law(test.metadata)
    frame = graph_edges(test, heldout)
    frame = frame[frame["r"].to_numpy() >= spec.r_min].reset_index(drop=True)
    probe = place_senders(pairs, dim, rng, spec.r_min, r_max)
    return (
        edge_messages(model, frame, dim)[0],
        force_domain(sim, frame, dim, n, names, spec.receiver_bins, law),
        force_domain(sim, probe, dim, n, names, spec.receiver_bins, law),
    )


def energy_edges(
    model: torch.nn.Module,
    test: Split,
    heldout: np.ndarray,
    pairs: np.ndarray,
    rng: np.random.Generator,
    r_max: float,
    names: list[str],
    spec: JudgeSpec,
) -> JudgedEdges:
    """Energies are judged as differences: each held-out edge against the same pair in another snapshot,
    each probe pair at two distances."""
    sim, dim, n, law = test.metadata["sim"], test.dim, test.n, has_law(test.metadata)
    first, second = graph_edges(test, heldout), graph_edges(test, other_snapshots(test, heldout, rng))
    close = (first["r"].to_numpy() >= spec.r_min) & (second["r"].to_numpy() >= spec.r_min)
    first, second = first[close].reset_index(drop=True), second[close].reset_index(drop=True)
    messages = edge_messages(model, first, dim)[0] - edge_messages(model, second, dim)[0]
    probes = (place_senders(pairs, dim, rng, spec.r_min, r_max) for _ in range(2))
    probe = energy_domain(sim, *probes, dim, n, names, law)
    return messages, energy_domain(sim, first, second, dim, n, names, law), probe


def _edge_distances(x: np.ndarray, dim: int, graphs: int = 10_000) -> np.ndarray:
    pos = x[:graphs, :, :dim].astype(np.float64)
    diff = pos[:, :, None] - pos[:, None]
    r = np.linalg.norm(diff, axis=-1)
    return r[:, ~np.eye(x.shape[1], dtype=bool)].ravel()
