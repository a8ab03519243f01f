"""Rule ``halos_train``: the cosmology network trained on one split of a catalogue, as the n-body networks are
(``symdistill.engine``: Adam, OneCycle, resumable checkpoints, a NaN or diverged loss stops the job, the GPU when
there is one), with the paper's L1 penalty on the messages.

The graph is one catalogue, not many small systems: a batch is a set of receiving halos with all their incoming
edges (the edges are sorted by receiver, so each halo's are one slice), and a test halo keeps sending messages to
its training neighbours: the split divides the targets, not the graph.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from symdistill.core.io import atomic_output, file_digest, package_versions, write_json
from symdistill.core.specs import Spec
from symdistill.cosmology.catalogue import HaloUnits, SplitSpec, read_written_catalogue
from symdistill.cosmology.graph import HaloGraph
from symdistill.cosmology.network import (
    DeviceCatalogue,
    HaloModelSpec,
    HaloNetwork,
    loss_mean,
    message_std,
    network_loss,
)
from symdistill.engine.devices import device_name, keep_heap_memory, torch_build, training_device
from symdistill.engine.model_files import read_saved, resume, save_checkpoint, save_record
from symdistill.engine.training import Run, TrainingError, TrainingOutputs, check_divergence, log_epoch, optimised_run

log = logging.getLogger(__name__)

MODEL_FORMAT = "symdistill.halo_model/1"
MONITOR_HALOS = (
    256  # test halos whose incoming edges give each epoch's message std: ~36,000 edges, the same every epoch
)


@dataclass(frozen=True)
class HaloTrainingSettings(Spec):
    """Config ``cosmology.training``: an epoch is one pass over the training halos, ``batch_halos`` at a time."""

    batch_halos: int
    divergence_factor: float
    epochs: int
    final_div_factor: float
    max_lr: float
    weight_decay: float


@dataclass(frozen=True)
class HaloTrainingSpec(Spec):
    """Everything that determines a trained halo network (the ``halos_train`` rule's params)."""

    model: HaloModelSpec
    training: HaloTrainingSettings
    split: SplitSpec
    units: HaloUnits
    radius: float  # Mpc/h: the graph's
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str | None = None) -> HaloTrainingSpec:
        where = where or "halos_train params"
        raw = _Params.from_params(params, where)
        return cls(
            HaloModelSpec.from_params(raw.model, f"{where}: model"),
            HaloTrainingSettings.from_params(raw.training, f"{where}: training"),
            SplitSpec.from_params(raw.split, f"{where}: split"),
            HaloUnits.from_params(raw.units, f"{where}: units"),
            raw.radius,
            raw.seed,
        )

    def fingerprint(self, split: str, catalogue_digest: str) -> str:
        return hashlib.sha256(repr((asdict(self), split, catalogue_digest)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Params(Spec):
    model: Mapping[str, Any]
    training: Mapping[str, Any]
    split: Mapping[str, Any]
    units: Mapping[str, Any]
    radius: float
    seed: int


@dataclass(frozen=True)
class TrainingHalos:
    """Which halos train and which test, as index tensors, and a fixed few whose messages are monitored."""

    train: Tensor  # on the host, as every batch's indices (DeviceCatalogue.batch)
    test: Tensor
    monitor: Tensor

    @classmethod
    def of(cls, delta: np.ndarray, split: str, spec: SplitSpec) -> TrainingHalos:
        mask = spec.training_halos(delta, split)
        train, test = np.flatnonzero(mask), np.flatnonzero(~mask)
        monitor = np.random.default_rng(0).permutation(test)[:MONITOR_HALOS]
        return cls(*(torch.from_numpy(a) for a in (train, test, monitor)))


def train_epoch(run: Run, spec: HaloTrainingSpec, data: DeviceCatalogue, train: Tensor) -> float:
    """One pass over the training halos in a fresh order; returns the mean loss (without the penalty)."""
    batch = spec.training.batch_halos
    order = train[torch.randperm(len(train))]  # the CPU generator, whatever device trains: indices stay on the host
    total, count = data.delta.new_zeros((), dtype=torch.float64), 0
    run.model.train()
    for start in range(0, len(order), batch):
        halos = order[start : start + batch]
        nodes, edges, owner = data.batch(halos)
        pred, messages = run.model(nodes, edges, owner)
        loss = loss_mean(pred, data.targets(halos), spec.model.loss)
        penalty = spec.model.reg_weight * messages.abs().sum() / len(halos)
        run.optimizer.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        run.optimizer.step()
        run.scheduler.step()
        total += loss.detach().double() * len(halos)
        count += len(halos)
    return float(total) / count


def train_halo_network(
    spec: HaloTrainingSpec,
    cell: str,
    catalogue_path: str | Path,
    outputs: TrainingOutputs,
    threads: int = 1,
    device: str = "auto",
) -> None:
    """Rule ``halos_train``: the GN of ``cell`` ({catalogue}/{split}) → model.pt, history.parquet, metrics.json;
    resumes from checkpoint.pt beside model.pt when it was written for the same spec and catalogue. ``device``:
    config ``cosmology.training.device`` (``engine.devices.training_device``)."""
    split = cell.rsplit("/", 1)[-1]
    torch.set_num_threads(threads)
    keep_heap_memory()
    device = training_device(device)
    frame, meta = read_written_catalogue(catalogue_path)
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), meta["box"], spec.radius)
    data = DeviceCatalogue.of(frame, graph, spec.units, device)
    halos = TrainingHalos.of(frame["delta"].to_numpy(), split, spec.split)
    log.info(
        "%s: %d halos (%d train, %d test), %d edges; device %s (%s), %d threads",
        cell,
        graph.n,
        len(halos.train),
        len(halos.test),
        len(graph.senders),
        device,
        device_name(device),
        threads,
    )
    digest = file_digest(catalogue_path)
    fingerprint = spec.fingerprint(split, digest)
    run = new_halo_run(spec, data, halos, device)
    resume(outputs.checkpoint, run, fingerprint)
    started = time.perf_counter()
    if run.initial_loss is None:
        run.model.eval()
        run.initial_loss = network_loss(run.model, data, halos.train, spec.model.loss)  # the training loss's kind
    while run.epoch < spec.training.epochs:
        record_epoch(run, spec, data, halos, cell)
        save_checkpoint(outputs.checkpoint, run, fingerprint, time.perf_counter() - started)
    scores = final_scores(run, data, halos, cell)
    record = {
        "format": MODEL_FORMAT,
        "cell": cell,
        "state_dict": run.model.state_dict(),
        "spec": asdict(spec),
        "split": split,
        "catalogue_sha256": digest,
        "hardware": {"device": device.type, "device_name": device_name(device), "threads": threads},
        "package_versions": package_versions(),
    }
    wall = run.earlier_seconds + time.perf_counter() - started
    write_halo_outputs(run, record, scores, halos, len(graph.senders), wall, outputs)
    outputs.checkpoint.unlink(missing_ok=True)


