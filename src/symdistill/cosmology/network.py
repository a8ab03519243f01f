r"""The cosmology experiment's graph network (paper §4.3): φe on every edge j → i of the radius graph, the messages
summed per halo, φv predicting the halo's overdensity δ_i. Trained as the n-body networks are (Adam, OneCycle,
resumable checkpoints, a NaN or diverged loss stops the job, the GPU when there is one), with the paper's L1 penalty
on the messages.

Inputs are scalars that do not change under translations and rotations of the periodic box, made dimensionless
by :class:`symdistill.halos.HaloUnits`: φe sees the receiver's and the sender's mass, their distance and their
relative speed (``EDGE_INPUTS``); φv sees the halo's mass and speed (``NODE_INPUTS``) beside the summed messages.
These are the variables of the paper's Table 6 formulas, so the symbolic fits of φe and φv are in them too.

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
from torch import Tensor, nn

from symdistill.core.io import atomic_output, package_versions, write_json
from symdistill.core.specs import spec_from
from symdistill.cosmology.catalogue import (
    EDGE_INPUTS,
    NODE_INPUTS,
    HaloGraph,
    HaloUnits,
    SplitSpec,
    edge_features,
    node_features,
    read_written_catalogue,
)
from symdistill.engine.devices import device_name, keep_heap_memory, torch_build, training_device
from symdistill.engine.mlp import mlp
from symdistill.engine.model_files import file_digest, read_saved, resume, save_checkpoint, save_record
from symdistill.engine.training import Run, TrainingError, check_divergence, log_epoch, optimised_run

log = logging.getLogger(__name__)

MODEL_FORMAT = "symdistill.halo_model/1"
EVAL_HALOS = 4096
MONITOR_HALOS = (
    256  # test halos whose incoming edges give each epoch's message std: ~36,000 edges, the same every epoch
)


@dataclass(frozen=True)
class HaloModelSpec:
    """Config ``cosmology.model``: the paper's network is L1 (1e-2) with 100 message components, 500 hidden units
    and two hidden layers per MLP."""

    hidden: int
    layers: int
    loss: str  # mae (the paper's metric) or mse
    msg_dim: int
    reg_weight: float  # α of the L1 penalty on the messages


@dataclass(frozen=True)
class HaloTrainingSettings:
    """Config ``cosmology.training``: an epoch is one pass over the training halos, ``batch_halos`` at a time."""

    batch_halos: int
    divergence_factor: float
    epochs: int
    final_div_factor: float
    max_lr: float
    weight_decay: float


@dataclass(frozen=True)
class HaloTrainingSpec:
    """Everything that determines a trained halo network (the ``halos_train`` rule's params)."""

    model: HaloModelSpec
    training: HaloTrainingSettings
    split: SplitSpec
    units: HaloUnits
    radius: float  # Mpc/h: the graph's
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str = "halos_train params") -> HaloTrainingSpec:
        raw = spec_from(_Params, params, where)
        return cls(
            spec_from(HaloModelSpec, raw.model, f"{where}: model"),
            spec_from(HaloTrainingSettings, raw.training, f"{where}: training"),
            spec_from(SplitSpec, raw.split, f"{where}: split"),
            spec_from(HaloUnits, raw.units, f"{where}: units"),
            raw.radius,
            raw.seed,
        )

    def fingerprint(self, split: str, catalogue_digest: str) -> str:
        return hashlib.sha256(repr((asdict(self), split, catalogue_digest)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Params:
    model: Mapping[str, Any]
    training: Mapping[str, Any]
    split: Mapping[str, Any]
    units: Mapping[str, Any]
    radius: float
    seed: int


# ---------------------------------------------------------------- the network


class Standardise(nn.Module):
    """x → (x − mean) / std with the training data's statistics, fixed (buffers, saved with the weights).

    Why: in the law's units the distances span 0–0.17 and the kernel's edge sits at 0.065; a ReLU MLP fed that
    range needs many epochs before its first layer resolves the edge. Inside φe and φv, so the functions the
    symbolic fits see still take the law's units.
    """

    def __init__(self, features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def fit(self, x: Tensor) -> None:
        self.mean.copy_(x.double().mean(dim=0).float())
        self.std.copy_(x.double().std(dim=0).clamp_min(1e-12).float())

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class HaloNetwork(nn.Module):
    """φe: (M̃_i, M̃_j, r̃, Δṽ) → ``msg_dim`` message components; sum over incoming edges; φv: (M̃_i, |ṽ_i|, Σ) → δ."""

    def __init__(self, spec: HaloModelSpec):
        super().__init__()
        self.msg_dim = spec.msg_dim
        self.edge_model = nn.Sequential(
            Standardise(len(EDGE_INPUTS)), mlp(len(EDGE_INPUTS), spec.hidden, spec.msg_dim, layers=spec.layers)
        )  # φe
        self.node_input = Standardise(len(NODE_INPUTS))
        self.node_model = mlp(len(NODE_INPUTS) + spec.msg_dim, spec.hidden, 1, layers=spec.layers)  # φv

    def standardise(self, nodes: Tensor, edges: Tensor) -> None:
        """Fix the input scales from the catalogue's halos and edges (before training)."""
        self.edge_model[0].fit(edges)
        self.node_input.fit(nodes)

    def forward(self, nodes: Tensor, edges: Tensor, owner: Tensor) -> tuple[Tensor, Tensor]:
        """δ̂ of the ``len(nodes)`` receiving halos and the messages of their incoming ``edges``; ``owner[e]``
        is the row of ``nodes`` that edge e arrives at."""
        messages = self.edge_model(edges)
        summed = self.summed(messages, owner, len(nodes))
        return self.node(nodes, summed), messages

    def summed(self, messages: Tensor, owner: Tensor, halos: int) -> Tensor:
        """Each of ``halos`` receiving halos' sum of its incoming messages (``owner[e]``: edge e's halo)."""
        return messages.new_zeros(halos, self.msg_dim).index_add_(0, owner, messages)

    def node(self, nodes: Tensor, summed: Tensor) -> Tensor:
        """φv: δ̂ from the node's own inputs and its summed messages."""
        return self.node_model(torch.cat([self.node_input(nodes), summed], dim=-1)).squeeze(-1)


@dataclass(frozen=True)
class DeviceCatalogue:
    """A catalogue's features, targets and graph slices on the training device, and the slices' offsets on the host.

    A batch's edge count sizes its tensors; read from the device it would stop the host at every step until the
    GPU caught up (twice: ``int(counts.sum())`` and ``repeat_interleave`` without ``output_size``). The host copy
    of the offsets gives it without asking the device, so batch indices live on the host (``TrainingHalos``).
    """

    nodes: Tensor  # (n, 2)
    edges: Tensor  # (E, 4)
    offsets: Tensor  # (n + 1,)
    delta: Tensor  # (n,)
    host_offsets: Tensor  # (n + 1,) on the CPU

    @classmethod
    def of(cls, frame: pd.DataFrame, graph: HaloGraph, units: HaloUnits, device: torch.device) -> DeviceCatalogue:
        return cls(
            torch.from_numpy(node_features(frame, units)).to(device),
            torch.from_numpy(edge_features(frame, graph, units)).to(device),
            torch.from_numpy(graph.offsets).to(device),
            torch.from_numpy(frame["delta"].to_numpy(np.float32)).to(device),
            torch.from_numpy(graph.offsets),
        )

    def batch(self, halos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The node features of ``halos`` (indices on the host), the features of all their incoming edges, and
        each edge's row; nothing read back from the device."""
        total = int((self.host_offsets[halos + 1] - self.host_offsets[halos]).sum())  # host arithmetic
        halos = halos.to(self.nodes.device)
        starts = self.offsets[halos]
        counts = self.offsets[halos + 1] - starts
        owner = torch.repeat_interleave(torch.arange(len(halos), device=halos.device), counts, output_size=total)
        first = torch.cumsum(counts, 0) - counts  # where each halo's edges begin in the batch
        index = torch.arange(total, device=halos.device) - first[owner] + starts[owner]
        return self.nodes[halos], self.edges[index], owner

    def targets(self, halos: Tensor) -> Tensor:
        """δ of ``halos`` (indices on the host), on the device."""
        return self.delta[halos.to(self.delta.device)]


def loss_mean(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    """The training loss over a batch's halos: mean absolute error (the paper's metric) or mean squared error."""
    err = pred - target
    if kind == "mae":
        return err.abs().mean()
    if kind == "mse":
        return (err**2).mean()
    raise ValueError(f"unknown loss {kind!r}; expected mae or mse")


@torch.no_grad()
def predict(model: HaloNetwork, data: DeviceCatalogue, halos: Tensor) -> Tensor:
    """δ̂ of ``halos``, in batches of ``EVAL_HALOS``."""
    out = [model(*data.batch(halos[i : i + EVAL_HALOS]))[0] for i in range(0, len(halos), EVAL_HALOS)]
    return torch.cat(out) if out else data.delta.new_zeros(0)


@torch.no_grad()
def network_loss(model: HaloNetwork, data: DeviceCatalogue, halos: Tensor, kind: str = "mae") -> float:
    """``loss_mean`` over ``halos``: by default the paper's metric, mean |δ − δ̂|."""
    return float(loss_mean(predict(model, data, halos).double(), data.targets(halos).double(), kind))


@torch.no_grad()
def message_std(model: HaloNetwork, data: DeviceCatalogue, halos: Tensor) -> list[float]:
    """Std of each message component over the incoming edges of ``halos``: the sparsity the L1 penalty buys."""
    _, edges, _ = data.batch(halos)
    return model.edge_model(edges).double().std(dim=0).tolist()


@torch.no_grad()
def summed_messages(model: HaloNetwork, data: DeviceCatalogue, components: list[int]) -> tuple[Tensor, Tensor]:
    """Every halo's sum of ``components`` over all its incoming edges, and the network's δ̂ (full messages)."""
    sums, predictions = [], []
    n = len(data.nodes)
    for start in range(0, n, EVAL_HALOS):
        halos = torch.arange(start, min(start + EVAL_HALOS, n))
        nodes, edges, owner = data.batch(halos)
        summed = model.summed(model.edge_model(edges), owner, len(halos))
        sums.append(summed[:, components])
        predictions.append(model.node(nodes, summed))
    return torch.cat(sums), torch.cat(predictions)


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class HaloOutputs:
    """The ``halos_train`` rule's outputs."""

    model: Path
    history: Path
    metrics: Path

    @classmethod
    def of(cls, output: Any) -> HaloOutputs:
        """From the rule's named outputs."""
        return cls(Path(output.model), Path(output.history), Path(output.metrics))

    @property
    def checkpoint(self) -> Path:
        return self.model.with_name("checkpoint.pt")


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
    outputs: HaloOutputs,
    threads: int = 1,
    device: str = "auto",
) -> None:
    """Rule ``halos_train``: the GN of ``cell`` ({catalogue}/{split}) → model.pt, history.parquet, metrics.json;
    resumes from checkpoint.pt beside model.pt when it was written for the same spec and catalogue. ``device``:
    config ``cosmology.training.device`` (``train.training_device``)."""
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
    torch.manual_seed(spec.seed)
    steps = math.ceil(len(halos.train) / spec.training.batch_halos)
    network = HaloNetwork(spec.model).to(device)
    network.standardise(data.nodes, data.edges)
    run = optimised_run(network, spec.training, steps)
    resume(outputs.checkpoint, run, fingerprint)
    started = time.perf_counter()
    if run.initial_loss is None:
        run.model.eval()
        run.initial_loss = network_loss(run.model, data, halos.train, spec.model.loss)  # the training loss's kind
    while run.epoch < spec.training.epochs:
        record_epoch(run, spec, data, halos, cell)
        save_checkpoint(outputs.checkpoint, run, fingerprint, time.perf_counter() - started)
    run.model.eval()
    scores = {
        "train_mae": network_loss(run.model, data, halos.train),
        "test_mae": network_loss(run.model, data, halos.test),
    }
    if not all(math.isfinite(v) for v in scores.values()):
        raise TrainingError(f"{cell}: non-finite errors {scores}; no model written")
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
    outputs: HaloOutputs,
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
