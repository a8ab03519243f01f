"""A system given as data (config ``systems.NAME.trajectories``): a researcher's trajectory file, read strictly into
the two splits of the DAG contract's dataset layout (rule ``trajectories``, in place of ``simulate``).

The file has the layout's columns, ``sim step time particle x y [z] vx vy [vz] q m [ax ay [az]]``, one row per
(simulation, step, particle), in any row order. What it lacks is made as documented in docs/systems.md:
- velocities: the second-order central difference of the positions in ``time`` (one-sided, second order, at the
  first and last step): with position noise σ a velocity carries noise ≈ σ/(√2 h) for a step h;
- accelerations: the same difference of the velocities, given or computed: from noisy velocities (σᵥ) ≈ σᵥ/(√2 h);
  from positions alone the two differences make the stencil (x₊₂ − 2x + x₋₂)/(4h²), noise ≈ σ·√6/(4h²), which
  grows as 1/h²: position noise needs coarser steps (or velocities measured) for accelerations to mean anything;
- ``q`` = 0 and ``m`` = 1 (an uncharged system of equal masses).
Differences need regular steps; a file with all three of positions, velocities and accelerations need not have.

Nothing is dropped or repaired: each check fails with one error naming the file, the column or the row, and what
was expected. The splits are whole simulations, chosen by a seeded permutation recorded in the datasets'
provenance with the file's SHA-256.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.io import InputError, file_digest, package_versions
from symdistill.core.names import parse_dataset
from symdistill.core.specs import Spec
from symdistill.nbody.data import AXES, DatasetWriter, SplitFiles

log = logging.getLogger(__name__)

KEYS = ("sim", "step", "time", "particle")
DEFAULTS = {"q": 0.0, "m": 1.0}  # a column the file omits: the same value for every body
REGULAR_RTOL = 1e-6  # steps whose spacing differs from their simulation's median by more are irregular
VELOCITY_SCHEME = "second-order central difference of the positions in time (one-sided at the ends)"
ACCELERATION_SCHEME = "second-order central difference of the velocities in time (one-sided at the ends)"


class TrajectoryError(InputError):
    """A trajectory file that cannot become a dataset as it is; the message names the file and what to fix."""


@dataclass(frozen=True)
class TrajectorySpec(Spec):
    """The ``trajectories`` rule's params: the file, the dataset it must be, and how its simulations are split."""

    path: str
    dataset: str  # NAME_{dim}d_n{n}: the file's dimension and bodies must be these
    test_fraction: float
    split_seed: int
    law: dict[str, Any] | None  # the hypothesis (``PairLaw`` fields) the judge tests, recorded with the data


@dataclass(frozen=True)
class Trajectories:
    """A checked file as arrays: states (sims, steps, n, 2·dim + 2), accelerations (sims, steps, n, dim)."""

    sims: np.ndarray
    steps: np.ndarray  # (sims, steps): the file's step numbers; every simulation has as many
    times: np.ndarray  # (sims, steps)
    states: np.ndarray
    accelerations: np.ndarray
    made: dict[str, str]  # column group → "given" or how it was computed


def read_table(path: Path) -> pd.DataFrame:
    """The file as a frame: Parquet (.parquet, .pq) or CSV (anything else)."""
    if not path.is_file():
        raise TrajectoryError(f"{path}: no such trajectory file (systems.*.trajectories)")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        return pd.read_parquet(path) if parquet else pd.read_csv(path, keep_default_na=False, na_values=[])
    except Exception as err:  # pyarrow and pandas raise many kinds for a foreign or cut file
        kind = "Parquet" if parquet else "CSV"
        raise TrajectoryError(f"{path}: not a readable {kind} file ({type(err).__name__}: {err})") from None