def new_halo_run(spec: HaloTrainingSpec, data: DeviceCatalogue, halos: TrainingHalos, device: torch.device) -> Run:
    """A fresh run: the network seeded, its input scales fixed from the catalogue, the recipe's optimiser."""
    torch.manual_seed(spec.seed)
    steps = math.ceil(len(halos.train) / spec.training.batch_halos)
    network = HaloNetwork(spec.model).to(device)
    network.standardise(data.nodes, data.edges)
    return optimised_run(network, spec.training, steps)


def final_scores(run: Run, data: DeviceCatalogue, halos: TrainingHalos, cell: str) -> dict[str, float]:
    """The trained network's mean |δ − δ̂| on the training and the test halos; a non-finite one stops the job."""
    run.model.eval()
    scores = {
        "train_mae": network_loss(run.model, data, halos.train),
        "test_mae": network_loss(run.model, data, halos.test),
    }
    if not all(math.isfinite(v) for v in scores.values()):
        raise TrainingError(f"{cell}: non-finite errors {scores}; no model written")
    return scores


def record_epoch(run: Run, spec: HaloTrainingSpec, data: DeviceCatalogue, halos: TrainingHalos, cell: str) -> None:
    """One epoch, stopped by a non-finite or diverged loss, then its line of history."""
    epoch = run.epoch + 1
    t0 = time.perf_counter()
    train_loss = train_epoch(run, spec, data, halos.train)
    seconds = time.perf_counter() - t0
    if not math.isfinite(train_loss):
        raise TrainingError(f"{cell}: the training loss became {train_loss} in epoch {epoch}; no model written")
    check_divergence(cell, epoch, train_loss, run.initial_loss, spec.training.divergence_factor)
    run.model.eval()
    run.history.append(
        {
            "epoch": epoch,
            "train_loss": train_loss,
            "test_loss": network_loss(run.model, data, halos.test, spec.model.loss),
            "lr": run.scheduler.get_last_lr()[0],
            "halos": len(halos.train) * epoch,
            "seconds": seconds,
            "message_std": message_std(run.model, data, halos.monitor),
        }
    )
    run.epoch = epoch
    log_epoch(cell, run.history[-1], spec.training.epochs, f"{len(halos.train) / seconds:.0f} halos/s")


def write_halo_outputs(
    run: Run,
    record: dict[str, Any],
    scores: dict[str, float],
    halos: TrainingHalos,
    edges: int,
    wall: float,
    outputs: TrainingOutputs,
) -> None:
    """model.pt (byte-reproducible: ``save_record``), history.parquet and metrics.json, each atomically."""
    save_record(outputs.model, record)
    history = pd.DataFrame(run.history)
    with atomic_output(outputs.history) as tmp:
        history.to_parquet(tmp, index=False)
    train_seconds = float(history["seconds"].sum())
    write_json(
        outputs.metrics,
        {
            "cell": record["cell"],
            **scores,
            "train_halos": len(halos.train),
            "test_halos": len(halos.test),
            "edges": edges,
            "epochs": len(history),
            "train_seconds": train_seconds,
            "halos_per_second": float(history["halos"].iloc[-1]) / train_seconds if train_seconds else None,
            "wall_seconds": wall,
            **record["hardware"],
            **torch_build(),
        },
    )


def load_halo_network(path: str | Path, device: torch.device | str = "cpu") -> tuple[HaloNetwork, dict[str, Any]]:
    """A trained halo network (eval mode) and its record; refuses a file of another format by name."""
    record = read_saved(path, MODEL_FORMAT, "a symdistill halo network", device)
    spec = HaloTrainingSpec.from_params(record["spec"], f"{path}: spec")
    model = HaloNetwork(spec.model).to(device)
    model.load_state_dict(record["state_dict"])
    return model.eval(), {**record, "spec": spec}
