"""Training one cell ``{dataset}/{model}/seed{seed}``: the notebook's recipe, resumable, fast on CPU and GPU.

Recipe (paper_spec §2): Adam (coupled weight decay), OneCycle stepped per batch, an "epoch" of
``graphs_per_epoch`` graphs drawn from a fresh shuffle, one N(0, σ²) shift of all positions per batch, and
the objective ((loss + regulariser) / graphs) with the loss summed over nodes and dimensions.

Whole splits live on the device as (graphs, nodes, features) tensors and a batch is a slice of a
permutation, so a step moves nothing between host and device; the loss is read back once per epoch.

Deliberate difference: the reference regularises only the first graph of each batch (scaled by the batch
size), on un-augmented positions; by default every graph of the batch is regularised, reusing the
messages of the forward pass. ``reg_scope: first_graph`` restores the reference's behaviour.
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
from symdistill.core.names import check_cell_identity
from symdistill.core.specs import Spec
from symdistill.engine.devices import device_name, keep_heap_memory, torch_build, training_device
from symdistill.engine.model_files import read_saved, resume, save_checkpoint, save_record
from symdistill.engine.training import Run, TrainingError, TrainingOutputs, check_divergence, log_epoch, optimised_run
from symdistill.nbody.data import Split, SplitFiles, read_split
from symdistill.nbody.models import EdgeOutput, Graph, ModelSpec, Network, build_model

log = logging.getLogger(__name__)

MODEL_FORMAT = "symdistill.model/1"
EVAL_BATCH = 1024


@dataclass(frozen=True)
class TrainingSettings(Spec):
    """The optimiser's budget and schedule: config ``training`` with a variant's overrides, batch size resolved.

    Fields in alphabetical order, as ``symdistill.config.params.model_params`` sorts them (see ``ModelSpec``).
    """

    augment_sigma: float  # σ of the one random shift of all positions per batch
    batch_size: int
    divergence_factor: float  # an epoch's loss above this × the untrained network's stops the run
    epochs: int
    final_div_factor: float
    graphs_per_epoch: int
    max_lr: float
    monitor_graphs: int  # test graphs evaluated after each epoch (history.parquet)
    weight_decay: float


@dataclass(frozen=True)
class TrainingSpec(Spec):
    """Everything that determines a trained model: ``symdistill.config.params.model_params`` plus the seed."""

    model: ModelSpec
    training: TrainingSettings
    system: dict[str, Any]  # sim, dim, n
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str | None = None) -> TrainingSpec:
        """The spec from the rule's params (plain data, as Snakemake hashes them); every key checked by name."""
        where = where or "train params"
        params = _Params.from_params(params, where)
        return cls(
            ModelSpec.from_params(params.model, f"{where}: model"),
            TrainingSettings.from_params(params.training, f"{where}: training"),
            dict(params.system),
            params.seed,
        )

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.training.graphs_per_epoch // self.training.batch_size)

    def fingerprint(self, *data: str) -> str:
        text = repr((self.model.record(), asdict(self.training), self.system, self.seed, data))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Params(Spec):
    """The shape of the train rule's params, before its parts are typed."""

    model: Mapping[str, Any]
    training: Mapping[str, Any]
    system: Mapping[str, Any]
    seed: int


# ---------------------------------------------------------------- objective


def loss_sum(pred: Tensor, target: Tensor, kind: str = "mae", delta: float = 1.0) -> Tensor:
    """Σ over graphs, nodes and dimensions of the per-component loss (the reference sums, not averages)."""
    err = pred - target
    if kind == "mae":
        return err.abs().sum()
    if kind == "mse":
        return (err**2).sum()
    if kind == "huber":
        return torch.nn.functional.huber_loss(pred, target, reduction="sum", delta=delta)
    raise ValueError(f"unknown loss {kind!r}; expected mae, mse or huber")


