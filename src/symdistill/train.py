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

import ctypes
import hashlib
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from symdistill.config import check_cell_identity
from symdistill.data import Split, read_split
from symdistill.io import atomic_output, cpu_name, package_versions, write_json
from symdistill.models import EdgeOutput, Graph, Network, build_model

log = logging.getLogger(__name__)

MODEL_FORMAT = "symdistill.model/1"
EVAL_BATCH = 1024


class TrainingError(RuntimeError):
    """Training cannot produce a trustworthy model (e.g. the loss diverged); no model file is written."""


@dataclass(frozen=True)
class TrainingSpec:
    """Everything that determines a trained model: ``symdistill.config.model_params`` plus the seed."""

    model: dict[str, Any]
    training: dict[str, Any]
    system: dict[str, Any]
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.training["graphs_per_epoch"] // self.training["batch_size"])

    def fingerprint(self, *data: str) -> str:
        text = repr((self.model, self.training, self.system, self.seed, data))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def regularizer(model: Network, spec: dict[str, Any], edges: EdgeOutput, x: Tensor, graph: Graph) -> Tensor:
    """The reference's scale per batch, α·Σ_edges penalty / n, with the chosen scope.

    ``all_graphs`` sums over the batch's edges; ``first_graph`` evaluates graph 0 alone on the
    un-augmented ``x`` and multiplies by the batch size, as the reference. Dividing by the batch size
    afterwards gives both the same expectation per graph. FlatHGN's penalty covers the whole batch, as
    the reference's, on the augmented positions (H is shift-invariant, so this changes nothing).
    """
    kind = spec["regularizer"]
    if kind == "none":
        return x.new_zeros(())
    if kind == "hamiltonian":  # the reference's HGN loss: α·Σ over the whole batch, no 1/n
        return spec["reg_weight"] * message_penalty(kind, edges)
    if spec["reg_scope"] == "first_graph":
        first = model.edge_output(x[0, graph.receivers], x[0, graph.senders])
        return spec["reg_weight"] * x.shape[0] * message_penalty(kind, first) / graph.n
    return spec["reg_weight"] * message_penalty(kind, edges) / graph.n


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


# ---------------------------------------------------------------- the loop


@dataclass
class Run:
    """State of one training run that a checkpoint must carry."""

    model: Network
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.OneCycleLR
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    earlier_seconds: float = 0.0  # wall time of the attempts this run resumed from (their last checkpoint)
    initial_loss: float | None = None  # the untrained network's monitor test loss: what divergence is measured by


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def new_run(spec: TrainingSpec, device: torch.device) -> Run:
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, spec.system["dim"]).to(device)
    t = spec.training
    # fused: one kernel for all parameters; 10 % of a CPU step is the per-parameter loop otherwise.
    optimizer = torch.optim.Adam(model.parameters(), lr=t["max_lr"], weight_decay=t["weight_decay"], fused=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=t["max_lr"],
        epochs=t["epochs"],
        steps_per_epoch=spec.steps_per_epoch,
        final_div_factor=t["final_div_factor"],
    )
    return Run(model, optimizer, scheduler)


def train_epoch(run: Run, spec: TrainingSpec, graph: Graph, x: Tensor, y: Tensor) -> float:
    """One epoch; returns the summed loss per graph (without regulariser), as the notebook logs it."""
    batch, steps = spec.training["batch_size"], spec.steps_per_epoch
    order = torch.cat([torch.randperm(len(x), device=x.device) for _ in range(math.ceil(steps * batch / len(x)))])
    total = x.new_zeros(())
    run.model.train()
    for step in range(steps):
        idx = order[step * batch : (step + 1) * batch]
        xb, yb = x[idx], y[idx]
        pred, edges = run.model.run(augment(xb, spec.system["dim"], spec.training["augment_sigma"]), graph)
        loss = loss_sum(pred, yb, spec.model["loss"], spec.model["huber_delta"])
        objective = (loss + regularizer(run.model, spec.model, edges, xb, graph)) / batch
        run.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        run.optimizer.step()
        run.scheduler.step()
        total += loss.detach()
    return float(total) / (steps * batch)


