"""From a search's candidates to its front: every member evaluated on the fitting sample, its loss and
Occam score computed here, one member selected.

Everything after the backend is backend-independent: each member's constants are refitted (``polish``), its loss
(the paper: MAE) and the Occam score −Δlog(loss)/Δcomplexity computed, and one member selected — by the paper's
rule (highest score) or PySR's "best" (highest score among losses ≤ 1.5 × the minimum).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.optimize
import sympy

from symdistill.core.expressions import evaluate, to_sympy
from symdistill.engine.search import Candidate, Search, SearchSpec, search

log = logging.getLogger(__name__)


def fit_loss(pred: np.ndarray, target: np.ndarray, kind: str) -> float:
    """A front member's loss on the fitting sample, by which the front is ranked and scored: ``kind`` "mae" (the
    paper's) or "mse"; inf where the member does not evaluate to finite values, so that it ranks last."""
    err = pred - target
    value = float(np.mean(np.abs(err)) if kind == "mae" else np.mean(err**2))
    return value if np.isfinite(value) else np.inf


def pareto_front(complexity: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices of the members that are better than every simpler one, in increasing complexity."""
    keep, best = [], np.inf
    for i in np.lexsort((loss, complexity)):
        if loss[i] < best:
            keep.append(i)
            best = loss[i]
    return np.array(keep, dtype=int)


def occam_scores(complexity: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """score_i = −[log loss_i − log loss_{i−1}] / (c_i − c_{i−1}) along a front; the simplest member scores 0."""
    scores = np.zeros(len(loss))
    with np.errstate(divide="ignore"):
        log_loss = np.log(loss)
    scores[1:] = -np.diff(log_loss) / np.diff(complexity)
    return scores


def select(loss: np.ndarray, scores: np.ndarray, rule: str) -> int:
    """The paper's rule ("score": the highest score) or PySR's "best" (the same among loss ≤ 1.5 × min)."""
    if rule == "score":
        return int(np.argmax(scores))
    if rule == "best":
        return int(np.argmax(np.where(loss <= 1.5 * loss.min(), scores, -np.inf)))
    raise ValueError(f"unknown selection rule {rule!r}; expected score or best")


def polish(expression: str, names: list[str], sample: pd.DataFrame, target: np.ndarray) -> str:
    """``expression`` with its constants refitted by least squares on the sample, to convergence.

    The search fits constants with a few Levenberg–Marquardt steps per evaluation (``optimizer_iterations``;
    the demo preset uses 3, which buys generations): enough to rank forms, not necessarily to report them.
    Only the multiplicative and additive constants move (``free_constants``): an exponent is part of the form,
    so a member with r^-1.68 keeps it and the search, not the polisher, decides whether the law was found. An
    expression that does not evaluate to finite values, or that the refit does not improve, is kept as is.
    """
    expr = to_sympy(expression, names)
    constants = free_constants(expr)
    if not constants:
        return expression
    theta = sympy.symbols(f"theta0:{len(constants)}")
    free = expr.xreplace(dict(zip(constants, theta, strict=True)))
    function = sympy.lambdify([*map(sympy.Symbol, names), *theta], free, "numpy")
    columns = [sample[n].to_numpy(np.float64) for n in names]

    def residual(values: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.broadcast_to(np.asarray(function(*columns, *values), dtype=np.float64), target.shape) - target

    start = np.array([float(c) for c in constants])
    before = residual(start)
    if not np.all(np.isfinite(before)):
        return expression
    try:
        fit = scipy.optimize.least_squares(residual, start, max_nfev=50 * (len(start) + 1))
    except ValueError:  # a step left the expression's domain (inf or NaN residuals)
        return expression
    if not (np.all(np.isfinite(fit.fun)) and np.sum(fit.fun**2) < np.sum(before**2)):
        return expression
    return str(expr.xreplace({c: sympy.Float(v, 10) for c, v in zip(constants, fit.x, strict=True)}))


def free_constants(expr: sympy.Expr) -> list[sympy.Float]:
    """The floats of ``expr`` that polishing may refit: all but those inside an exponent."""
    exponents = set().union(*(power.exp.atoms(sympy.Float) for power in expr.atoms(sympy.Pow)))
    return sorted(expr.atoms(sympy.Float) - exponents, key=float)


def front_table(
    candidates: list[Candidate], names: list[str], sample: pd.DataFrame, target: np.ndarray, spec: SearchSpec
) -> pd.DataFrame:
    """The front with constants refitted (``polish``), our loss, score and the selected member marked."""
    expressions = [polish(c.sympy, names, sample, target) for c in candidates]
    loss = np.array([fit_loss(evaluate(e, names, sample), target, spec.loss) for e in expressions])
    complexity = np.array([c.complexity for c in candidates])
    keep = pareto_front(complexity, loss)
    frame = pd.DataFrame(
        {
            "complexity": complexity[keep],
            "loss": loss[keep],
            "equation": [candidates[i].equation for i in keep],
            "sympy": [expressions[i] for i in keep],
        }
    )
    frame["score"] = occam_scores(frame["complexity"].to_numpy(), frame["loss"].to_numpy())
    frame["selected"] = False
    frame.loc[select(frame["loss"].to_numpy(), frame["score"].to_numpy(), spec.selection), "selected"] = True
    return frame


def sample_rows(frame: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """``spec.samples`` seeded rows of ``frame`` (all, if fewer), in their original order."""
    rows = np.random.default_rng(spec.seed).choice(len(frame), size=min(spec.samples, len(frame)), replace=False)
    return frame.iloc[np.sort(rows)].reset_index(drop=True)


@dataclass(frozen=True)
class ComponentFit:
    """One message component's search and what became of it."""

    component: str
    search: Search
    front: pd.DataFrame | None  # the front table (``front_table``); None where the search gave no front
    seconds: float  # the search's wall time


def fit_component(
    sample: pd.DataFrame, names: list[str], component: str, spec: SearchSpec, threads: int, cell: str
) -> ComponentFit:
    """Search one component on the fitting sample and, if the search gave candidates, build its front table."""
    target = sample[component].to_numpy(np.float64)
    started = time.perf_counter()
    found = search(sample[names].to_numpy(np.float64), target, names, spec, threads)
    seconds = time.perf_counter() - started
    log.info(
        "%s %s: %s after %.0f s, %s generations, %d candidates",
        cell,
        component,
        found.status,
        seconds,
        found.generations,
        len(found.candidates),
    )
    front = None
    if found.status != "error" and found.candidates:
        front = front_table(list(found.candidates), names, sample, target, spec).assign(component=component)
    return ComponentFit(component, found, front, seconds)
