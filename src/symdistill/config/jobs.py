"""Cluster job sizes from the work a job does: minutes and memory of the two training rules.

A flat 720-minute request made every training job wait in the queue for a 12-hour slot, whatever its budget: on
most clusters a short request starts sooner (backfill). So ``train`` asks for the time its budget takes at a
conservative rate, and for memory by its data; ``halos_train`` likewise by its halos. Both are upper bounds for
a GPU node: the rates are the CPU's (docs/benchmarks.md), which a GPU beats, so a job that falls back to the CPU on
purpose (``training.device: cpu``) still fits. A job that ran out of time is resumed from its last epoch's
checkpoint by the profile's retries.

Light on purpose (no NumPy or PyTorch): the Snakefile calls it for every job's resources.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from symdistill.config.params import given_as_data, model_params, simulation_params
from symdistill.core.names import parse_dataset

# FLOP/s of a training step on two CPU cores of our machines, halved (docs/benchmarks.md: 4,063 graphs/s of
# 20.4 MFLOP, 83 GFLOP/s): a floor for a GPU node, and for the CPU threads its job gets (profiles/slurm: 4).
TRAIN_FLOPS_PER_SECOND = 4.0e10
HALOS_PER_SECOND_AT_500 = 384  # the cosmology network at hidden 500 on 2 cores (docs/benchmarks.md): the same floor
MARGIN = 1.5  # on the estimate, for the evaluations it leaves out (monitor and test losses) and a slow node
START_MINUTES = 10  # job start, imports, data loading, writing outputs
BASE_MB = 3000  # the interpreter, torch and the network
FEATURE_BYTES = 4  # float32
DATA_EXPANSION = 8  # a trajectory file's bytes → arrays: Parquet compresses float32 columns up to ~4×, CSV less


def mlp_macs(sizes: list[int]) -> int:
    """Multiply-accumulates of one pass through an MLP with these layer widths."""
    return sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))


def flops_per_graph(model: Mapping[str, Any], dim: int, n: int) -> float:
    """A training step's FLOP per graph, forward and backward (3 × the forward's 2 FLOP per multiply-add), of the
    paper's GN: φe (3 hidden layers) on each of the n(n − 1) edges, φv on each of the n nodes."""
    features, hidden, messages = 2 * dim + 2, model["hidden"], model["msg_dim"]
    edge = mlp_macs([2 * features, hidden, hidden, hidden, messages])
    node = mlp_macs([features + messages, hidden, hidden, hidden, dim])
    return 6.0 * (n * (n - 1) * edge + n * node)


def training_minutes(config: Mapping[str, Any], dataset: str, model: str) -> int:
    """The ``train`` job's runtime: its budget's graphs at ``TRAIN_FLOPS_PER_SECOND``, with margin and start-up."""
    params = model_params(config, dataset, model)
    ds = parse_dataset(dataset)
    graphs = params["training"]["epochs"] * params["training"]["graphs_per_epoch"]
    seconds = graphs * flops_per_graph(params["model"], ds.dim, ds.n) / TRAIN_FLOPS_PER_SECOND
    return START_MINUTES + math.ceil(MARGIN * seconds / 60)


def training_mb(config: Mapping[str, Any], dataset: str) -> int:
    """The ``train`` job's memory: both splits as float32 arrays four times over (Parquet's columns, the arrays,
    the tensors and a batch's copies), plus the process (measured: 2.25 GiB for the paper's n = 8, 3D set)."""
    ds = parse_dataset(dataset)
    if given_as_data(config, ds.sim):  # its size is the file's: 8 float64 values per number read, four times over
        size = Path(config["systems"][ds.sim]["trajectories"]).stat().st_size
        return BASE_MB + math.ceil(4 * DATA_EXPANSION * size / 1e6)
    sim = simulation_params(config, dataset)
    snapshots = (sim["train_sims"] + sim["test_sims"]) * (sim["nt"] // sim["keep_every"])
    values = snapshots * sim["n"] * (3 * sim["dim"] + 2)  # positions, velocities, charge, mass, accelerations
    return BASE_MB + math.ceil(4 * values * FEATURE_BYTES / 1e6)


QUIJOTE_HALOS = 215_854  # the paper's catalogue: the size assumed for a catalogue not made by halos_synthetic


def halo_training_minutes(config: Mapping[str, Any]) -> int:
    """The ``halos_train`` job's runtime: ``epochs`` passes over the catalogue's halos (the synthetic catalogue's
    count, else Quijote's; a larger catalogue of your own: raise it with the profile's set-resources)."""
    cosmo = config["cosmology"]
    halos = cosmo["synthetic"]["n_halos"] if cosmo["catalogue"] == "synthetic" else QUIJOTE_HALOS
    rate = HALOS_PER_SECOND_AT_500 * (500 / cosmo["model"]["hidden"]) ** 2
    seconds = cosmo["training"]["epochs"] * halos / rate
    return START_MINUTES + math.ceil(MARGIN * seconds / 60)