def column_groups(frame: pd.DataFrame, path: Path) -> tuple[int, dict[str, bool]]:
    """The file's dimension and which optional groups it gives; refuses a partial group or a foreign column."""
    dim = 3 if "z" in frame.columns else 2
    axes = AXES[:dim]
    groups = {"positions": list(axes), "velocities": [f"v{a}" for a in axes], "accelerations": [f"a{a}" for a in axes]}
    required = [*KEYS, *groups["positions"]]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise TrajectoryError(
            f"{path}: lacks the column(s) {', '.join(missing)}; expected {' '.join(required)} at least"
        )
    given = {name: any(c in frame.columns for c in columns) for name, columns in groups.items()}
    for name, columns in groups.items():
        absent = [c for c in columns if c not in frame.columns]
        if given[name] and absent:
            raise TrajectoryError(f"{path}: has some {name} but not {', '.join(absent)}: give all of {columns} or none")
    known = {*required, *(c for g in ("velocities", "accelerations") for c in groups[g]), *DEFAULTS}
    foreign = [c for c in frame.columns if c not in known]
    if foreign:
        raise TrajectoryError(
            f"{path}: unknown column(s) {', '.join(map(str, foreign))}; a {dim}D trajectory file has "
            f"{' '.join(sorted(known, key=_column_order))} (nothing is dropped: remove them from the file)"
        )
    return dim, given


def _column_order(name: str) -> int:
    order = [*KEYS, *AXES, *(f"v{a}" for a in AXES), *DEFAULTS, *(f"a{a}" for a in AXES)]
    return order.index(name)


def check_values(frame: pd.DataFrame, path: Path) -> None:
    """Numbers everywhere, finite, whole numbers for the keys, and positive masses: the first bad row named."""
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise TrajectoryError(
                f"{path}: row {bad[0]} (data rows counted from 0): column {column} is "
                f"{_shown(frame[column].iloc[bad[0]])}; expected a finite number ({len(bad)} such row(s))"
            )
        if column in ("sim", "step", "particle"):
            fractional = np.flatnonzero(values != np.round(values))
            if len(fractional):
                raise TrajectoryError(
                    f"{path}: row {fractional[0]}: column {column} is {_shown(values[fractional[0]])}; "
                    "expected a whole number"
                )
    if "m" in frame.columns and (frame["m"] <= 0).any():
        row = int(np.flatnonzero(frame["m"].to_numpy() <= 0)[0])
        raise TrajectoryError(
            f"{path}: row {row}: column m is {_shown(frame['m'].iloc[row])}; expected a positive mass"
        )


def _shown(value: Any) -> str:
    """A value as the file holds it: NumPy scalars as Python's (-1.0, not np.float64(-1.0)); an empty CSV cell."""
    value = value.item() if isinstance(value, np.generic) else value
    return "empty" if value == "" else repr(value)


def grid(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, int, int]:
    """The rows in (sim, step, particle) order, with every simulation having the same bodies at every step and as
    many steps as the others; returns the sorted frame, the bodies n and the steps per simulation."""
    keys = ["sim", "step", "particle"]
    repeated = np.flatnonzero(frame.duplicated(keys, keep="first").to_numpy())
    if len(repeated):
        row = frame.iloc[repeated[0]]
        raise TrajectoryError(
            f"{path}: row {repeated[0]} repeats (sim, step, particle) = ({row['sim']:g}, {row['step']:g}, "
            f"{row['particle']:g}); expected one row per body per step"
        )
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    counts = frame.groupby(["sim", "step"], sort=True).size()
    for sim, per_step in counts.groupby(level="sim"):
        if per_step.nunique() > 1:
            first, other = per_step.index[0][1], per_step.index[per_step != per_step.iloc[0]][0][1]
            raise TrajectoryError(
                f"{path}: simulation {sim:g} has {per_step.iloc[0]} particles at step {first:g} but "
                f"{per_step.loc[(sim, other)]} at step {other:g}; expected the same bodies throughout"
            )
    bodies = counts.groupby(level="sim").first()
    steps = counts.groupby(level="sim").size()
    for what, per_sim in (("particles", bodies), ("steps", steps)):
        if per_sim.nunique() > 1:
            other = per_sim.index[per_sim != per_sim.iloc[0]][0]
            raise TrajectoryError(
                f"{path}: simulation {per_sim.index[0]:g} has {per_sim.iloc[0]} {what} but simulation {other:g} "
                f"has {per_sim.loc[other]}; expected every simulation to have as many"
            )
    n, n_steps = int(bodies.iloc[0]), int(steps.iloc[0])
    ids = frame["particle"].to_numpy().reshape(len(bodies), n_steps, n)
    changed = np.argwhere((ids != ids[:, :1]).any(axis=2))
    if len(changed):
        k, t = changed[0]
        row = frame.iloc[(k * n_steps + t) * n]
        raise TrajectoryError(
            f"{path}: simulation {row['sim']:g} step {row['step']:g} has particles {ids[k, t].tolist()}, "
            f"expected {ids[k, 0].tolist()} as at its first step"
        )
    return frame, n, n_steps


