"""n-body trajectories with JAX, vectorised over simulations, written as Parquet splits.

The reference integrates one simulation at a time with ``jax.experimental.ode.odeint`` (adaptive
Dormand–Prince) in float32, in a Python loop. Here the same method runs on a whole chunk of simulations
at once, each with its own time and step size, in float64, with the batch on the innermost axis. Fixed-step
schemes are not an option: close encounters in the 1/r, 1/r² and charge systems need steps far below dt
(measured in docs/simulation.md). The acceleration targets do not depend on the integrator at all: they
are −∇U/m evaluated exactly at each stored state.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symdistill.core.io import package_versions
from symdistill.core.names import Dataset
from symdistill.nbody.data import DatasetWriter
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.systems import acceleration, get_system, use

log = logging.getLogger(__name__)

CHUNK_SIMS = 4000  # simulations per compiled call at n = 4 (fewer for more bodies); bounds memory, not results
SLOTS = 256  # simulations in flight at once within a call


@dataclass(frozen=True)
class SimulationSpec:
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
    """The reference's initial conditions for one simulation, shape (n, 2·dim + 2)."""
    system = get_system(sim)
    x0 = jax.random.normal(key, (n, 2 * dim + 2))
    if sim == "string":
        x0 = x0.at[:, -1].set(1.0)
        x0 = x0.at[:, 0].set(jnp.arange(n) + 0.5 * x0[:, 0])
        return x0.at[:, 2].set(0.0)
    x0 = x0.at[:, -1].set(jnp.exp(x0[:, -1]))
    if system.charged:
        x0 = x0.at[:, -2].set(jnp.sign(x0[:, -2]))
    return x0


@dataclass(frozen=True)
class Shift:
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


# Dormand–Prince 5(4), the tableau of jax.experimental.ode.odeint (the reference's integrator).
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_ERROR = (
    35 / 384 - 1951 / 21600,
    0.0,
    500 / 1113 - 22642 / 50085,
    125 / 192 - 451 / 720,
    -2187 / 6784 + 12231 / 42400,
    11 / 84 - 649 / 6300,
    -1 / 60,
)


def _dopri5_step(f: Callable[[jax.Array], jax.Array], y: jax.Array, f0: jax.Array, h: jax.Array):
    """One Dormand–Prince step for every simulation (batch on the last axis, its own step ``h``)."""
    k = [f0]
    for row in _DP_A[1:-1]:
        k.append(f(y + h * sum(a * ki for a, ki in zip(row, k, strict=False) if a)))
    y_new = y + h * sum(a * ki for a, ki in zip(_DP_A[-1], k, strict=False) if a)
    f_new = f(y_new)  # first-same-as-last: the next step's f0
    error = h * sum(e * ki for e, ki in zip(_DP_ERROR, [*k, f_new], strict=True) if e)
    return y_new, f_new, error


def _rms(x: jax.Array) -> jax.Array:
    """Root mean square over each simulation's components (axes 0, 1 of (n, f, slots)): one norm per simulation."""
    return jnp.sqrt(jnp.mean(x**2, axis=(0, 1)))


def initial_step_size(
    f: Callable[[jax.Array], jax.Array], y: jax.Array, f0: jax.Array, rtol: float, atol: float
) -> jax.Array:
    r"""A first step per simulation, from the state and two derivatives (Hairer, Nørsett & Wanner, I, II.4).

    A fixed first guess wastes attempts, shrinking one too large or growing one too small; this one makes an Euler
    step move y by about 1 % of its scale and bounds the step by the estimated second derivative. With the scale
    :math:`s = \mathrm{atol} + \mathrm{rtol}\,|y|` and :math:`\|\cdot\|` the RMS over a simulation's components:

    .. math::

        d_0 = \|y / s\|, \qquad d_1 = \|f_0 / s\|, \qquad
        h_0 = \begin{cases} 10^{-6} & d_0 < 10^{-5} \text{ or } d_1 < 10^{-5} \\
              0.01\, d_0 / d_1 & \text{else} \end{cases}

        d_2 = \|(f(y + h_0 f_0) - f_0) / s\| / h_0, \qquad
        h_1 = \begin{cases} \max(10^{-6}, 10^{-3} h_0) & d_1 \le 10^{-15} \text{ and } d_2 \le 10^{-15} \\
              (0.01 / \max(d_1, d_2))^{1/6} & \text{else} \end{cases}

        h = \min(100\, h_0, h_1)

    ``jax.experimental.ode.odeint`` computes the same with two differences, kept so that datasets stay
    byte-identical: its norm is the 2-norm (√N times ours for N = n·2·dim components) and its exponent is 1/5
    (it passes order 4; ours is 1/6, order 5). Only the first guess differs, which the controller then adapts.
    ``tests/test_simulate_steps.py`` pins down both differences against odeint's function.
    """
    scale = atol + rtol * jnp.abs(y)
    d0, d1 = _rms(y / scale), _rms(f0 / scale)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    d2 = _rms((f(y + h0 * f0) - f0) / scale) / h0
    h1 = jnp.where((d1 <= 1e-15) & (d2 <= 1e-15), jnp.maximum(1e-6, h0 * 1e-3), (0.01 / jnp.maximum(d1, d2)) ** (1 / 6))
    return jnp.minimum(100 * h0, h1)


