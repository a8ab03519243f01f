"""The batched adaptive integrator against the reference's odeint, energy conservation, initial conditions."""

from __future__ import annotations

import logging
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import small_spec
from jax.experimental.ode import odeint

from symdistill.nbody import simulate as simulate_module
from symdistill.nbody.data import SplitFiles
from symdistill.nbody.simulate import initial_state, simulate, simulate_dataset, simulation_keys
from symdistill.nbody.systems import acceleration, total_potential

CONSERVATIVE = ["r1", "r2", "spring", "charge", "superposition", "string"]


def _energy(sim: str, states: np.ndarray, dim: int) -> np.ndarray:
    """Total energy per (sim, step) of states (sims, steps, n, f)."""
    with jax.enable_x64(True):
        nodes = jnp.asarray(states).transpose(2, 3, 0, 1)
        kinetic = 0.5 * jnp.sum(nodes[:, -1] * jnp.sum(nodes[:, dim : 2 * dim] ** 2, axis=1), axis=0)
        return np.asarray(total_potential(sim, nodes, dim) + kinetic)


def _odeint_reference(spec, keys) -> np.ndarray:
    """The reference's integrator, one simulation at a time, in float64 at the same tolerances."""
    sim, dim, n = spec.sim, spec.dim, spec.n

    def rhs(y, t):
        accel = acceleration(sim, y[:, :, None], dim)[..., 0]
        return jnp.concatenate([y[:, dim : 2 * dim], accel, jnp.zeros((n, 2))], axis=1)

    with jax.enable_x64(True):
        times = jnp.linspace(0.0, spec.dt * spec.nt, spec.nt, dtype=jnp.float64)
        run = jax.jit(
            lambda k: odeint(
                rhs,
                initial_state(sim, k, n, dim).astype(jnp.float64),
                times,
                rtol=spec.rtol,
                atol=spec.atol,
                mxstep=100_000,
            )
        )
        return np.stack([np.asarray(run(k))[:: spec.keep_every] for k in keys])


@pytest.mark.parametrize(
    ("sim", "dim", "tolerance"), [("spring", 2, 1e-5), ("r2", 2, 1e-5), ("charge", 3, 1e-5), ("discontinuous", 2, 1e-2)]
)
def test_agrees_with_reference_odeint(sim: str, dim: int, tolerance: float) -> None:
    """Same method and tolerances; only the step sequence differs (ours lands exactly on each snapshot)."""
    spec = small_spec(sim, dim, nt=300)
    keys = simulation_keys(0, 6)
    ours, _ = simulate(spec, keys)
    ref = _odeint_reference(spec, keys)
    scale = np.abs(ref[..., : 2 * dim]).max(axis=(1, 2, 3), keepdims=True)
    assert (np.abs(ours - ref) / scale).max() < tolerance


@pytest.mark.parametrize("sim", CONSERVATIVE)
def test_energy_is_conserved(sim: str) -> None:
    """Stated tolerance: relative drift < 1e-6 for the median simulation and < 1e-3 for the worst of 40."""
    n = 8 if sim == "string" else 4
    spec = small_spec(sim, 2, n, nt=500)
    states, _ = simulate(spec, simulation_keys(0, 40))
    energy = _energy(sim, states, 2)
    drift = np.abs(energy - energy[:, :1]).max(axis=1) / np.maximum(np.abs(energy[:, 0]), 1e-2)
    assert np.median(drift) < 1e-6
    assert drift.max() < 1e-3


def test_damped_loses_energy() -> None:
    states, _ = simulate(small_spec("damped", nt=300), simulation_keys(0, 10))
    energy = _energy("spring", states, 2)  # the same spring potential without the drag term
    assert (energy[:, -1] < energy[:, 0]).all()


def test_deterministic_per_seed_and_independent_of_chunking() -> None:
    spec = small_spec("r1")
    keys = simulation_keys(7, 6)
    a, acc_a = simulate(spec, keys)
    b, _ = simulate(spec, keys)
    c, _ = simulate(spec, keys[3:], width=6)  # padded to another batch width
    d, _ = simulate(spec, simulation_keys(8, 6))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[3:], c, rtol=1e-12, atol=1e-12)
    assert not np.allclose(a, d)
    assert acc_a.shape == (6, 20, 4, 2)