def _rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, run: Run, fingerprint: str, elapsed: float) -> None:
    """The run's state after an epoch; ``elapsed``: this attempt's wall seconds so far."""
    with atomic_output(path) as tmp:
        torch.save(
            {
                "fingerprint": fingerprint,
                "epoch": run.epoch,
                "history": run.history,
                "wall_seconds": run.earlier_seconds + elapsed,
                "initial_loss": run.initial_loss,
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "rng": _rng_state(),
            },
            tmp,
        )


def resume(path: Path, run: Run, fingerprint: str) -> bool:
    """Continue from ``path`` if it belongs to this exact spec and data; a stale checkpoint is ignored."""
    if not path.exists():
        return False
    state = torch.load(path, map_location=next(run.model.parameters()).device, weights_only=False)
    if state["fingerprint"] != fingerprint:
        log.info("ignoring checkpoint %s: made with other hyperparameters or data", path)
        return False
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.epoch, run.history = state["epoch"], state["history"]
    run.earlier_seconds = state.get("wall_seconds", sum(h["seconds"] for h in run.history))
    run.initial_loss = state.get("initial_loss")
    _set_rng_state(state["rng"])
    log.info("resumed %s after epoch %d", path, run.epoch)
    return True


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tensors(split: Split, device: torch.device) -> tuple[Tensor, Tensor]:
    return torch.from_numpy(split.x).to(device), torch.from_numpy(split.y).to(device)


def monitor_indices(n_test: int, graphs: int) -> np.ndarray:
    """A fixed subset of test graphs, the same for every cell of a dataset."""
    return np.random.default_rng(0).permutation(n_test)[: min(graphs, n_test)]


def keep_heap_memory() -> None:
    """Stop glibc from returning freed activations to the OS after every step.

    Each step allocates the same few-MB tensors; with glibc's defaults they are mmap-ed and unmapped every
    time, and the page faults cost up to a third of a CPU step.
    """
    if platform.system() == "Linux":
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD


def train_cell(
    spec: TrainingSpec,
    cell: str,
    train_path: str | Path,
    test_path: str | Path,
    model_path: str | Path,
    history_path: str | Path,
    metrics_path: str | Path,
    threads: int = 1,
) -> None:
    """Train one cell and write model.pt, history.parquet and metrics.json; resume from checkpoint.pt if present."""
    torch.set_num_threads(threads)
    keep_heap_memory()
    device = pick_device()
    log.info("%s: device %s (%s), %d threads", cell, device, device_name(device), threads)
    train, test = read_split(train_path), read_split(test_path)
    data_digests = (file_digest(train_path), file_digest(test_path))
    fingerprint = spec.fingerprint(*data_digests)
    x, y = _tensors(train, device)
    x_test, y_test = _tensors(test, device)
    monitor = torch.from_numpy(monitor_indices(len(x_test), spec.training["monitor_graphs"])).to(device)
    graph = Graph.for_system(spec.system["sim"], spec.system["n"], device)
    checkpoint = Path(model_path).with_name("checkpoint.pt")

    run = new_run(spec, device)
    resume(checkpoint, run, fingerprint)
    started = time.perf_counter()
    if run.initial_loss is None:
        run.model.eval()
        run.initial_loss = test_loss(run.model, graph, x_test[monitor], y_test[monitor])
    for epoch in range(run.epoch, spec.training["epochs"]):
        t0 = time.perf_counter()
        train_loss = train_epoch(run, spec, graph, x, y)
        seconds = time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise TrainingError(f"{cell}: the training loss became {train_loss} in epoch {epoch + 1}; no model written")
        check_divergence(cell, epoch + 1, train_loss, run.initial_loss, spec.training["divergence_factor"])
        run.model.eval()
        graphs = spec.steps_per_epoch * spec.training["batch_size"]
        run.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "test_loss": test_loss(run.model, graph, x_test[monitor], y_test[monitor]),
                "lr": run.scheduler.get_last_lr()[0],
                "graphs": graphs * (epoch + 1),
                "seconds": seconds,
                "message_std": message_std(run.model, graph, x_test[monitor]),
            }
        )
        run.epoch = epoch + 1
        save_checkpoint(checkpoint, run, fingerprint, time.perf_counter() - started)
        h = run.history[-1]
        log.info(
            "%s: epoch %d/%d train %.4g test %.4g lr %.3g, %.0f graphs/s",
            cell,
            h["epoch"],
            spec.training["epochs"],
            h["train_loss"],
            h["test_loss"],
            h["lr"],
            graphs / seconds,
        )

    run.model.eval()
    final = test_loss(run.model, graph, x_test, y_test)
    if not math.isfinite(final):
        raise TrainingError(f"{cell}: the test loss is {final}; no model written")
    write_outputs(
        run,
        spec,
        cell,
        device,
        threads,
        data_digests,
        final,
        run.earlier_seconds + time.perf_counter() - started,
        model_path,
        history_path,
        metrics_path,
        len(x_test),
    )
    checkpoint.unlink(missing_ok=True)


