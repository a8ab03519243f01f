"""Symbolic regression of the most significant messages: one interface, two real backends.

- ``pyoperon`` (default; C++ Operon): NSGA-II over (R², length) with Levenberg–Marquardt constant fitting,
  a time budget, the rule's threads and a fixed seed.
- ``pysr`` (optional extra; needs Julia): PySR with the same operators and budget, imported only when chosen.

Both return a Pareto front of SymPy expressions; everything after that is backend-independent: each member
is evaluated on the fitting sample, its loss (the paper: MAE) and the Occam score
−Δlog(loss)/Δcomplexity computed here, and one member selected — by the paper's rule (highest score) or
PySR's "best" (highest score among losses ≤ 1.5 × the minimum).

The search runs in a child Python process under a hard wall-clock limit, so a crash or a hang of the backend
becomes status ``error``/``timeout`` in result.json instead of a missing file: the tables still build.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
import sympy

from symdistill.data import AXES
from symdistill.io import atomic_output, package_versions, write_json

log = logging.getLogger(__name__)

PYSR_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
UNARY = ("square", "exp", "log", "sqrt", "abs")


class BackendUnavailable(RuntimeError):
    """The chosen backend cannot run on this machine; the message says what to install or configure."""


@dataclass(frozen=True)
class SearchSpec:
    """The ``symbolic`` rule's params: backend, operators, budget and selection rule."""

    backend: str
    operators: tuple[str, ...]
    time_limit: float  # seconds of search per message component
    max_length: int
    population_size: int
    optimizer_iterations: int
    samples: int  # edges drawn from the message table (the paper: 5,000)
    r_min: float  # shorter edges are not fitted: there the softening and the network's saturation dominate
    components: int  # how many of the most significant components to fit (the paper: 1)
    selection: str  # "score": the paper's Occam rule; "best": PySR's
    loss: str  # "mae" (the paper) or "mse"
    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "operators", tuple(self.operators))


@dataclass(frozen=True)
class Candidate:
    complexity: int
    equation: str  # as the backend prints it
    sympy: str


def input_names(dim: int) -> list[str]:
    """The paper's inputs: Δx, Δy, (Δz), r, m1, m2, q1, q2."""
    return [*(f"d{a}" for a in AXES[:dim]), "r", "m1", "m2", "q1", "q2"]


def to_sympy(text: str, names: list[str]) -> sympy.Expr:
    return sympy.parse_expr(text.replace("^", "**"), local_dict={n: sympy.Symbol(n) for n in names})


def evaluate(expression: str, names: list[str], data: pd.DataFrame) -> np.ndarray:
    """An expression's values on the rows of ``data`` (float64; a constant broadcast to every row)."""
    expr = to_sympy(expression, names)
    function = sympy.lambdify([sympy.Symbol(n) for n in names], expr, modules="numpy")
    with np.errstate(all="ignore"):
        values = function(*(data[n].to_numpy(np.float64) for n in names))
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (len(data),)).copy()


# ---------------------------------------------------------------- backends


def run_pyoperon(x: np.ndarray, y: np.ndarray, names: list[str], spec: SearchSpec, threads: int) -> list[Candidate]:
    from pyoperon.sklearn import SymbolicRegressor

    regressor = SymbolicRegressor(
        allowed_symbols=",".join([*spec.operators, "constant", "variable"]),
        objectives=["r2", "length"],
        optimizer_iterations=spec.optimizer_iterations,
        max_length=spec.max_length,
        population_size=spec.population_size,
        generations=10**9,  # the time budget ends the search
        max_evaluations=10**12,
        max_time=max(1, int(spec.time_limit)),
        n_threads=threads,
        random_state=spec.seed,
    )
    regressor.fit(x, y)  # pyoperon refuses mixed precision: x and y are float64
    candidates = []
    for entry in sorted(regressor.pareto_front_, key=lambda e: e["length"]):
        text = regressor.get_model_string(entry["tree"], 8, names)
        candidates.append(Candidate(int(entry["length"]), text, str(to_sympy(text, names))))
    return candidates


def julia_available() -> bool:
    return bool(os.environ.get("PYTHON_JULIAPKG_EXE") or shutil.which("julia"))