def test_initial_conditions_follow_the_reference() -> None:
    with jax.enable_x64(True):
        keys = simulation_keys(0, 200)
        charge = np.asarray(jax.vmap(lambda k: initial_state("charge", k, 4, 2))(keys))
        spring = np.asarray(jax.vmap(lambda k: initial_state("spring", k, 4, 3))(keys))
        string = np.asarray(initial_state("string", keys[0], 6, 2))
    assert set(np.unique(charge[..., -2])) == {-1.0, 1.0}
    log_m = np.log(spring[..., -1])
    assert abs(log_m.mean()) < 0.1 and abs(log_m.std() - 1) < 0.1  # lognormal(0, 1) masses
    assert abs(spring[..., -2].std() - 1) < 0.1  # the unused N(0, 1) "charge" of non-charge systems
    np.testing.assert_array_equal(string[:, -1], 1.0)
    np.testing.assert_array_equal(string[:, 2], 0.0)
    assert np.all(np.abs(string[:, 0] - np.arange(6)) < 2.5)


def _reference_initial_state(sim: str, key: jax.Array, n: int, dim: int) -> jax.Array:
    """make_sim's first lines in the reference's simulate.py (fca7af7 onwards), JAX's default float32 included."""
    total_dim = dim * 2 + 2
    x0 = jax.random.normal(key, (n, total_dim))
    x0 = x0.at[..., -1].set(jnp.exp(x0[..., -1]))  # all masses set to positive
    if sim in ["charge", "superposition"]:
        x0 = x0.at[..., -2].set(jnp.sign(x0[..., -2]))  # charge is 1 or -1
    return x0


@pytest.mark.parametrize(("sim", "dim"), [("spring", 2), ("charge", 3), ("r2", 2)])
def test_the_same_key_gives_the_reference_initial_states(sim: str, dim: int) -> None:
    """A user can rebuild the reference's datasets key for key: our first snapshot is its float32 draw, exactly
    (drawn in float64 they differed by up to 6.4)."""
    spec = small_spec(sim, dim, nt=20)
    keys = simulation_keys(3, 5)
    ours, _ = simulate(spec, keys)
    theirs = jax.jit(jax.vmap(lambda k: _reference_initial_state(sim, k, spec.n, dim)), backend="cpu")(keys)
    assert theirs.dtype == jnp.float32
    np.testing.assert_array_equal(ours[:, 0], np.asarray(theirs, dtype=np.float64))


def test_snapshots_sit_on_the_reference_time_grid() -> None:
    spec = small_spec("spring", nt=100, keep_every=5)
    assert spec.interval == pytest.approx(0.01 * 100 / 99)
    np.testing.assert_array_equal(spec.kept_steps, np.arange(0, 100, 5))


def test_step_budget_exhaustion_is_an_error_not_a_wrong_state() -> None:
    with pytest.raises(FloatingPointError, match="did not finish within mxstep"):
        simulate(small_spec("spring", rtol=1e-12, atol=1e-12, mxstep=1), simulation_keys(0, 4))


def test_a_stiff_set_logs_its_progress_chunk_by_chunk(tmp_path, caplog, monkeypatch) -> None:
    """r2 with 16 bodies printed one line in 16 minutes: beyond 8 bodies chunks hold CHUNK_SIMS · 64 / n²
    simulations, and each logs what is done, the rate and the time left."""
    monkeypatch.setattr(simulate_module, "CHUNK_SIMS", 20)  # 9 bodies: at most 20 · 64 // 81 = 15, so 2 chunks of 10
    spec = small_spec("spring", n=9, train_sims=20, test_sims=4, nt=20)
    with caplog.at_level(logging.INFO, logger="symdistill.nbody.simulate"):
        simulate_dataset(spec, SplitFiles(tmp_path / "train.parquet", tmp_path / "test.parquet"))
    lines = [r.getMessage() for r in caplog.records if "simulations/s" in r.getMessage()]
    assert [line.split(" simulations ")[0] for line in lines] == [
        "spring train: 10 of 20",
        "spring train: 20 of 20",
        "spring test: 4 of 4",
    ]
    progress = r"spring train: 10 of 20 simulations \(50 %\), [\d.]+ simulations/s, about \d+ (s|min) left"
    assert re.fullmatch(progress, lines[0])