def error_ratio(error: jax.Array, y: jax.Array, y_new: jax.Array, rtol: float, atol: float) -> jax.Array:
    r"""Each simulation's local error estimate against its tolerance; the step is accepted where it is ≤ 1.

    .. math:: r = \left\| \frac{e}{\mathrm{atol} + \mathrm{rtol} \max(|y|, |y_{\mathrm{new}}|)} \right\|_{\mathrm{RMS}}

    The tolerance follows the larger of the two states, so a component passing through zero is not held to
    ``atol`` alone. The same as odeint's ``mean_error_ratio``.
    """
    return _rms(error / (atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y_new))))


def optimal_step_size(step: jax.Array, ratio: jax.Array) -> jax.Array:
    r"""The next step from the last one and its error ratio (safety 0.9, growth ≤ 10, shrink ≥ 0.2).

    .. math::

        h' = \begin{cases} 10\, h & r = 0 \\
             h \cdot \min\!\big(10, \max(0.9\, r^{-1/5}, \delta)\big) & \text{else} \end{cases}
        \qquad \delta = \begin{cases} 1 & r < 1 \\ 0.2 & r \ge 1 \end{cases}

    The embedded error estimate scales as :math:`h^5`, so :math:`r^{-1/5}` is the factor that would bring the
    ratio to 1; the safety factor aims below it, and the bounds keep one odd estimate from wrecking the step. An
    accepted step (:math:`r < 1`) never shrinks the next one. The same as odeint's ``optimal_step_size`` with its
    defaults.
    """
    factor = jnp.minimum(10.0, jnp.maximum(0.9 * ratio ** (-1 / 5), jnp.where(ratio < 1, 1.0, 0.2)))
    return jnp.where(ratio == 0, 10.0 * step, step * factor)


class _Slots(NamedTuple):
    """The simulations in flight: ``sid`` is the simulation held by each slot (−1 once the queue is empty)."""

    sid: jax.Array
    y: jax.Array  # positions and velocities (n, 2·dim, slots)
    params: jax.Array  # charges and masses (n, 2, slots)
    f0: jax.Array  # derivative at y (first-same-as-last)
    t: jax.Array
    h: jax.Array
    idx: jax.Array  # next output time to land on
    attempts: jax.Array
    next_sim: jax.Array
    out: jax.Array  # (sims, outputs, n, 3·dim): state and acceleration at each output time
    used: jax.Array  # step attempts per finished simulation (0 = not finished)