def message_penalty(kind: str, edges: EdgeOutput) -> Tensor:
    """Σ over edges of the L1 norm of the messages, or of their KL divergence to N(0, 1); for FlatHGN
    (``hamiltonian``) Σ E_node² + Σ (∂H/∂(charge, mass))².

    The KL omits the constant −½ per component, as the reference does; it has no gradient. The Hamiltonian
    penalty keeps the energies near zero (H is defined up to a constant) and H's dependence on the
    non-dynamical features small; the reference's code meant the latter but sliced rows (``dH[2*ndim:]``,
    paper_spec §8.9): here it is the charge and mass columns.
    """
    if kind == "l1":
        return edges.message.abs().sum()
    if kind == "kl":
        return 0.5 * (torch.exp(edges.logvar) + edges.mu**2 - edges.logvar).sum()
    if kind == "hamiltonian":
        return (edges.node_energy**2).sum() + (edges.parameter_gradient**2).sum()
    raise ValueError(f"unknown regulariser {kind!r}; expected none, l1, kl or hamiltonian")


def regularizer(model: Network, spec: ModelSpec, edges: EdgeOutput, x: Tensor, graph: Graph) -> Tensor:
    """The reference's scale per batch, α·Σ_edges penalty / n, with the chosen scope.

    ``all_graphs`` sums over the batch's edges; ``first_graph`` evaluates graph 0 alone on the
    un-augmented ``x`` and multiplies by the batch size, as the reference. Dividing by the batch size
    afterwards gives both the same expectation per graph. FlatHGN's penalty covers the whole batch, as
    the reference's, on the augmented positions (H is shift-invariant, so this changes nothing).
    """
    kind = spec.regularizer
    if kind == "none":
        return x.new_zeros(())
    if kind == "hamiltonian":  # the reference's HGN loss: α·Σ over the whole batch, no 1/n
        return spec.reg_weight * message_penalty(kind, edges)
    if spec.reg_scope == "first_graph":
        first = model.edge_output(x[0, graph.receivers], x[0, graph.senders])
        return spec.reg_weight * x.shape[0] * message_penalty(kind, first) / graph.n
    return spec.reg_weight * message_penalty(kind, edges) / graph.n


def augment(x: Tensor, dim: int, sigma: float) -> Tensor:
    """One N(0, σ²) shift of the positions, shared by every node of every graph of the batch."""
    if sigma == 0:
        return x
    shift = torch.randn(1, 1, dim, device=x.device) * sigma
    return torch.cat([x[..., :dim] + shift, x[..., dim:]], dim=-1)


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def test_loss(model: Network, graph: Graph, x: Tensor, y: Tensor) -> float:
    """Table 3's metric: mean over graphs of Σ|a − â| over nodes and dimensions, no augmentation."""
    total = x.new_zeros((), dtype=torch.float64)
    for start in range(0, len(x), EVAL_BATCH):
        pred, _ = model.run(x[start : start + EVAL_BATCH], graph)
        total += loss_sum(pred, y[start : start + EVAL_BATCH]).double()
    return float(total) / len(x)


@torch.no_grad()
def message_std(model: Network, graph: Graph, x: Tensor) -> list[float]:
    """Std of each message component over the edges of ``x`` (μ for variational messages): the sparsity figure."""
    edges = model.edge_output(x[:, graph.receivers], x[:, graph.senders])
    values = edges.mu if edges.mu is not None else edges.message
    return values.reshape(-1, values.shape[-1]).double().std(dim=0).tolist()


@torch.no_grad()
def prune_messages(run: Run, spec: TrainingSpec, data: CellData) -> list[int]:
    """The pruned variant's step at the start of each epoch (``models.Pruning``): keep the components of largest
    message std over the monitored test graphs and mask the others; returns the kept ones, in order.

    The ranking uses φe's outputs only, never a target, and is the std the history recorded after the previous
    epoch (the same weights and mask: not measured twice), so the sparsity figure shows what was ranked; before
    the first epoch it is measured here. Masked components have std 0 and stay masked (as theirs); ties keep the
    lower index."""
    model, pruning = run.model, spec.model.pruning
    keep = pruning.kept(spec.model.msg_dim, run.epoch, spec.training.epochs)
    if run.history:
        std = torch.tensor(run.history[-1]["message_std"])
    else:
        model.eval()
        std = torch.tensor(message_std(model, data.graph, data.x_test[data.monitor]))
    kept = torch.argsort(-std, stable=True)[:keep]
    mask = torch.zeros(spec.model.msg_dim)
    mask[kept] = 1.0
    model.message_mask.copy_(mask)
    return sorted(kept.tolist())


def new_run(spec: TrainingSpec, device: torch.device, model: Network | None = None) -> Run:
    """A fresh run of ``spec``'s network, or of ``model`` (its parameters that require a gradient)."""
    torch.manual_seed(spec.seed)
    if model is None:
        model = build_model(spec.model, spec.system["dim"]).to(device)
    return optimised_run(model, spec.training, spec.steps_per_epoch)


