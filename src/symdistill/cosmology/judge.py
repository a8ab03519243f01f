"""The judge of a planted law: where the catalogue is synthetic, its δ was planted with a known law, and the
distillation is judged as the n-body judge judges a force law (``symdistill.nbody.judge``).

A φe member passes when (a) it is an affine map of the planted φe on probe edges (masses from the catalogue,
distances uniform up to the radius) with R² ≥ ``truth_r2``, and (b) it fits the network's messages on held-out
edges within ``fit_margin`` of the R² the planted φe reaches. A φv member passes when (a) it is affine in
s/(C2 + C3 M̃_i) on probe halos (s spanning the training halos' range) and (b) it fits the network's δ̂ on
held-out training halos within the same margin. Outcomes are the judge's (strict, on_front, partial, fail); the
distillation's is the worse of φe's and φv's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.expressions import evaluate
from symdistill.core.fits import finite_or_none, r2_affine
from symdistill.core.specs import Spec
from symdistill.core.vocabulary import NO_RESULT, VERDICTS
from symdistill.cosmology.catalogue import EDGE_INPUTS, NODE_INPUTS, HaloUnits, PlantedLaw
from symdistill.cosmology.messages import NODE_TARGET


@dataclass(frozen=True)
class HaloJudgeSpec(Spec):
    """Config ``cosmology.judge``."""

    probes: int  # probe edges and probe halos
    truth_r2: float
    fit_margin: float
    seed: int


def planted_law(meta: dict[str, Any]) -> PlantedLaw | None:
    """The law a synthetic catalogue's δ was planted with; None for any other catalogue."""
    if meta.get("source") != "synthetic":
        return None
    return PlantedLaw(**meta["spec"]["law"])


def member_verdicts(
    front: pd.DataFrame,
    names: list[str],
    probe: pd.DataFrame,
    truth_probe: np.ndarray,
    held: pd.DataFrame,
    target: np.ndarray,
    truth_held: np.ndarray,
    spec: HaloJudgeSpec,
) -> dict[str, Any]:
    """(a) and (b) for every member of one search's front, and the outcome (``no_result`` for no front). An R² of a
    member that does not evaluate to finite values is recorded as null, and fails."""
    ceiling = r2_affine(target, truth_held[:, None])
    members = []
    for row in front.itertuples():
        affine = r2_affine(evaluate(row.sympy, names, probe), truth_probe[:, None])
        fit = r2_affine(target, evaluate(row.sympy, names, held)[:, None])
        members.append(
            {
                "complexity": int(row.complexity),
                "sympy": row.sympy,
                "selected": bool(row.selected),
                "truth_r2": finite_or_none(affine),
                "fit_r2": finite_or_none(fit),
                "affine": affine >= spec.truth_r2,
                "passes": affine >= spec.truth_r2 and fit >= ceiling - spec.fit_margin,
            }
        )
    return {"outcome": outcome(members), "ceiling_r2": finite_or_none(ceiling), "members": members}


def outcome(members: list[dict[str, Any]]) -> str:
    if not members:
        return NO_RESULT
    if any(m["selected"] and m["passes"] for m in members):
        return "strict"
    if any(m["passes"] for m in members):
        return "on_front"
    return "partial" if any(m["affine"] for m in members) else "fail"


def probe_edges(
    rng: np.random.Generator, nodes: pd.DataFrame, edges: pd.DataFrame, radius: float, units: HaloUnits, count: int
) -> pd.DataFrame:
    """``count`` probe edges: masses and speeds drawn from the catalogue's, distances uniform up to the radius."""
    masses = nodes["m"].to_numpy()
    return pd.DataFrame(
        {
            "m1": rng.choice(masses, count),
            "m2": rng.choice(masses, count),
            "r": rng.uniform(0.0, radius, count) / units.length,
            "dv": rng.choice(edges["dv"].to_numpy(), count),
        }
    )


def probe_halos(
    rng: np.random.Generator, nodes: pd.DataFrame, training: pd.DataFrame, summed: dict[str, str], count: int
) -> pd.DataFrame:
    """``count`` probe halos: mass and speed drawn from the catalogue's, each sum uniform over the training halos'."""
    probes = pd.DataFrame(
        {"m": rng.choice(nodes["m"].to_numpy(), count), "v": rng.choice(nodes["v"].to_numpy(), count)}
    )
    for s in summed:
        low, high = training[s].min(), training[s].max()
        probes[s] = rng.uniform(low, high, count)
    return probes


def edge_truth(law: PlantedLaw, units: HaloUnits, frame: pd.DataFrame) -> np.ndarray:
    """The planted φe on the edges of ``frame``."""
    return law.message(frame["m2"].to_numpy() * units.mass, frame["r"].to_numpy() * units.length)


def node_truth(law: PlantedLaw, units: HaloUnits, summed: dict[str, str], frame: pd.DataFrame) -> np.ndarray:
    """What the planted φv is affine in, e_i / (C2 + C3 M̃_i), on the halos of ``frame`` (e_i: the first sum's)."""
    first = next(iter(summed))
    return frame[first].to_numpy() / (law.C2 + law.C3 * frame["m"].to_numpy() * units.mass / law.mass_scale)


def judge_planted(
    law: PlantedLaw,
    units: HaloUnits,
    front: pd.DataFrame,
    edges: pd.DataFrame,
    nodes: pd.DataFrame,
    summed: dict[str, str],
    radius: float,
    spec: HaloJudgeSpec,
) -> dict[str, Any]:
    """The distillation against the planted law: φe's members per summed component, φv's members, the outcome."""
    rng = np.random.default_rng(spec.seed)  # one generator: the probe edges are drawn first, then the probe halos
    edge_probes = probe_edges(rng, nodes, edges, radius, units, spec.probes)
    held_edges = edges[~edges["fit"]]
    verdicts = {
        component: member_verdicts(
            front[front["component"] == component],
            list(EDGE_INPUTS),
            edge_probes,
            edge_truth(law, units, edge_probes),
            held_edges,
            held_edges[component].to_numpy(),
            edge_truth(law, units, held_edges),
            spec,
        )
        for component in summed.values()
    }
    training = nodes[nodes["train"]]
    node_probes = probe_halos(rng, nodes, training, summed, spec.probes)
    held_nodes = training[~training["fit"]]
    verdicts[NODE_TARGET] = member_verdicts(
        front[front["component"] == NODE_TARGET],
        [*summed, *NODE_INPUTS],
        node_probes,
        node_truth(law, units, summed, node_probes),
        held_nodes,
        held_nodes[NODE_TARGET].to_numpy(),
        node_truth(law, units, summed, held_nodes),
        spec,
    )
    return {"outcome": max((v["outcome"] for v in verdicts.values()), key=VERDICTS.index), "parts": verdicts}