def check_divergence(cell: str, epoch: int, loss: float, initial: float, factor: float) -> None:
    """A finite loss above ``factor`` × the untrained network's has diverged: as untrustworthy as NaN, so no model
    is written. The baseline is the untrained network, not the first epoch, because the first epoch may itself
    be the divergence (max_lr 100 on spring: 7.7e15 in epoch 1, then 79, 49, 28 — a model no one should use)."""
    if loss > factor * initial:
        raise TrainingError(
            f"{cell}: the training loss diverged in epoch {epoch}: {loss:.3g} > training."
            f"divergence_factor ({factor:g}) × the untrained network's {initial:.3g}; "
            "no model written (lower training.max_lr)"
        )


def write_outputs(
    run: Run,
    spec: TrainingSpec,
    cell: str,
    device: torch.device,
    threads: int,
    data_digests: tuple[str, str],
    final_test_loss: float,
    seconds: float,
    model_path: str | Path,
    history_path: str | Path,
    metrics_path: str | Path,
    test_graphs: int,
) -> None:
    hardware = {"device": device.type, "device_name": device_name(device), "threads": threads}
    history = pd.DataFrame(run.history)
    with atomic_output(model_path) as tmp:
        torch.save(
            {
                "format": MODEL_FORMAT,
                "cell": cell,
                "state_dict": run.model.state_dict(),
                "model": spec.model,
                "training": spec.training,
                "system": spec.system,
                "seed": spec.seed,
                "data_sha256": {"train": data_digests[0], "test": data_digests[1]},
                "hardware": hardware,
                "package_versions": package_versions(),
            },
            tmp,
        )
    with atomic_output(history_path) as tmp:
        history.to_parquet(tmp, index=False)
    train_seconds = float(history["seconds"].sum())
    write_json(
        metrics_path,
        {
            "cell": cell,
            "test_loss": final_test_loss,
            "test_graphs": test_graphs,
            "final_train_loss": float(history["train_loss"].iloc[-1]),
            "epochs": spec.training["epochs"],
            "graphs_seen": int(history["graphs"].iloc[-1]),
            "train_seconds": train_seconds,
            "graphs_per_second": float(history["graphs"].iloc[-1]) / train_seconds if train_seconds else None,
            "wall_seconds": seconds,
            **hardware,
        },
    )


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[Network, dict[str, Any]]:
    """A trained network (in eval mode) and the record it was saved with; rejects foreign files by name."""
    try:
        record = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # torch raises many types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable model file ({err})") from None
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: not a symdistill model (expected format {MODEL_FORMAT!r})")
    check_cell_identity(path, record["cell"])
    model = build_model(record["model"], record["system"]["dim"]).to(device)
    model.load_state_dict(record["state_dict"])
    return model.eval(), record