def train_epoch(run: Run, spec: TrainingSpec, graph: Graph, x: Tensor, y: Tensor) -> float:
    """One epoch; returns the summed loss per graph (without regulariser), as the notebook logs it."""
    batch, steps = spec.training.batch_size, spec.steps_per_epoch
    order = torch.cat([torch.randperm(len(x), device=x.device) for _ in range(math.ceil(steps * batch / len(x)))])
    total = x.new_zeros(())
    run.model.train()
    for step in range(steps):
        idx = order[step * batch : (step + 1) * batch]
        xb, yb = x[idx], y[idx]
        pred, edges = run.model.run(augment(xb, spec.system["dim"], spec.training.augment_sigma), graph)
        loss = loss_sum(pred, yb, spec.model.loss, spec.model.huber_delta)
        objective = (loss + regularizer(run.model, spec.model, edges, xb, graph)) / batch
        run.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        run.optimizer.step()
        run.scheduler.step()
        total += loss.detach()
    return float(total) / (steps * batch)


def _tensors(split: Split, device: torch.device) -> tuple[Tensor, Tensor]:
    return torch.from_numpy(split.x).to(device), torch.from_numpy(split.y).to(device)


def monitor_indices(n_test: int, graphs: int) -> np.ndarray:
    """A fixed subset of test graphs, the same for every cell of a dataset."""
    return np.random.default_rng(0).permutation(n_test)[: min(graphs, n_test)]


@dataclass(frozen=True)
class CellData:
    """A cell's splits on the device, the monitored test graphs and the graph every sample shares."""

    x: Tensor
    y: Tensor
    x_test: Tensor
    y_test: Tensor
    monitor: Tensor  # indices of the test graphs evaluated after every epoch
    graph: Graph
    digests: tuple[str, str]  # SHA-256 of the train and test files: part of the checkpoint's fingerprint

    @classmethod
    def read(cls, spec: TrainingSpec, splits: SplitFiles, device: torch.device) -> CellData:
        x, y = _tensors(read_split(splits.train), device)
        x_test, y_test = _tensors(read_split(splits.test), device)
        monitor = torch.from_numpy(monitor_indices(len(x_test), spec.training.monitor_graphs)).to(device)
        graph = Graph.for_system(spec.system["sim"], spec.system["n"], device)
        return cls(x, y, x_test, y_test, monitor, graph, (file_digest(splits.train), file_digest(splits.test)))

    def monitor_loss(self, model: Network) -> float:
        return test_loss(model, self.graph, self.x_test[self.monitor], self.y_test[self.monitor])


@dataclass(frozen=True)
class Trained:
    """What a finished run is recorded with besides its own state: where it ran and how it scored."""

    cell: str
    device: torch.device
    threads: int
    digests: tuple[str, str]
    test_loss: float  # Table 3's metric on every test graph
    test_graphs: int
    wall_seconds: float  # every attempt's, resumed ones included

    @property
    def hardware(self) -> dict[str, Any]:
        return {"device": self.device.type, "device_name": device_name(self.device), "threads": self.threads}


def train_cell(
    spec: TrainingSpec,
    cell: str,
    splits: SplitFiles,
    paths: TrainingOutputs,
    threads: int = 1,
    device: str = "auto",
) -> None:
    """Rule ``train``: train one cell and write model.pt, history.parquet and metrics.json; resume from
    checkpoint.pt if present. ``device``: config ``training.device`` (``engine.devices.training_device``)."""
    torch.set_num_threads(threads)
    keep_heap_memory()
    device = training_device(device)
    log.info("%s: device %s (%s), %d threads", cell, device, device_name(device), threads)
    data = CellData.read(spec, splits, device)
    fingerprint = spec.fingerprint(*data.digests)

    run = new_run(spec, device)
    resume(paths.checkpoint, run, fingerprint)
    started = time.perf_counter()
    if run.initial_loss is None:
        run.model.eval()
        run.initial_loss = data.monitor_loss(run.model)
    while run.epoch < spec.training.epochs:
        train_and_record_epoch(run, spec, data, cell)
        save_checkpoint(paths.checkpoint, run, fingerprint, time.perf_counter() - started)

    run.model.eval()
    final = test_loss(run.model, data.graph, data.x_test, data.y_test)
    if not math.isfinite(final):
        raise TrainingError(f"{cell}: the test loss is {final}; no model written")
    wall = run.earlier_seconds + time.perf_counter() - started
    write_outputs(run, spec, Trained(cell, device, threads, data.digests, final, len(data.x_test), wall), paths)
    paths.checkpoint.unlink(missing_ok=True)


