"""One symbolic search: its settings, the two backends, and the child process it runs in.

- ``pyoperon`` (default; C++ Operon): NSGA-II over (R², length) with Levenberg–Marquardt constant fitting,
  ``budget.generations`` generations, the rule's threads and a fixed seed.
- ``pysr`` (optional extra; needs Julia): PySR with the same operators and budget (``niterations``) in its
  deterministic mode, imported only when chosen.

Both stop after a count of work, never on the clock (``symdistill.engine.budget``): the same inputs and settings
give the same front on every rerun and for any thread count. ``budget.time_limit`` is only a ceiling; a search that
reaches it is marked ``timeout`` and its front so far is kept and judged.

The search runs in a child Python process (``python -m symdistill.engine.search DIR``) killed at
``budget.hard_limit``, so a crash or a hang of the backend becomes status ``error`` in result.json instead of a
missing file: the tables still build. The child imports this module alone (SymPy, NumPy and the backend): never
PyTorch or JAX.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from symdistill.core.expressions import to_sympy
from symdistill.core.specs import Spec
from symdistill.engine.budget import SearchBudget, check_pysr

PYSR_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
UNARY = ("square", "exp", "log", "sqrt", "abs")


@dataclass(frozen=True)
class SearchSpec(Spec):
    """The ``symbolic`` rule's params: backend, operators, budget and selection rule."""

    backend: str
    operators: tuple[str, ...]
    budget: SearchBudget  # when each component's search stops
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
        if isinstance(self.budget, Mapping):
            object.__setattr__(self, "budget", SearchBudget.from_params(self.budget, "symbolic.budget"))


@dataclass(frozen=True)
class Candidate:
    complexity: int
    equation: str  # as the backend prints it
    sympy: str


# ---------------------------------------------------------------- backends


@dataclass(frozen=True)
class Search:
    """One component's search: its status, its front and the work it did.

    ``status``: ``ok`` (the budget's generations ran), ``timeout`` (stopped at ``budget.time_limit``; the front so
    far is kept), ``error`` (no front: the backend failed, or hung past ``budget.hard_limit``).
    """

    status: str
    candidates: tuple[Candidate, ...]
    message: str = ""
    generations: int | None = None  # generations (PySR: iterations) run; None where the backend does not say
    evaluations: int | None = None  # fitness evaluations (pyoperon: residual evaluations of the objective)


def run_pyoperon(x: np.ndarray, y: np.ndarray, names: list[str], spec: SearchSpec, threads: int) -> Search:
    from pyoperon.sklearn import SymbolicRegressor

    regressor = SymbolicRegressor(
        allowed_symbols=",".join([*spec.operators, "constant", "variable"]),
        objectives=["r2", "length"],
        optimizer_iterations=spec.optimizer_iterations,
        max_length=spec.max_length,
        population_size=spec.population_size,
        generations=spec.budget.generations,
        max_evaluations=10**15,  # never binding: generations are the budget
        max_time=max(1, int(spec.budget.time_limit)),
        n_threads=threads,
        random_state=spec.seed,
    )
    regressor.fit(x, y)  # pyoperon refuses mixed precision: x and y are float64
    candidates = []
    for entry in sorted(regressor.pareto_front_, key=lambda e: e["length"]):
        text = regressor.get_model_string(entry["tree"], 8, names)
        candidates.append(Candidate(int(entry["length"]), text, str(to_sympy(text, names))))
    generations = int(regressor.stats_["generations"])
    status = "ok" if generations >= spec.budget.generations else "timeout"
    message = (
        "" if status == "ok" else f"stopped at time_limit {spec.budget.time_limit:g} s after {generations} generations"
    )
    return Search(status, tuple(candidates), message, generations, int(regressor.stats_["residual_evaluations"]))


def run_pysr(x: np.ndarray, y: np.ndarray, names: list[str], spec: SearchSpec, threads: int) -> Search:
    """PySR in its deterministic mode: serial, seeded, ``niterations`` = the budget's generations.

    ``deterministic=True`` requires ``parallelism="serial"``, so ``threads`` is not used: a reproducible PySR
    search costs about ``threads`` times the wall time of a multi-threaded one (docs/judging.md).
    """
    check_pysr()
    from pysr import PySRRegressor

    regressor = PySRRegressor(
        binary_operators=[PYSR_OPERATORS[o] for o in spec.operators if o in PYSR_OPERATORS],
        unary_operators=[o for o in spec.operators if o in UNARY],
        maxsize=spec.max_length,
        population_size=spec.population_size,
        niterations=spec.budget.generations,
        timeout_in_seconds=spec.budget.time_limit,
        elementwise_loss="L1DistLoss()" if spec.loss == "mae" else "L2DistLoss()",
        deterministic=True,
        parallelism="serial",
        random_state=spec.seed,
        progress=False,
        temp_equation_file=True,
    )
    started = time.perf_counter()
    regressor.fit(pd.DataFrame(x, columns=names), y)
    # PySR does not report the iterations it ran; reaching the ceiling is the only way it stops early.
    timed_out = time.perf_counter() - started >= spec.budget.time_limit
    candidates = tuple(
        Candidate(int(row.complexity), str(row.equation), str(to_sympy(str(row.equation), names)))
        for row in regressor.equations_.itertuples()
    )
    if timed_out:
        return Search("timeout", candidates, f"stopped at time_limit {spec.budget.time_limit:g} s")
    return Search("ok", candidates, "", spec.budget.generations)


BACKENDS: dict[str, Callable[..., Search]] = {"pyoperon": run_pyoperon, "pysr": run_pysr}


def search(x: np.ndarray, y: np.ndarray, names: list[str], spec: SearchSpec, threads: int) -> Search:
    """One search, in a child Python killed after ``spec.budget.hard_limit`` seconds."""
    limit = spec.budget.hard_limit
    with tempfile.TemporaryDirectory(prefix="symdistill-sr-") as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", x)
        np.save(work / "y.npy", y)
        (work / "job.json").write_text(json.dumps({"names": names, "spec": asdict(spec), "threads": threads}))
        command = [sys.executable, "-m", "symdistill.engine.search", str(work)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return Search(
                "error",
                (),
                f"killed after {limit:.0f} s: the {spec.backend} search ignored its "
                f"time_limit of {spec.budget.time_limit:g} s",
            )
        if done.returncode != 0:
            return Search(
                "error", (), f"the {spec.backend} search failed (exit code {done.returncode}):\n{done.stderr[-3000:]}"
            )
        found = json.loads((work / "search.json").read_text())
    return Search(**{**found, "candidates": tuple(Candidate(**c) for c in found["candidates"])})


def _worker(directory: str) -> None:
    """Entry point of the child process: one search, written as JSON beside its inputs."""
    work = Path(directory)
    job = json.loads((work / "job.json").read_text())
    spec = SearchSpec.from_params(job["spec"], "the search's job")
    found = BACKENDS[spec.backend](np.load(work / "x.npy"), np.load(work / "y.npy"), job["names"], spec, job["threads"])
    (work / "search.json").write_text(json.dumps(asdict(found)))


if __name__ == "__main__":
    _worker(sys.argv[1])
