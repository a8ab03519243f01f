"""Trajectories of a system that is not among the built-ins, written the way a researcher's own code would write
them: a Morse pair energy U(r) = (1 − exp(−(r' − 1)))², r' = r + 0.01, integrated by SciPy's solve_ivp (DOP853),
not by our integrator; Gaussian measurement noise on the recorded positions and velocities; no accelerations in
the file. docs/systems.md ("Trajectories as data") distils it with examples/morse.yaml.

    python examples/morse_trajectories.py --sims 2500 --out data/morse.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

SOFTENING = 0.01


def accelerations(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """−∇U/m for every body of one state x (n, dim): each pair's Morse force along the line between them."""
    delta = x[:, None, :] - x[None, :, :]
    r = np.sqrt((delta**2).sum(-1)) + np.eye(len(x))  # the diagonal never contributes (its Δ is 0)
    s = np.exp(-(r + SOFTENING - 1.0))
    du_dr = 2.0 * (1.0 - s) * s  # U'(r') for U = (1 − e^{−(r' − 1)})²
    force = -(du_dr / r)[..., None] * delta
    return force.sum(axis=1) / m[:, None]


def trajectory(rng: np.random.Generator, n: int, dim: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities (steps, n, dim) of one simulation from N(0, 1) positions and velocities × 0.5."""
    x0, v0 = rng.normal(size=(n, dim)) * 1.5, rng.normal(size=(n, dim)) * 0.5
    m = np.ones(n)

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        x, v = y[: n * dim].reshape(n, dim), y[n * dim :]
        return np.concatenate([v, accelerations(x, m).ravel()])

    y = solve_ivp(rhs, (times[0], times[-1]), np.concatenate([x0.ravel(), v0.ravel()]), "DOP853", times, rtol=1e-10,
                  atol=1e-10).y.T  # fmt: skip
    return y[:, : n * dim].reshape(-1, n, dim), y[:, n * dim :].reshape(-1, n, dim)


def trajectories(sims: int, n: int, dim: int, steps: int, dt: float, noise: float, seed: int) -> pd.DataFrame:
    """The file's rows: sim step time particle, positions and velocities with N(0, noise²) added; no q, m, a."""
    rng = np.random.default_rng(seed)
    times = np.arange(steps) * dt
    axes = "xyz"[:dim]
    frames = []
    for sim in range(sims):
        x, v = trajectory(rng, n, dim, times)
        x, v = x + rng.normal(scale=noise, size=x.shape), v + rng.normal(scale=noise, size=v.shape)
        frame = pd.DataFrame(
            {
                "sim": sim,
                "step": np.repeat(np.arange(steps), n),
                "time": np.repeat(times, n),
                "particle": np.tile(np.arange(n), steps),
            }
        )
        for k, a in enumerate(axes):
            frame[a], frame[f"v{a}"] = x[..., k].ravel(), v[..., k].ravel()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2500)
    parser.add_argument("--bodies", type=int, default=4)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--dt", type=float, default=0.02)
    parser.add_argument("--noise", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/morse.parquet"))
    args = parser.parse_args()
    frame = trajectories(args.sims, args.bodies, args.dim, args.steps, args.dt, args.noise, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False) if args.out.suffix == ".parquet" else frame.to_csv(args.out, index=False)
    print(f"{args.out}: {args.sims} simulations × {args.steps} steps × {args.bodies} bodies, noise σ = {args.noise}")


if __name__ == "__main__":
    main()
