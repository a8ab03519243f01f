"""Rules ``simulate`` and ``ood``: n-body trajectories with JAX, vectorised over simulations, written as Parquet
splits.

The reference integrates one simulation at a time with ``jax.experimental.ode.odeint`` (adaptive
Dormand–Prince) in float32, in a Python loop. Here the same method (``symdistill.nbody.integrator``) runs on a
whole chunk of simulations at once, each with its own time and step size, in float64, with the batch on the
innermost axis. Fixed-step schemes are not an option: close encounters in the 1/r, 1/r² and charge systems need
steps far below dt (measured in docs/simulation.md). The acceleration targets do not depend on the integrator at
all: they are −∇U/m evaluated exactly at each stored state.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from symdistill.core.io import package_versions
from symdistill.core.names import Dataset
from symdistill.core.specs import Spec
from symdistill.nbody.data import DatasetWriter, SplitFiles
from symdistill.nbody.integrator import integrate
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.systems import get_system, use

log = logging.getLogger(__name__)

CHUNK_SIMS = 4000  # simulations per compiled call at n = 4 (fewer for more bodies); bounds memory, not results
SLOTS = 256  # simulations in flight at once within a call


@dataclass(frozen=True)
class SimulationSpec(Spec):
    """Everything that determines a dataset's contents (the ``simulate`` rule's params)."""

    sim: str
    dim: int
    n: int
    dt: float
    nt: int  # snapshots simulated (the notebook simulates nt // 2 = 500 of its nominal 1000)
    keep_every: int  # keep every k-th snapshot (the notebook keeps 0, 5, …, 495)
    rtol: float  # odeint's tolerances (the reference uses the defaults, 1.4e-8)
    atol: float
    mxstep: int  # step attempts allowed per snapshot interval (the reference: 2000)
    train_sims: int
    test_sims: int
    split: str  # "seed": test = new simulations from test_seed; "time": test = the last snapshots
    seed: int
    test_seed: int
    time_test_fraction: float

    def __post_init__(self) -> None:
        if self.split not in ("seed", "time"):
            raise ValueError(f"split must be 'seed' or 'time', got {self.split!r}")
        if self.dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {self.dim}")
        if self.n < 2:
            raise ValueError(f"n must be at least 2, got {self.n}")
        if self.nt <= self.keep_every:
            raise ValueError(f"nt = {self.nt} keeps a single snapshot with keep_every = {self.keep_every}")

    @property
    def interval(self) -> float:
        """Spacing of the reference's time grid, linspace(0, dt·nt, nt)."""
        return self.dt * self.nt / (self.nt - 1)

    @property
    def kept_steps(self) -> np.ndarray:
        return np.arange(0, self.nt, self.keep_every)


def initial_state(sim: str, key: jax.Array, n: int, dim: int) -> jax.Array:
    """The reference's initial conditions for one simulation, shape (n, 2·dim + 2), float32 as the reference draws
    them: the same key then gives the reference's values, also where the caller integrates in float64."""
    system = get_system(sim)
    x0 = jax.random.normal(key, (n, 2 * dim + 2), dtype=jnp.float32)
    if sim == "string":
        x0 = x0.at[:, -1].set(1.0)
        x0 = x0.at[:, 0].set(jnp.arange(n) + 0.5 * x0[:, 0])
        return x0.at[:, 2].set(0.0)
    x0 = x0.at[:, -1].set(jnp.exp(x0[:, -1]))
    if system.charged:
        x0 = x0.at[:, -2].set(jnp.sign(x0[:, -2]))
    return x0


