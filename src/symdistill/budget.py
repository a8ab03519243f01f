"""The symbolic search's budget: a count of work ends every search; the clock only guards against a runaway.

A search stopped by the clock searches as much as the machine's speed and load allow, so a rerun of one cell
(or the same cell on a cluster node with more threads) returns another Pareto front and can flip a Table 5
entry. A search stopped after a fixed number of generations, from a fixed seed, returns the same front on
every rerun and for any number of threads (tests/test_symbolic.py checks both). The paper made the same
choice for Table 5: PySR "allows us to configure a controlled experiment with fixed hyperparameters and
total mutation steps for each force law".

Light on purpose (no NumPy): the Snakefile imports it to size the cluster job of a search.
"""

from __future__ import annotations

from dataclasses import dataclass

STARTUP_SECONDS = 120  # a search's child process: start-up, data, the backend's own set-up


@dataclass(frozen=True)
class SearchBudget:
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
