"""The eight systems: forces are −∇U exactly as the reference sums U, pair forces add up, edges are right."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symdistill.nbody.simulate import initial_state
from symdistill.nbody.systems import (
    SIM_NAMES,
    acceleration,
    edge_index,
    get_system,
    interaction_pairs,
    pair_force,
    total_potential,
)


def _nodes(sim: str, n: int, dim: int, seed: int = 3) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(initial_state(sim, jax.random.PRNGKey(seed), n, dim), dtype=np.float64)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("sim", SIM_NAMES)
def test_acceleration_is_minus_gradient_over_mass_by_finite_differences(sim: str, dim: int) -> None:
    n = 6 if sim == "string" else 4
    x = _nodes(sim, n, dim)
    with jax.enable_x64(True):
        accel = np.asarray(acceleration(sim, jnp.asarray(x), dim))
        u = lambda y: float(total_potential(sim, jnp.asarray(y), dim))  # noqa: E731
        eps = 1e-6
        grad = np.zeros((n, dim))
        for i in range(n):
            for k in range(dim):
                up, down = x.copy(), x.copy()
                up[i, k] += eps
                down[i, k] -= eps
                grad[i, k] = (u(up) - u(down)) / (2 * eps)
    np.testing.assert_allclose(accel, -grad / x[:, -1:], rtol=1e-5, atol=1e-6)


def test_reference_potential_values_by_hand() -> None:
    """Two nodes at distance 1 (softened 1.01), masses 2 and 3, charges +1 and −1, n = 2."""
    x1 = np.array([0.5, 0.2, 0.3, 0.4, 1.0, 2.0])
    x2 = np.array([1.5, 0.2, 0.0, 0.0, -1.0, 3.0])
    expect = {
        "r2": -6 / 1.01,
        "r1": 6 * np.log(1.01),
        "spring": 0.01**2,
        "charge": -1 / 1.01,
        "superposition": -1 / 1.01 - 6 / 1.01,
        "discontinuous": 0.0,
        "damped": 0.01**2 + (0.5 * 0.3 + 0.2 * 0.4) / 2,  # + x1·v1 / n
        "string": 0.01**2 + 0.2 * 2.0,  # + y1·m1
    }
    with jax.enable_x64(True):
        for sim, value in expect.items():
            got = float(get_system(sim).potential_terms(jnp.asarray(x1), jnp.asarray(x2), 2, 2))
            assert got == pytest.approx(value, rel=1e-12), sim


@pytest.mark.parametrize("sim", ["r1", "r2", "spring", "charge", "superposition", "discontinuous"])
def test_pair_forces_sum_to_mass_times_acceleration(sim: str) -> None:
    n, dim = 5, 3
    x = _nodes(sim, n, dim)
    senders, receivers = edge_index(sim, n)
    with jax.enable_x64(True):
        forces = np.asarray(pair_force(sim, jnp.asarray(x[receivers].T), jnp.asarray(x[senders].T), dim, n)).T
        accel = np.asarray(acceleration(sim, jnp.asarray(x), dim))
    total = np.zeros((n, dim))
    np.add.at(total, receivers, forces)
    np.testing.assert_allclose(total, x[:, -1:] * accel, rtol=1e-9, atol=1e-9)


def test_spring_pair_force_matches_closed_form() -> None:
    x = _nodes("spring", 2, 2)
    with jax.enable_x64(True):
        f = np.asarray(pair_force("spring", jnp.asarray(x[[0]].T), jnp.asarray(x[[1]].T), 2, 2))[:, 0]
    d = x[0, :2] - x[1, :2]
    r = np.linalg.norm(d)
    np.testing.assert_allclose(f, -2 * (r + 0.01 - 1) * d / r, rtol=1e-12)


def test_edges_are_fully_connected_sorted_by_receiver_and_chain_for_string() -> None:
    senders, receivers = edge_index("spring", 4)
    assert len(senders) == 12 and all(s != r for s, r in zip(senders, receivers, strict=True))
    assert receivers == sorted(receivers) and receivers.count(0) == 3
    assert interaction_pairs("string", 4) == [(0, 1), (1, 2), (2, 3)]
    s, r = edge_index("string", 4)
    assert sorted(zip(s, r, strict=True)) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]


def test_unknown_system_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"no pair law for 'sprong'; expected a built-in \(r1, r2, spring"):
        get_system("sprong")


def _distance(x1, x2, dim):  # noqa: ANN001, ANN202
    return jnp.sqrt(jnp.sum((x1[:dim] - x2[:dim]) ** 2, axis=0)) + 0.01


# The reference's pair potentials as its simulate.py writes them by hand (masses x[-1], charges x[-2]): the
# registry's SymPy energies, compiled to JAX, must be these functions.
REFERENCE = {
    "r1": lambda a, b, d: a[-1] * b[-1] * jnp.log(_distance(a, b, d)),
    "r2": lambda a, b, d: -a[-1] * b[-1] / _distance(a, b, d),
    "spring": lambda a, b, d: (_distance(a, b, d) - 1) ** 2,
    "damped": lambda a, b, d: (_distance(a, b, d) - 1) ** 2,
    "string": lambda a, b, d: (_distance(a, b, d) - 1) ** 2,
    "charge": lambda a, b, d: a[-2] * b[-2] / _distance(a, b, d),
    "superposition": lambda a, b, d: a[-2] * b[-2] / _distance(a, b, d) - a[-1] * b[-1] / _distance(a, b, d),
    "discontinuous": lambda a, b, d: jnp.where(_distance(a, b, d) >= 2, (_distance(a, b, d) - 1) ** 2, 0.0),
}


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("sim", SIM_NAMES)
def test_the_registry_is_the_references_hand_written_potential(sim: str, dim: int) -> None:
    """Energy and pair force on 2,000 random pairs (distances up to ~6, so the discontinuous bands are crossed),
    and every body's acceleration: the built-ins' datasets are the same numbers as before the registry."""
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(scale=2.0, size=(2, 2 * dim + 2, 2000))
    x1[-1], x2[-1] = np.exp(x1[-1]), np.exp(x2[-1])
    x1[-2], x2[-2] = np.sign(x1[-2]), np.sign(x2[-2])
    reference = REFERENCE[sim]
    with jax.enable_x64(True):
        a, b = jnp.asarray(x1), jnp.asarray(x2)
        ours = np.asarray(get_system(sim).interaction(a, b, dim, 4))
        theirs = np.asarray(reference(a, b, dim))
        force = np.asarray(pair_force(sim, a, b, dim, 4))
        expected = -np.asarray(jax.grad(lambda p: jnp.sum(reference(a.at[:dim].set(p), b, dim)))(a[:dim]))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(force, expected, rtol=1e-12, atol=1e-15)