def check_pysr() -> None:
    """Fail at once, before any search, when PySR or Julia is missing (importing pysr would try to download Julia)."""
    if importlib.util.find_spec("pysr") is None:
        raise BackendUnavailable(
            "symbolic.backend is 'pysr' but PySR is not installed: `pip install 'symdistill[pysr]'`, "
            "or set symbolic.backend: pyoperon"
        )
    if not julia_available():
        raise BackendUnavailable(
            "symbolic.backend is 'pysr' but no Julia was found (neither `julia` on PATH nor PYTHON_JULIAPKG_EXE): "
            "install Julia ≥ 1.10 (https://julialang.org/downloads/, or `module load julia` on a cluster) and run "
            "`python -c 'import pysr'` once to install its packages, or set symbolic.backend: pyoperon"
        )


def run_pysr(x: np.ndarray, y: np.ndarray, names: list[str], spec: SearchSpec, threads: int) -> list[Candidate]:
    check_pysr()
    from pysr import PySRRegressor

    regressor = PySRRegressor(
        binary_operators=[PYSR_OPERATORS[o] for o in spec.operators if o in PYSR_OPERATORS],
        unary_operators=[o for o in spec.operators if o in UNARY],
        maxsize=spec.max_length,
        population_size=spec.population_size,
        niterations=10**6,  # the time budget ends the search
        timeout_in_seconds=spec.time_limit,
        elementwise_loss="L1DistLoss()" if spec.loss == "mae" else "L2DistLoss()",
        random_state=spec.seed,
        procs=threads,
        progress=False,
        temp_equation_file=True,
    )
    regressor.fit(pd.DataFrame(x, columns=names), y)
    return [
        Candidate(int(row.complexity), str(row.equation), str(to_sympy(str(row.sympy_format), names)))
        for row in regressor.equations_.itertuples()
    ]


BACKENDS = {"pyoperon": run_pyoperon, "pysr": run_pysr}