@dataclass(frozen=True, eq=False)
class _Problem:
    """What every step attempt of one ``_integrate`` call shares: the system, the tolerances, the queue."""

    sim: str
    dim: int
    rtol: float
    atol: float
    y: jax.Array  # every simulation's initial positions and velocities (n, 2·dim, sims)
    params: jax.Array  # their charges and masses (n, 2, sims)
    t_out: jax.Array
    refill_batch: int  # empty slots that make a refill worth its cost

    @property
    def n_sims(self) -> int:
        return self.y.shape[-1]

    @property
    def n_out(self) -> int:
        return self.t_out.shape[0]

    def derivative(self, y: jax.Array, params: jax.Array) -> jax.Array:
        """dy/dt = (velocities, accelerations) of states y (n, 2·dim, slots) with charges and masses ``params``."""
        nodes = jnp.concatenate([y, params], axis=1)
        return jnp.concatenate([y[:, self.dim :], acceleration(self.sim, nodes, self.dim)], axis=1)

    def start(self, y: jax.Array, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        """f(y) and the first step of simulations starting at y."""
        f0 = self.derivative(y, params)
        return f0, initial_step_size(lambda y: self.derivative(y, params), y, f0, self.rtol, self.atol)

    def record(self, out: jax.Array, sid: jax.Array, idx: jax.Array, y: jax.Array, dy: jax.Array) -> jax.Array:
        """Store state and acceleration (the derivative's velocity part) of slots ``sid`` at output ``idx``."""
        snapshot = jnp.moveaxis(jnp.concatenate([y, dy[:, self.dim :]], axis=1), -1, 0)
        return out.at[sid, idx].set(snapshot, mode="drop")


def _first_slots(p: _Problem, slots: int) -> _Slots:
    """The first ``slots`` simulations loaded, their initial states recorded at output 0."""
    y, params = p.y[..., :slots], p.params[..., :slots]
    f0, h = p.start(y, params)
    zeros = jnp.zeros(slots, jnp.int32)
    out = jnp.zeros((p.n_sims, p.n_out, y.shape[0], 3 * p.dim), y.dtype)
    return _Slots(
        sid=jnp.arange(slots),
        y=y,
        params=params,
        f0=f0,
        t=jnp.zeros(slots, y.dtype),
        h=h,
        idx=zeros + 1,
        attempts=zeros,
        next_sim=jnp.array(slots),
        out=p.record(out, jnp.arange(slots), zeros, y, f0),
        used=jnp.zeros(p.n_sims, jnp.int32),
    )


def _step(p: _Problem, s: _Slots) -> _Slots:
    """One step attempt in every slot, shortened where it would pass the next output time, which it then records."""
    active = s.sid >= 0
    remaining = p.t_out[s.idx] - s.t
    lands = s.h >= remaining
    step = jnp.where(lands, remaining, s.h)
    y_new, f_new, error = _dopri5_step(lambda y: p.derivative(y, s.params), s.y, s.f0, step)
    ratio = error_ratio(error, s.y, y_new, p.rtol, p.atol)
    accept = active & (ratio <= 1.0)
    h_next = optimal_step_size(step, ratio)
    stored = accept & lands
    y = jnp.where(accept, y_new, s.y)
    return s._replace(
        y=y,
        f0=jnp.where(accept, f_new, s.f0),
        t=jnp.where(accept, s.t + step, s.t),
        h=jnp.where(stored, jnp.maximum(h_next, s.h), h_next),  # a step shortened to land is no evidence
        idx=s.idx + stored,
        attempts=s.attempts + active,
        out=p.record(s.out, jnp.where(stored, s.sid, p.n_sims), s.idx, y, f_new),
    )


def _retire(p: _Problem, s: _Slots) -> _Slots:
    """Empty the slots whose simulation reached its last output time, noting the attempts it took."""
    finished = (s.sid >= 0) & (s.idx == p.n_out)
    return s._replace(
        used=s.used.at[jnp.where(finished, s.sid, p.n_sims)].set(s.attempts, mode="drop"),
        sid=jnp.where(finished, -1, s.sid),
        idx=jnp.where(finished, 0, s.idx),  # keeps t_out[idx] in range for an empty slot
    )


def _refill(p: _Problem, s: _Slots) -> _Slots:
    """Load the next queued simulations into the empty slots and record their initial states."""
    empty = s.sid < 0
    new_sid = s.next_sim + jnp.cumsum(empty) - 1
    refill = empty & (new_sid < p.n_sims)
    take = jnp.clip(new_sid, 0, p.n_sims - 1)
    y = jnp.where(refill, p.y[..., take], s.y)
    params = jnp.where(refill, p.params[..., take], s.params)
    f0, h = p.start(y, params)
    return s._replace(
        out=p.record(s.out, jnp.where(refill, new_sid, p.n_sims), jnp.zeros_like(s.idx), y, f0),
        sid=jnp.where(refill, new_sid, s.sid),
        next_sim=s.next_sim + jnp.sum(refill),
        y=y,
        params=params,
        f0=jnp.where(refill, f0, s.f0),
        h=jnp.where(refill, h, s.h),
        t=jnp.where(refill, 0.0, s.t),
        idx=jnp.where(refill, 1, s.idx),
        attempts=jnp.where(refill, 0, s.attempts),
    )


def _attempt(p: _Problem, s: _Slots) -> _Slots:
    """One loop iteration: a step everywhere, finished simulations retired, empty slots refilled when due.

    Refills come in batches of ``refill_batch`` (or when every slot is empty): loading costs two derivative
    evaluations for every slot, loaded or not.
    """
    s = _retire(p, _step(p, s))
    empty = s.sid < 0
    due = (jnp.sum(empty) >= p.refill_batch) | jnp.all(empty)
    return jax.lax.cond(due & (s.next_sim < p.n_sims), partial(_refill, p), lambda s: s, s)


def _running(p: _Problem, max_steps: int, s: _Slots) -> jax.Array:
    """Whether a simulation is in flight or queued, and no slot has spent the step budget."""
    return (jnp.any(s.sid >= 0) | (s.next_sim < p.n_sims)) & jnp.all(s.attempts < max_steps)


@partial(jax.jit, static_argnames=("sim", "dim", "rtol", "atol", "max_steps", "slots"))
def _integrate(
    sim: str, dim: int, rtol: float, atol: float, max_steps: int, slots: int, x0: jax.Array, t_out: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Adaptive Dormand–Prince for simulations x0 (n, f, sims), stopping exactly on each output time.

    ``slots`` simulations are in flight at once, each with its own time and step size; one loop iteration
    is one step attempt for all of them, and a slot whose simulation has finished takes the next one from
    the queue, so no slot idles while a stiff simulation elsewhere takes many small steps. Step-size control
    is odeint's (``error_ratio``, ``optimal_step_size``). Returns the states at ``t_out``
    (sims, len(t_out), n, f), the accelerations there (sims, len(t_out), n, dim) — the derivative the
    integrator evaluates at each landing, i.e. exactly −∇U/m — and the step attempts per simulation (0 where
    the budget ran out first).
    """
    y_all, params_all = x0[:, : 2 * dim], x0[:, 2 * dim :]
    p = _Problem(sim, dim, rtol, atol, y_all, params_all, t_out, max(1, slots // 16))
    state = jax.lax.while_loop(partial(_running, p, max_steps), partial(_attempt, p), _first_slots(p, slots))
    n_sims, n_out = p.n_sims, p.n_out
    params_out = jnp.broadcast_to(jnp.moveaxis(params_all, -1, 0)[:, None], (n_sims, n_out, *params_all.shape[:2]))
    states = jnp.concatenate([state.out[..., : 2 * dim], params_out], axis=-1)
    return states, state.out[..., 2 * dim :], state.used


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
            for a in _integrate(
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


def simulate_dataset(
    spec: SimulationSpec, train_path: str | Path, test_path: str | Path, law: PairLaw | None = None
) -> None:
    """Write the train and test splits of one dataset ``{sim}_{dim}d_n{n}``.

    ``law``: the system's pair law (the rule passes it for every system; a built-in's is its own by default).
    """
    _use_law(spec, law)
    steps = spec.kept_steps
    times = steps * spec.interval
    if spec.split == "seed":
        for split, seed, n_sims, path in (
            ("train", spec.seed, spec.train_sims, train_path),
            ("test", spec.test_seed, spec.test_sims, test_path),
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
    with DatasetWriter(train_path, train_meta) as train, DatasetWriter(test_path, test_meta) as test:
        for sims, keys, width in _chunks(spec.seed, spec.train_sims, spec.n, f"{spec.sim} (time split)"):
            states, accel = simulate(spec, keys, width)
            train.write(sims, steps[:cut], times[:cut], states[:, :cut], accel[:, :cut])
            test.write(sims, steps[cut:], times[cut:], states[:, cut:], accel[:, cut:])


def simulate_ood(spec: SimulationSpec, shift: Shift, path: str | Path, law: PairLaw | None = None) -> None:
    """Write the out-of-distribution set ``shift`` of dataset ``spec``: ``test_sims`` simulations from the keys of
    ``test_seed`` (with ``split: seed``, the test split's own) from shifted initial conditions, every kept snapshot.

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
