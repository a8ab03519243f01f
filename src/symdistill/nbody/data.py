"""Simulation datasets as Parquet: the long layout of the DAG contract, and its one-call reader.

One row per (sim, step, particle) with the node features and the acceleration target. The provenance
(system, dt, nt, keep_every, seeds, split, package versions) sits in the file's schema metadata under the
key ``symdistill``, so a file carries everything needed to tell what it is and how it was made.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from symdistill.core.bundles import Files
from symdistill.core.io import InputError, atomic_output, check_finite, read_provenance
from symdistill.core.names import Dataset, check_dataset_identity
from symdistill.nbody import laws

FORMAT = "symdistill.dataset/1"
META_KEY = b"symdistill"
AXES = ("x", "y", "z")


@dataclass(frozen=True)
class SplitFiles(Files):
    """A dataset's two splits: rule ``simulate``'s outputs, and the inputs of every rule that reads both."""

    train: Path
    test: Path


class DatasetError(InputError):
    """A dataset file is missing, truncated, foreign or inconsistent with its own metadata."""


def feature_names(dim: int) -> list[str]:
    """Node features in the reference's order: positions, velocities, charge, mass."""
    return [*AXES[:dim], *(f"v{a}" for a in AXES[:dim]), "q", "m"]


def target_names(dim: int) -> list[str]:
    return [f"a{a}" for a in AXES[:dim]]


def dataset_schema(dim: int, metadata: dict[str, Any] | None = None) -> pa.Schema:
    fields = [
        pa.field("sim", pa.int32()),
        pa.field("step", pa.int32()),
        pa.field("time", pa.float64()),
        pa.field("particle", pa.int16()),
        *(pa.field(name, pa.float32()) for name in feature_names(dim) + target_names(dim)),
    ]
    meta = None if metadata is None else {META_KEY: json.dumps(metadata, sort_keys=True).encode()}
    return pa.schema(fields, metadata=meta)


class DatasetWriter:
    """Streams trajectory chunks into one Parquet file, renamed into place only when complete."""

    def __init__(self, path: str | os.PathLike[str], metadata: dict[str, Any]):
        self.metadata = {"format": FORMAT, **metadata}
        self.dim = int(metadata["dim"])
        self.n = int(metadata["n"])
        self._atomic = atomic_output(path)
        self._rows = 0

    def __enter__(self) -> DatasetWriter:
        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, dataset_schema(self.dim, self.metadata), compression="zstd")
        return self

    def write(
        self, sims: np.ndarray, steps: np.ndarray, times: np.ndarray, states: np.ndarray, accel: np.ndarray
    ) -> None:
        """Append ``states`` (sims, steps, n, f) and ``accel`` (sims, steps, n, dim) in (sim, step, particle) order."""
        n_sims, n_steps, n, _ = states.shape
        rows = n_sims * n_steps * n
        columns: dict[str, Any] = {
            "sim": np.repeat(sims.astype(np.int32), n_steps * n),
            "step": np.tile(np.repeat(steps.astype(np.int32), n), n_sims),
            "time": np.tile(np.repeat(times.astype(np.float64), n), n_sims),
            "particle": np.tile(np.arange(n, dtype=np.int16), n_sims * n_steps),
        }
        flat_states = states.reshape(rows, -1).astype(np.float32)
        flat_accel = accel.reshape(rows, -1).astype(np.float32)
        for k, name in enumerate(feature_names(self.dim)):
            columns[name] = flat_states[:, k]
        for k, name in enumerate(target_names(self.dim)):
            columns[name] = flat_accel[:, k]
        self._writer.write_table(pa.table(columns, schema=self._writer.schema))
        self._rows += rows

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._writer.close()
        expected = self.metadata["n_sims"] * self.metadata["n_steps"] * self.n
        if exc is None and self._rows != expected:
            exc = DatasetError(f"wrote {self._rows} rows, metadata promises {expected}")
            self._atomic.__exit__(type(exc), exc, None)
            raise exc
        self._atomic.__exit__(exc_type, exc, tb)


@dataclass(frozen=True)
class Split:
    """One split as arrays: ``x`` (samples, n, features), ``y`` (samples, n, dim), one sample per (sim, step)."""

    x: np.ndarray
    y: np.ndarray
    sim: np.ndarray
    step: np.ndarray
    metadata: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.metadata["dim"])

    @property
    def n(self) -> int:
        return int(self.metadata["n"])


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of a dataset file; raises DatasetError naming the file if it is not one of ours.

    Reading it makes the dataset's pair law (``law``) known to this process, so that every stage downstream of
    the simulator (messages, judge, report) uses the law the data obey, a researcher's own as a built-in."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    meta = read_provenance(path, "dataset", FORMAT, DatasetError)
    if "law" in meta:
        recorded = meta["law"].get("name") if isinstance(meta["law"], dict) else None
        if recorded != meta.get("sim"):
            raise DatasetError(
                f"{path}: a dataset of system {meta.get('sim')!r} that records the pair law of {recorded!r}: "
                "relabelled or corrupt; rebuild it with `-R simulate`"
            )
        try:
            laws.register(laws.PairLaw(**meta["law"]))
        except (TypeError, ValueError) as err:
            raise DatasetError(f"{path}: its recorded pair law 'law' cannot be used: {err}") from None
    return meta