def train_and_record_epoch(run: Run, spec: TrainingSpec, data: CellData, cell: str) -> None:
    """One epoch, stopped by a non-finite or diverged loss, then its line of history.parquet."""
    epoch = run.epoch + 1
    kept = {} if spec.model.pruning is None else {"kept_components": prune_messages(run, spec, data)}
    t0 = time.perf_counter()
    train_loss = train_epoch(run, spec, data.graph, data.x, data.y)
    seconds = time.perf_counter() - t0
    if not math.isfinite(train_loss):
        raise TrainingError(f"{cell}: the training loss became {train_loss} in epoch {epoch}; no model written")
    check_divergence(cell, epoch, train_loss, run.initial_loss, spec.training.divergence_factor)
    run.model.eval()
    graphs = spec.steps_per_epoch * spec.training.batch_size
    run.history.append(
        {
            "epoch": epoch,
            "train_loss": train_loss,
            "test_loss": data.monitor_loss(run.model),
            "lr": run.scheduler.get_last_lr()[0],
            "graphs": graphs * epoch,
            "seconds": seconds,
            "message_std": message_std(run.model, data.graph, data.x_test[data.monitor]),
            **kept,
        }
    )
    run.epoch = epoch
    pruned = f", {len(kept['kept_components'])} message components kept" if kept else ""
    log_epoch(cell, run.history[-1], spec.training.epochs, f"{graphs / seconds:.0f} graphs/s{pruned}")


# history.parquet's columns; a pruned variant's adds kept_components (the components φe kept during the epoch)
HISTORY_COLUMNS = ("epoch", "train_loss", "test_loss", "lr", "graphs", "seconds", "message_std")


def write_outputs(run: Run, spec: TrainingSpec, trained: Trained, paths: TrainingOutputs) -> None:
    """model.pt (the network with its spec and provenance), history.parquet and metrics.json, each atomically."""
    history = pd.DataFrame(run.history)
    save_record(
        paths.model,
        {
            "format": MODEL_FORMAT,
            "cell": trained.cell,
            "state_dict": run.model.state_dict(),
            "model": spec.model.record(),
            "training": asdict(spec.training),
            "system": spec.system,
            "seed": spec.seed,
            "data_sha256": {"train": trained.digests[0], "test": trained.digests[1]},
            "hardware": trained.hardware,
            "package_versions": package_versions(),
        },
    )
    with atomic_output(paths.history) as tmp:
        history.to_parquet(tmp, index=False)
    train_seconds = float(history["seconds"].sum())
    write_json(
        paths.metrics,
        {
            "cell": trained.cell,
            "test_loss": trained.test_loss,
            "test_graphs": trained.test_graphs,
            "final_train_loss": float(history["train_loss"].iloc[-1]),
            "epochs": spec.training.epochs,
            "graphs_seen": int(history["graphs"].iloc[-1]),
            "train_seconds": train_seconds,
            "graphs_per_second": float(history["graphs"].iloc[-1]) / train_seconds if train_seconds else None,
            "wall_seconds": trained.wall_seconds,
            **trained.hardware,
            **torch_build(),
        },
    )


def read_model_record(path: str | Path, expected: str, what: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The record of a saved model of format ``expected`` (``what`` names it in the error), its ``model`` read into a
    ``ModelSpec``; rejects unreadable, foreign and moved files by name."""
    record = read_saved(path, expected, what, device)
    check_cell_identity(path, record["cell"])
    return {**record, "model": ModelSpec.from_params(record["model"], f"{path}: model")}


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[Network, dict[str, Any]]:
    """A trained network (in eval mode) and the record it was saved with, its ``model`` read into a ``ModelSpec``;
    rejects foreign files by name."""
    record = read_model_record(path, MODEL_FORMAT, "a symdistill model", device)
    model = build_model(record["model"], record["system"]["dim"]).to(device)
    model.load_state_dict(record["state_dict"])
    return model.eval(), record
