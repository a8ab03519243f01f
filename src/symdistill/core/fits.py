"""The one affine fit every comparison of a message (or a formula) with a law uses: Table 1, the judges, the figures.

Kept apart from the stages that use it, which import PyTorch and JAX, so that the light modules (the cosmology
experiment's formulas, read by the report) can use it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.optimize


@dataclass(frozen=True)
class AffineFit:
    """``target ≈ basis @ w + b``: every comparison of a message with a law (Table 1, the judge, the figures) is
    this one least-squares fit, so they agree on what "a linear map of the law" means."""

    coef: np.ndarray  # (d + 1,) or (d + 1, k): the weights w, then the offset b

    def __call__(self, basis: np.ndarray) -> np.ndarray:
        return with_offset(basis) @ self.coef


def with_offset(basis: np.ndarray) -> np.ndarray:
    """The design matrix [basis, 1] of an affine fit; ``basis`` is (edges,) or (edges, d)."""
    return np.column_stack([basis, np.ones(len(basis))])


def affine_fit(basis: np.ndarray, target: np.ndarray) -> AffineFit:
    coef, *_ = np.linalg.lstsq(with_offset(basis), target, rcond=None)
    return AffineFit(coef)


def r2_affine(target: np.ndarray, basis: np.ndarray, groups: np.ndarray | None = None) -> float:
    """R² of the least-squares affine fit of ``target`` on ``basis``, separately within each group."""
    if not (np.all(np.isfinite(target)) and np.all(np.isfinite(basis))):
        return -np.inf
    total = np.sum((target - target.mean()) ** 2)
    if total == 0:
        return 0.0
    groups = np.zeros(len(target), dtype=int) if groups is None else groups
    residual = 0.0
    for g in np.unique(groups):
        rows = groups == g
        fit = affine_fit(basis[rows], target[rows])
        residual += np.sum((fit(basis[rows]) - target[rows]) ** 2)
    return float(1 - residual / total)


def finite_or_none(value: float) -> float | None:
    """An R² as a JSON file records it: ``r2_affine``'s −inf (a formula not finite on every edge) becomes null,
    which JSON can hold and which no threshold passes."""
    return float(value) if np.isfinite(value) else None


NOT_FINITE = 1e6  # the residual a refit sees where a formula leaves the numbers (a power of a negative sum…)


def refit_constants(
    residual: Callable[[np.ndarray], np.ndarray], start: np.ndarray, iterations: int, f_scale: float
) -> np.ndarray:
    """Constants minimising the soft-L1 loss of ``residual(constants)`` from ``start`` (at most ``iterations``
    evaluations besides the Jacobian's): the refit of a composed formula to the data, which the searches fitted
    part by part to a network. ``start`` itself where the fit leaves the formula's domain or does not lower the
    mean absolute residual."""
    start = np.asarray(start, dtype=np.float64)

    def finite(c: np.ndarray) -> np.ndarray:
        out = residual(c)
        return np.where(np.isfinite(out), out, NOT_FINITE)

    before = float(np.mean(np.abs(finite(start))))
    try:
        fit = scipy.optimize.least_squares(
            finite, start, loss="soft_l1", f_scale=f_scale, max_nfev=iterations, x_scale="jac"
        )
    except ValueError:  # the fit left the formula's domain
        return start
    return fit.x if float(np.mean(np.abs(fit.fun))) < before else start
