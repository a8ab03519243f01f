"""Table 1's metric: how linearly the most significant messages encode the true force.

The notebook standardises each of the top-``dim`` message components, fits it as a linear combination of
the true force components plus an offset, and minimises the squared residuals over the best 90 % of edges
(Powell on a trimmed sum); R² = 1 − that trimmed mean squared residual. Each component has its own
coefficients, so the fits are independent; here each is solved exactly by least trimmed squares
(concentration steps: fit, keep the best 90 %, refit, until the kept set stops changing), which lowers
the same objective at every step instead of searching it with Powell.

Messages may encode the force divided by the receiver's mass (φv can undo any function of the receiver),
so the fit is also reported against the acceleration basis F/m₁.

FlatHGN's message is the pair energy, which the dynamics determine only up to a scale and an additive
function f of the non-dynamical features: it is fitted, in the same trimmed way, against the pair
potential U plus [q1, q2, q1q2, m1, m2, m1m2], a first-order stand-in for f (exact in the ±1 charges).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.fits import AffineFit, affine_fit
from symdistill.core.io import InputError, write_json
from symdistill.core.names import recorded_message_kind
from symdistill.nbody.data import AXES
from symdistill.nbody.messages import read_messages

MAX_STEPS = 100
CONSTANT = 1e-9  # relative spread below which a message component counts as constant


def least_trimmed_squares(basis: np.ndarray, target: np.ndarray, keep: float) -> tuple[AffineFit, np.ndarray]:
    """The affine fit of ``target`` on ``basis`` (edges, d) that minimises the squared residuals of its best
    ``keep`` fraction of edges, and which edges those are (concentration steps)."""
    kept = np.ones(len(target), dtype=bool)
    for _ in range(MAX_STEPS):
        fit = affine_fit(basis[kept], target[kept])
        residual = (fit(basis) - target) ** 2
        now = residual <= np.quantile(residual, keep)
        if np.array_equal(now, kept):
            break
        kept = now
    return fit, kept


def trimmed_r2(target: np.ndarray, basis: np.ndarray, keep: float) -> float:
    """R² of the best trimmed affine fit of the standardised ``target`` on ``basis`` (edges, d).

    A constant component (a collapsed KL message) carries no information about the force: R² 0, not 0/0.
    """
    spread = target.std()
    if spread <= CONSTANT * max(1.0, np.abs(target).max()):
        return 0.0
    z = (target - target.mean()) / spread
    fit, kept = least_trimmed_squares(basis, z, keep)
    residual = (fit(basis) - z) ** 2
    return float(1.0 - residual[kept].mean())


def force_bases(frame: pd.DataFrame, dim: int) -> dict[str, np.ndarray]:
    force = frame[[f"f{a}" for a in AXES[:dim]]].to_numpy()
    return {"force": force, "acceleration": force / frame[["m1"]].to_numpy()}


def potential_basis(frame: pd.DataFrame) -> np.ndarray:
    """U and the first-order terms of an additive f(q, m), which leaves Hamilton's equations unchanged."""
    q1, q2, m1, m2 = (frame[c].to_numpy() for c in ("q1", "q2", "m1", "m2"))
    return np.column_stack([frame["u"].to_numpy(), q1, q2, q1 * q2, m1, m2, m1 * m2])


def fit_bases(frame: pd.DataFrame, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """What the messages are fitted against: force and acceleration, or for an energy message the potential."""
    if recorded_message_kind(meta) == "energy":
        return {"potential": potential_basis(frame)}
    return force_bases(frame, meta["system"]["dim"])


def top_components(meta: dict[str, Any]) -> list[str]:
    """The messages Table 1 scores: the ``dim`` most significant (one, the pair energy, for FlatHGN)."""
    return meta["ranked_components"][: meta["system"]["dim"] if recorded_message_kind(meta) == "force" else 1]


def force_fit(frame: pd.DataFrame, meta: dict[str, Any], keep: float) -> dict[str, Any]:
    components = top_components(meta)
    result: dict[str, Any] = {
        "cell": meta["cell"],
        "message": recorded_message_kind(meta),
        "components": components,
        "keep_fraction": keep,
        "edges": len(frame),
    }
    for name, basis in fit_bases(frame, meta).items():
        per_component = [trimmed_r2(frame[c].to_numpy(), basis, keep) for c in components]
        result[name] = {"r2": per_component, "r2_mean": float(np.mean(per_component))}
    return result


def fit_forces(messages_path: str | Path, out_path: str | Path, keep: float) -> None:
    """Rule ``forcefit``: Table 1's R² for one cell, against the force and the acceleration basis (or the potential)."""
    frame, meta = read_messages(messages_path)
    if meta.get("law", True) is False:
        raise InputError(
            f"{messages_path}: the message table of a system without a law (given as data without law:) has no "
            "true force to fit: Table 1 leaves its cells out, and no rule builds their force fit"
        )
    write_json(out_path, force_fit(frame, meta, keep))