def search(x: np.ndarray, y: np.ndarray, names: list[str], spec: SearchSpec, threads: int) -> tuple[str, list[Candidate], str]:
    """(status, front, message) of one search, run by a child Python killed after 2 × time_limit + 120 s."""
    limit = 2 * spec.time_limit + 120
    with tempfile.TemporaryDirectory(prefix="symdistill-sr-") as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", x)
        np.save(work / "y.npy", y)
        (work / "job.json").write_text(json.dumps({"names": names, "spec": asdict(spec), "threads": threads}))
        command = [sys.executable, "-m", "symdistill.symbolic", str(work)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return "timeout", [], f"no result after {limit:.0f} s (time_limit {spec.time_limit} s)"
        if done.returncode != 0:
            return "error", [], f"the {spec.backend} search failed (exit code {done.returncode}):\n{done.stderr[-3000:]}"
        front = json.loads((work / "front.json").read_text())
    return "ok", [Candidate(**c) for c in front], ""


def _worker(directory: str) -> None:
    """Entry point of the child process: one search, its front written as JSON beside its inputs."""
    work = Path(directory)
    job = json.loads((work / "job.json").read_text())
    spec = SearchSpec(**job["spec"])
    front = BACKENDS[spec.backend](np.load(work / "x.npy"), np.load(work / "y.npy"), job["names"], spec, job["threads"])
    (work / "front.json").write_text(json.dumps([asdict(c) for c in front]))


# ---------------------------------------------------------------- front and selection


def loss_of(pred: np.ndarray, target: np.ndarray, kind: str) -> float:
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
    Only floating-point constants move; integer exponents stay. An expression that does not evaluate to
    finite values, or that the refit does not improve, is kept as is.
    """
    expr = to_sympy(expression, names)
    constants = sorted(expr.atoms(sympy.Float), key=float)
    if not constants:
        return expression
    theta = sympy.symbols(f"theta0:{len(constants)}")
    function = sympy.lambdify([*map(sympy.Symbol, names), *theta], expr.xreplace(dict(zip(constants, theta))), "numpy")
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


def front_table(candidates: list[Candidate], names: list[str], sample: pd.DataFrame, target: np.ndarray,
                spec: SearchSpec) -> pd.DataFrame:
    """The front with constants refitted (``polish``), our loss, score and the selected member marked."""
    expressions = [polish(c.sympy, names, sample, target) for c in candidates]
    loss = np.array([loss_of(evaluate(e, names, sample), target, spec.loss) for e in expressions])
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


# ---------------------------------------------------------------- the rule


def fitting_sample(frame: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """``spec.samples`` random edges at least ``spec.r_min`` long.

    Why a shortest distance: a squared-error search (and Levenberg–Marquardt constants) on a 1/r² law is
    dominated by the rare close encounters, where the messages are largest and the network — trained on few
    of them — saturates; the fronts then model the saturation, not the law. The paper's Eureqa fit MAE,
    which is robust to them. The judge's held-out edges start at the same distance.
    """
    candidates = np.flatnonzero(frame["r"].to_numpy() >= spec.r_min)
    if len(candidates) == 0:
        raise ValueError(f"no edge of the message table is at least symbolic.r_min = {spec.r_min} long")
    rows = np.random.default_rng(spec.seed).choice(candidates, size=min(spec.samples, len(candidates)), replace=False)
    return frame.iloc[np.sort(rows)].reset_index(drop=True)


def fit_symbolic(messages_path: str | Path, front_path: str | Path, result_path: str | Path, spec: SearchSpec,
                 threads: int = 1) -> None:
    """Rule ``symbolic``: fronts for the top ``components`` messages of one cell → front.parquet, result.json."""
    if spec.backend not in BACKENDS:
        raise BackendUnavailable(f"unknown symbolic.backend {spec.backend!r}; expected one of {', '.join(BACKENDS)}")
    if spec.backend == "pysr":
        check_pysr()
    from symdistill.messages import read_messages  # torch and JAX: kept out of every search's child process

    frame, meta = read_messages(messages_path)
    dim = meta["system"]["dim"]
    names = input_names(dim)
    sample = fitting_sample(frame, spec)
    x = sample[names].to_numpy(np.float64)
    fronts, results = [], []
    for component in meta["ranked_components"][: spec.components]:
        target = sample[component].to_numpy(np.float64)
        started = time.perf_counter()
        status, candidates, message = search(x, target, names, spec, threads)
        seconds = time.perf_counter() - started
        log.info("%s %s: %s after %.0f s, %d candidates", meta["cell"], component, status, seconds, len(candidates))
        entry: dict[str, Any] = {"component": component, "status": status, "seconds": seconds}
        if status == "ok" and candidates:
            front = front_table(candidates, names, sample, target, spec).assign(component=component)
            fronts.append(front)
            chosen = front[front["selected"]].iloc[0]
            entry["selected"] = {k: chosen[k].item() if hasattr(chosen[k], "item") else chosen[k]
                                 for k in ("complexity", "loss", "score", "equation", "sympy")}
            entry["front_size"] = len(front)
        else:
            entry["status"] = status if status != "ok" else "error"
            entry["message"] = message or "the search returned no candidates"
        results.append(entry)
    write_front(fronts, front_path)
    statuses = [r["status"] for r in results]
    write_json(
        result_path,
        {
            "cell": meta["cell"],
            "status": "ok" if all(s == "ok" for s in statuses) else next(s for s in statuses if s != "ok"),
            "backend": spec.backend,
            "settings": asdict(spec),
            "seed": spec.seed,
            "threads": threads,
            "inputs": names,
            "samples": len(sample),
            "wall_seconds": sum(r["seconds"] for r in results),
            "components": results,
            "package_versions": package_versions(("symdistill", "pyoperon", "pysr", "sympy", "numpy")),
        },
    )


FRONT_COLUMNS = ["component", "complexity", "loss", "score", "selected", "equation", "sympy"]


def write_front(fronts: list[pd.DataFrame], path: str | Path) -> None:
    frame = pd.concat(fronts, ignore_index=True)[FRONT_COLUMNS] if fronts else pd.DataFrame(
        {c: pd.Series(dtype=t) for c, t in zip(FRONT_COLUMNS, ["str", "int64", "float64", "float64", "bool", "str", "str"], strict=True)}
    )
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)


if __name__ == "__main__":
    _worker(sys.argv[1])
