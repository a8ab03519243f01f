"""Shared fixtures: the repository root and small, real simulation specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from symdistill.simulate import SimulationSpec

ROOT = Path(__file__).resolve().parents[1]
DT = {"r1": 5e-3, "r2": 1e-3, "spring": 1e-2, "damped": 2e-2, "charge": 1e-3, "superposition": 1e-3,
      "discontinuous": 1e-2, "string": 1e-2}


def small_spec(sim: str, dim: int = 2, n: int = 4, **overrides) -> SimulationSpec:
    values = dict(sim=sim, dim=dim, n=n, dt=DT[sim], nt=100, keep_every=5, train_sims=12, test_sims=4,
                  split="seed", seed=0, test_seed=1, time_test_fraction=0.25, rtol=1.4e-8, atol=1.4e-8, mxstep=2000)
    values.update(overrides)
    return SimulationSpec(**values)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