@dataclass(frozen=True)
class Shift(Spec):
    """An out-of-distribution set: the test split's initial conditions changed as declared (config ``ood.shifts``).

    Training draws positions and velocities from N(0, 1) and log-masses from N(0, 1); a shift scales the first two,
    moves the third, or changes the number of bodies (``None``: the dataset's own). The trajectories then follow
    the same law from these states, so the set differs from the test split in its initial conditions only.
    """

    name: str
    n_bodies: int | None = None
    position_scale: float = 1.0
    velocity_scale: float = 1.0
    log_mass_shift: float = 0.0

    def apply(self, x0: jax.Array, dim: int) -> jax.Array:
        """Initial states (..., n, 2·dim + 2), shifted."""
        x0 = x0.at[..., :dim].multiply(self.position_scale)
        x0 = x0.at[..., dim : 2 * dim].multiply(self.velocity_scale)
        return x0.at[..., -1].multiply(math.exp(self.log_mass_shift))


def simulation_keys(seed: int, n_sims: int) -> jax.Array:
    """One key per simulation, split(PRNGKey(seed), n_sims), as the reference."""
    return jax.random.split(jax.random.PRNGKey(seed), n_sims)


def simulate(
    spec: SimulationSpec, keys: jax.Array, width: int | None = None, shift: Shift | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the simulations of ``keys``, padded to ``width`` so that equal chunks share one compilation, from
    the reference's initial conditions or these ``shift``-ed.

    Returns the kept snapshots (sims, steps, n, f) and their accelerations (sims, steps, n, dim), float64.
    """
    size = len(keys)
    width = max(size, width or size)
    with jax.enable_x64(True):
        x0 = jax.vmap(lambda k: initial_state(spec.sim, k, spec.n, spec.dim))(keys).astype(jnp.float64)
        if shift is not None:
            x0 = shift.apply(x0, spec.dim)
        if size < width:
            x0 = jnp.concatenate([x0, jnp.repeat(x0[-1:], width - size, axis=0)])
        t_out = jnp.asarray(spec.kept_steps * spec.interval, dtype=jnp.float64)
        max_steps = spec.mxstep * (spec.nt - 1)
        slots = min(SLOTS, width)
        states, accel, attempts = (
            np.asarray(a)[:size]
            for a in integrate(
                spec.sim, spec.dim, spec.rtol, spec.atol, max_steps, slots, jnp.transpose(x0, (1, 2, 0)), t_out
            )
        )
    if (attempts == 0).any():
        raise FloatingPointError(
            f"{spec.sim}: simulations {np.flatnonzero(attempts == 0).tolist()[:10]} did not finish within "
            f"mxstep × (nt − 1) = {max_steps} step attempts (the reference's odeint would have returned a wrong state)"
        )
    if not (np.isfinite(states).all() and np.isfinite(accel).all()):
        raise FloatingPointError(f"{spec.sim}: non-finite state or acceleration")
    log.debug("%s: step attempts per simulation: median %d, max %d", spec.sim, np.median(attempts), attempts.max())
    return states, accel


def _chunks(seed: int, n_sims: int, n: int, what: str) -> Iterator[tuple[np.ndarray, jax.Array, int]]:
    """Near-equal chunks of simulations, all padded to one width, with a log line after each: done, rate, time left.

    Beyond 8 bodies a chunk holds CHUNK_SIMS · 64 / n² simulations (its work grows with the n² pairs): at 16 bodies
    one chunk of 4,000 ran 16 minutes with nothing logged but its start. Chunking changes the results by rounding
    at most (tests/test_simulate.py), and up to 8 bodies not at all: there the chunks are what they always were."""
    keys = simulation_keys(seed, n_sims)
    most = max(1, min(CHUNK_SIMS, CHUNK_SIMS * 64 // n**2))
    width = math.ceil(n_sims / math.ceil(n_sims / most))
    started = time.perf_counter()
    for start in range(0, n_sims, width):
        chunk = keys[start : start + width]
        yield np.arange(start, start + len(chunk)), chunk, width
        done, seconds = start + len(chunk), time.perf_counter() - started
        left = seconds / done * (n_sims - done)
        log.info(
            "%s: %d of %d simulations (%.0f %%), %.1f simulations/s, about %s left",
            what, done, n_sims, 100 * done / n_sims, done / seconds, _duration(left),
        )  # fmt: skip


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _metadata(spec: SimulationSpec, split: str, seed: int, n_sims: int, n_steps: int) -> dict:
    return {
        **asdict(spec),
        "split_name": split,
        "split_method": spec.split,
        "sim_seed": seed,
        "n_sims": n_sims,
        "n_steps": n_steps,
        "potential": get_system(spec.sim).description,
        "law": asdict(get_system(spec.sim).law),
        "integrator": "adaptive Dormand-Prince 5(4), float64",
        "package_versions": package_versions(),
    }


def _use_law(spec: SimulationSpec, law: PairLaw | None) -> None:
    """Register the system's pair law for this process (``None``: a built-in's own), failing before any work."""
    if law is not None:
        if law.name != spec.sim:
            raise ValueError(f"the law of {law.name!r} given for a dataset of {spec.sim!r}")
        use(law)
    get_system(spec.sim)


def simulate_dataset(spec: SimulationSpec, splits: SplitFiles, law: PairLaw | None = None) -> None:
    """Rule ``simulate``: write the train and test splits of one dataset ``{sim}_{dim}d_n{n}``.

    ``law``: the system's pair law (the rule passes it for every system; a built-in's is its own by default).
    """
    _use_law(spec, law)
    steps = spec.kept_steps
    times = steps * spec.interval
    if spec.split == "seed":
        for split, seed, n_sims, path in (
            ("train", spec.seed, spec.train_sims, splits.train),
            ("test", spec.test_seed, spec.test_sims, splits.test),
        ):
            with DatasetWriter(path, _metadata(spec, split, seed, n_sims, len(steps))) as writer:
                for sims, keys, width in _chunks(seed, n_sims, spec.n, f"{spec.sim} {split}"):
                    writer.write(sims, steps, times, *simulate(spec, keys, width))
        return
    n_test = max(1, math.ceil(len(steps) * spec.time_test_fraction))
    cut = len(steps) - n_test
    if cut < 1:
        raise ValueError(f"time split leaves no training snapshots ({len(steps)} kept, {n_test} for test)")
    train_meta = _metadata(spec, "train", spec.seed, spec.train_sims, cut)
    test_meta = _metadata(spec, "test", spec.seed, spec.train_sims, n_test)
    with DatasetWriter(splits.train, train_meta) as train, DatasetWriter(splits.test, test_meta) as test:
        for sims, keys, width in _chunks(spec.seed, spec.train_sims, spec.n, f"{spec.sim} (time split)"):
            states, accel = simulate(spec, keys, width)
            train.write(sims, steps[:cut], times[:cut], states[:, :cut], accel[:, :cut])
            test.write(sims, steps[cut:], times[cut:], states[:, cut:], accel[:, cut:])


def simulate_ood(spec: SimulationSpec, shift: Shift, path: str | Path, law: PairLaw | None = None) -> None:
    """Rule ``ood``: write the out-of-distribution set ``shift`` of dataset ``spec``: ``test_sims`` simulations
    from the keys of ``test_seed`` (with ``split: seed``, the test split's own) from shifted initial conditions,
    every kept snapshot.

    The file's metadata is the test split's with ``n`` the set's bodies, ``split_name`` = ``ood/{name}`` and
    ``ood`` = the dataset whose models it tests and the shift, so that a reader can tell exactly how it differs.
    """
    _use_law(spec, law)
    trained_on = Dataset(spec.sim, spec.dim, spec.n).name
    spec = replace(spec, n=shift.n_bodies or spec.n)
    steps = spec.kept_steps
    meta = _metadata(spec, f"ood/{shift.name}", spec.test_seed, spec.test_sims, len(steps))
    meta["ood"] = {"dataset": trained_on, **asdict(replace(shift, n_bodies=spec.n))}
    with DatasetWriter(path, meta) as writer:
        for sims, keys, width in _chunks(spec.test_seed, spec.test_sims, spec.n, f"{trained_on} {shift.name}"):
            writer.write(sims, steps, steps * spec.interval, *simulate(spec, keys, width, shift))