def check_times(times: np.ndarray, sims: np.ndarray, path: Path, regular: bool) -> None:
    """Time rises with step in each simulation, the same for all its bodies; evenly where differences are taken."""
    rising = np.diff(times, axis=1)
    for k in range(len(sims)):
        if (rising[k] <= 0).any():
            step = int(np.flatnonzero(rising[k] <= 0)[0]) + 1
            raise TrajectoryError(
                f"{path}: simulation {sims[k]:g}: time does not rise with step at its step number {step} "
                f"(time {float(times[k, step - 1]):.6g} then {float(times[k, step]):.6g}); expected steps in time order"
            )
        if regular:
            h = float(np.median(rising[k]))
            uneven = np.flatnonzero(np.abs(rising[k] - h) > REGULAR_RTOL * h)
            if len(uneven):
                raise TrajectoryError(
                    f"{path}: simulation {sims[k]:g}: irregular time steps (step {uneven[0] + 1} follows a gap of "
                    f"{float(rising[k, uneven[0]]):.6g}, the median is {h:.6g}); velocities or accelerations missing "
                    "from the file are computed by finite differences, which need regular steps: give them, or resample"
                )


def derivative(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """d/dt of ``values`` (sims, steps, n, dim) on each simulation's regular grid ``times`` (sims, steps): central
    differences inside, second-order one-sided at the ends (``numpy.gradient``, edge_order 2)."""
    out = np.empty_like(values)
    for k in range(len(values)):
        out[k] = np.gradient(values[k], times[k, 1] - times[k, 0], axis=0, edge_order=2)
    return out


def read_trajectories(path: Path) -> Trajectories:
    """The file checked and completed: every check above, then the missing columns made."""
    frame = read_table(path)
    dim, given = column_groups(frame, path)
    check_values(frame, path)
    frame, n, n_steps = grid(frame, path)
    n_sims = len(frame) // (n * n_steps)
    shape = (n_sims, n_steps, n)
    times = frame["time"].to_numpy(np.float64).reshape(shape)
    sims = frame["sim"].to_numpy()[:: n * n_steps]
    steps = frame["step"].to_numpy()[::n].reshape(n_sims, n_steps)
    if (times != times[..., :1]).any():
        k, t, _ = np.argwhere(times != times[..., :1])[0]
        raise TrajectoryError(
            f"{path}: simulation {sims[k]:g} step {steps[k, t]:g}: its bodies have different times; expected one"
        )
    times = times[..., 0]
    differences = not (given["velocities"] and given["accelerations"])  # a column is made from another
    check_times(times, sims, path, regular=differences)
    if n_steps < 3 and differences:
        raise TrajectoryError(f"{path}: {n_steps} steps per simulation; finite differences need at least 3")

    def block(names: list[str]) -> np.ndarray:
        return frame[names].to_numpy(np.float64).reshape(*shape, len(names))

    axes = AXES[:dim]
    positions = block(list(axes))
    velocities = block([f"v{a}" for a in axes]) if given["velocities"] else derivative(positions, times)
    accelerations = block([f"a{a}" for a in axes]) if given["accelerations"] else derivative(velocities, times)
    constants = [block([c]) if c in frame.columns else np.full((*shape, 1), DEFAULTS[c]) for c in DEFAULTS]
    states = np.concatenate([positions, velocities, *constants], axis=-1)
    made = {
        "velocities": "given" if given["velocities"] else VELOCITY_SCHEME,
        "accelerations": "given" if given["accelerations"] else ACCELERATION_SCHEME,
        **{c: "given" if c in frame.columns else f"absent: {DEFAULTS[c]:g} for every body" for c in DEFAULTS},
    }
    return Trajectories(sims, steps, times, states, accelerations, made)


def held_out_simulations(n_sims: int, fraction: float, seed: int) -> np.ndarray:
    """Positions (0-based, in the file's simulation order) of the test split: a seeded choice of whole simulations,
    round(fraction · sims) of them, at least one and leaving at least one to train on."""
    if n_sims < 2:
        raise ValueError("a train and a test split need at least 2 simulations")
    count = min(n_sims - 1, max(1, round(fraction * n_sims)))
    return np.sort(np.random.default_rng(seed).permutation(n_sims)[:count])


def import_trajectories(spec: TrajectorySpec, outputs: SplitFiles) -> None:
    """Rule ``trajectories``: the file's simulations as the dataset ``spec.dataset``'s train and test splits."""
    path = Path(spec.path)
    data = read_trajectories(path)
    expected = parse_dataset(spec.dataset)
    dim, n = data.accelerations.shape[-1], data.states.shape[2]
    if (dim, n) != (expected.dim, expected.n):
        raise TrajectoryError(
            f"{path}: {dim}D with {n} particles per simulation, but the dataset it is read for, {spec.dataset}, "
            f"is {expected.dim}D with n = {expected.n}: set experiment.dims and experiment.n_bodies to the file's"
        )
    n_sims = len(data.sims)
    if n_sims < 2:
        raise TrajectoryError(f"{path}: {n_sims} simulation; a train and a test split need at least 2")
    test = held_out_simulations(n_sims, spec.test_fraction, spec.split_seed)
    record = {
        "path": str(path),
        "sha256": file_digest(path),
        "simulations": n_sims,
        "test_fraction": spec.test_fraction,
        "split_seed": spec.split_seed,
        "test_sims": data.sims[test].tolist(),
        "columns": data.made,
    }
    log.info(
        "%s: %d simulations × %d steps × %d bodies in %dD; velocities %s, accelerations %s; %d held out for the test "
        "split (seed %d)",
        path, n_sims, data.times.shape[1], n, dim, data.made["velocities"], data.made["accelerations"], len(test),
        spec.split_seed,
    )  # fmt: skip
    chosen = {"train": np.setdiff1d(np.arange(n_sims), test), "test": test}
    for name, target in (("train", outputs.train), ("test", outputs.test)):
        write_split(target, data, chosen[name], _metadata(spec, data, name, len(chosen[name]), record))


def _metadata(spec: TrajectorySpec, data: Trajectories, split: str, n_sims: int, record: dict) -> dict[str, Any]:
    dataset = parse_dataset(spec.dataset)
    steps = data.times.shape[1]
    metadata = {
        "sim": dataset.sim,
        "dim": dataset.dim,
        "n": dataset.n,
        "split_name": split,
        "split_method": "simulations of the file (trajectories.test_sims)",
        "n_sims": n_sims,
        "n_steps": steps,
        "nt": steps,
        "keep_every": 1,
        "dt": float(np.median(np.diff(data.times, axis=1))),
        "trajectories": record,
        "package_versions": package_versions(),
    }
    if spec.law is not None:  # a hypothesis to judge, not a label of the data (data.check_law_sample skips it)
        metadata |= {"law": spec.law, "potential": spec.law["potential"]}
    return metadata


def write_split(path: Path, data: Trajectories, chosen: np.ndarray, metadata: dict[str, Any]) -> None:
    """One split: the chosen simulations, each with its own times, in (sim, step, particle) order."""
    with DatasetWriter(path, metadata) as writer:
        for k in chosen:
            one = slice(k, k + 1)
            writer.write(data.sims[one], data.steps[k], data.times[k], data.states[one], data.accelerations[one])
