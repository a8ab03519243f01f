"""The symbolic search's settings that must be known before any job runs: its budget and its backend.

A count of work ends every search; the clock only guards against a runaway.

A search stopped by the clock searches as much as the machine's speed and load allow, so a rerun of one cell
(or the same cell on a cluster node with more threads) returns another Pareto front and can flip a Table 5
entry. A search stopped after a fixed number of generations, from a fixed seed, returns the same front on
every rerun and for any number of threads (tests/test_symbolic.py checks both). The paper made the same
choice for Table 5: PySR "allows us to configure a controlled experiment with fixed hyperparameters and
total mutation steps for each force law".

The chosen backend is checked when the config is validated (``check_backend``): PySR without PySR or Julia
would otherwise fail in every symbolic job, hours into a run, after simulation and training.

Light on purpose (no NumPy): the Snakefile imports it to size the cluster job of a search.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass

from symdistill.core.specs import Spec

BACKENDS = ("pyoperon", "pysr")

STARTUP_SECONDS = 120  # a search's child process: start-up, data, the backend's own set-up


@dataclass(frozen=True)
class SearchBudget(Spec):
    """Config ``symbolic.budget``, read by both backends."""

    generations: int  # the stopping rule: pyoperon generations, PySR niterations
    time_limit: float  # seconds per component: a safety ceiling; a search that reaches it is marked "timeout"

    def __post_init__(self) -> None:
        if self.generations < 1 or self.time_limit <= 0:
            raise ValueError(f"a search budget needs generations ≥ 1 and time_limit > 0, got {self}")

    @property
    def hard_limit(self) -> float:
        """Seconds after which the search's child process is killed: the backend ignored its own ceiling."""
        return 2 * self.time_limit + STARTUP_SECONDS

    def cluster_minutes(self, components: int) -> int:
        """Runtime of a ``symbolic`` cluster job: every component's hard limit, plus the front's evaluation."""
        return int(components * self.hard_limit / 60) + 10


class BackendUnavailable(RuntimeError):
    """The chosen backend cannot run on this machine; the message says what to install or configure."""


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


def check_backend(backend: str) -> None:
    """Raise BackendUnavailable unless ``backend`` can run here."""
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown symbolic.backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "pysr":
        check_pysr()
    elif importlib.util.find_spec("pyoperon") is None:
        raise BackendUnavailable("symbolic.backend is 'pyoperon' but pyoperon is not installed: `pip install pyoperon`")
