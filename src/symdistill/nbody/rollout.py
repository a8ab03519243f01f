"""Models integrated from a test simulation's first snapshot: the trajectory figure and the generalisation
stage's rollout errors and energy drift.

The stored trajectories come from the adaptive float64 integrator; a model's rollout is classical RK4 with a fixed
number of steps per stored interval (``report.rollout_substeps``), on the model's own accelerations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch

from symdistill.nbody.data import Split, read_split, stored_times
from symdistill.nbody.models import Graph, Network, VariationalGraphNetwork
from symdistill.nbody.systems import edge_index, pair_potential

# Systems whose energy is not the kinetic plus the pair energies: no drift is measured for them.
ENERGY_NOT_CONSERVED = {
    "damped": "its drag removes energy",
    "string": "its gravity is a one-body energy",
    "discontinuous": "its pair energy jumps at r = 2",
}


def stored_trajectory(test_path: str | Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The stored snapshots (steps, n, features) of the ``index``-th test simulation and their times."""
    return stored_trajectories(test_path, [index])[0]


def stored_trajectories(
    test_path: str | Path, indices: Sequence[int], split: Split | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``stored_trajectory`` for several simulations, reading the split once (not at all if given as ``split``;
    the snapshots' times are not part of a Split and are read from the file)."""
    split = read_split(test_path) if split is None else split
    sims = np.unique(split.sim)
    times = stored_times(test_path, split)
    trajectories = []
    for index in indices:
        if not 0 <= index < len(sims):
            raise ValueError(
                f"{test_path}: report.rollout_simulation is {index}, but the test split holds "
                f"{len(sims)} simulations (0 … {len(sims) - 1})"
            )
        rows = np.flatnonzero(split.sim == sims[index])
        rows = rows[np.argsort(split.step[rows], kind="stable")]
        trajectories.append((split.x[rows].astype(np.float64), times[rows]))
    return trajectories


def rk4_rollout(
    acceleration: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, times: np.ndarray, dim: int, substeps: int
) -> np.ndarray:
    """States (len(times), n, features) from ``x0`` at ``times[0]``: classical RK4, ``substeps`` per interval.

    Positions follow the velocities and velocities the ``acceleration`` of the whole state (n, features) →
    (n, dim); charges and masses stay as they are.
    """

    def derivative(x: np.ndarray) -> np.ndarray:
        d = np.zeros_like(x)
        d[:, :dim] = x[:, dim : 2 * dim]
        d[:, dim : 2 * dim] = acceleration(x)
        return d

    states, x = [x0], x0.copy()
    with np.errstate(all="ignore"):  # a diverging learned model is a result to show, not an error
        for start, end in zip(times[:-1], times[1:], strict=True):
            h = (end - start) / substeps
            for _ in range(substeps):
                k1 = derivative(x)
                k2 = derivative(x + h / 2 * k1)
                k3 = derivative(x + h / 2 * k2)
                k4 = derivative(x + h * k3)
                x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            states.append(x)
    return np.stack(states)


def gnn_acceleration(model: Network, sim: str, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """The network's acceleration of one state; variational messages use their mean, so the rollout is deterministic."""
    if isinstance(model, VariationalGraphNetwork):
        model.sample = False
    graph = Graph.for_system(sim, n)

    @torch.no_grad()
    def acceleration(x: np.ndarray) -> np.ndarray:
        pred, _ = model.run(torch.as_tensor(x[None], dtype=torch.float32), graph)
        return pred[0].double().numpy()

    return acceleration


def energy(sim: str, states: np.ndarray, dim: int) -> np.ndarray:
    """Kinetic plus pair energy of each state (..., n, features): Σ ½ m v² + Σ over pairs of U (softened)."""
    n = states.shape[-2]
    senders, receivers = edge_index(sim, n)
    flat = states.reshape(-1, n, states.shape[-1])
    kinetic = 0.5 * (flat[..., -1] * (flat[..., dim : 2 * dim] ** 2).sum(-1)).sum(-1)
    with jax.enable_x64(True):
        receiver = jnp.asarray(np.moveaxis(flat[:, receivers], -1, 0).reshape(flat.shape[-1], -1))
        sender = jnp.asarray(np.moveaxis(flat[:, senders], -1, 0).reshape(flat.shape[-1], -1))
        pair = np.asarray(pair_potential(sim, receiver, sender, dim, n)).reshape(len(flat), -1)
    return (kinetic + 0.5 * pair.sum(-1)).reshape(states.shape[:-2])  # every pair is two directed edges