def read_split(path: str | os.PathLike[str]) -> Split:
    """Load a split in one call, checking that it is the dataset its path names, its columns, that its rows
    match its metadata and that every feature and target is finite."""
    meta = read_metadata(path)
    dim, n = int(meta["dim"]), int(meta["n"])
    trained_on = meta["ood"]["dataset"] if "ood" in meta else Dataset(meta["sim"], dim, n).name
    check_dataset_identity(path, trained_on, meta["split_name"])
    expected = dataset_schema(dim)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DatasetError(f"{path}: could not read the data pages (truncated?): {err}") from None
    if table.schema.names != expected.names:
        raise DatasetError(f"{path}: columns {table.schema.names}, expected {expected.names} for dim={dim}")
    rows = meta["n_sims"] * meta["n_steps"] * n
    if table.num_rows != rows:
        raise DatasetError(
            f"{path}: {table.num_rows} rows, but its metadata promises n_sims × n_steps × n = "
            f"{meta['n_sims']} × {meta['n_steps']} × {n} = {rows}"
        )
    particle = table.column("particle").to_numpy()
    if not np.array_equal(particle.reshape(-1, n), np.broadcast_to(np.arange(n), (rows // n, n))):
        raise DatasetError(f"{path}: rows are not grouped as (sim, step, particle 0..{n - 1})")
    samples = rows // n
    columns = {c: table.column(c).to_numpy() for c in ("time", *feature_names(dim), *target_names(dim))}
    check_finite(path, columns, rule_of(meta))
    x = np.stack([columns[c] for c in feature_names(dim)], axis=-1).reshape(samples, n, -1)
    y = np.stack([columns[c] for c in target_names(dim)], axis=-1).reshape(samples, n, dim)
    sim = table.column("sim").to_numpy()[::n]
    step = table.column("step").to_numpy()[::n]
    split = Split(x=x, y=y, sim=sim, step=step, metadata=meta)
    if "trajectories" not in meta:  # a system given as data: its law, if any, is a hypothesis the judge tests
        check_law_sample(path, split)
    return split


def stored_times(path: str | os.PathLike[str], split: Split) -> np.ndarray:
    """The time of each (sim, step) sample of ``split``, read from its file ``path``: a Split keeps none."""
    return pq.read_table(path, columns=["time"]).column("time").to_numpy()[:: split.n]


def has_law(meta: dict[str, Any]) -> bool:
    """Whether a dataset records a pair law: every simulated one does; one given as data only with ``law:``. The
    stages that need a law (the message table's true forces, Table 1's force fit, the judge's verdict, the energy
    drift) leave it out without one."""
    return "law" in meta


def rule_of(meta: dict[str, Any]) -> str:
    """The rule that writes a dataset, named in its read errors: ``simulate``, ``trajectories`` (a system given as
    data), ``ood`` for an OOD set, or the rule an OOD set records (``hypothesis_ood``'s)."""
    if "ood" in meta:
        return str(meta.get("rule", "ood"))
    return "trajectories" if "trajectories" in meta else "simulate"


LAW_SAMPLES = 16  # snapshots whose accelerations are recomputed from the recorded law (spread over the file)
LAW_RTOL = 1e-3  # the targets are float32 roundings of float64 accelerations; positions are float32 too
LAW_MISMATCH = 0.01  # the share of sampled bodies allowed outside the tolerance (a band edge, a rounding)


def check_law_sample(path: str | os.PathLike[str], split: Split) -> None:
    """The targets of a sample of snapshots are the accelerations the recorded pair law gives at their states.

    Labels alone say nothing of the numbers: spring's data relabelled as r2's (system and law) passed every stage.
    The simulator's own acceleration (``systems.acceleration``, JAX, float64) is recomputed on ``LAW_SAMPLES``
    snapshots; more than ``LAW_MISMATCH`` of their bodies off by more than ``LAW_RTOL`` is an error.
    """
    samples = np.unique(np.linspace(0, len(split.x) - 1, min(LAW_SAMPLES, len(split.x))).astype(int))
    expected = _law_accelerations(split.metadata["sim"], split.x[samples], split.dim)
    recorded = split.y[samples].astype(np.float64)
    scale = float(np.sqrt(np.mean(recorded**2))) or 1.0
    off = ~np.isclose(expected, recorded, rtol=LAW_RTOL, atol=LAW_RTOL * scale).all(axis=-1)
    if off.mean() > LAW_MISMATCH:
        worst = float(np.max(np.abs(expected - recorded)))
        raise DatasetError(
            f"{path}: its accelerations do not follow its recorded pair law ({split.metadata['sim']}: "
            f"U = {laws.law_of(split.metadata['sim']).potential}): {int(off.sum())} of {off.size} bodies of "
            f"{len(samples)} sampled snapshots differ (by up to {worst:.3g}): relabelled or corrupt; rebuild it "
            "with `-R simulate`"
        )


def _law_accelerations(sim: str, x: np.ndarray, dim: int) -> np.ndarray:
    """(samples, n, dim) accelerations of states ``x`` (samples, n, features) under ``sim``'s registered law."""
    import jax  # here, not at import: the report and the Snakefile read datasets' provenance without JAX

    with jax.enable_x64(True):
        nodes = jax.numpy.asarray(np.moveaxis(x.astype(np.float64), 0, -1))  # (n, features, samples)
        return np.moveaxis(np.asarray(_jitted_acceleration()(sim, nodes, dim)), -1, 0)


@functools.cache
def _jitted_acceleration() -> Any:
    import jax

    from symdistill.nbody.systems import acceleration

    return jax.jit(acceleration, static_argnums=(0, 2))
