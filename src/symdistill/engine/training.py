"""The training engine both experiments' networks run on: the run's state, the recipe's optimiser and
schedule (Adam, OneCycle stepped per batch), the stops of a diverged or non-finite loss, and each epoch's log line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from symdistill.core.bundles import Files

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot produce a trustworthy model (e.g. the loss diverged); no model file is written."""


class Schedule(Protocol):
    """What the optimiser and its schedule read of a training budget (``TrainingSettings`` and the cosmology
    network's ``HaloTrainingSettings``)."""

    epochs: int
    final_div_factor: float
    max_lr: float
    weight_decay: float


@dataclass(frozen=True)
class TrainingOutputs(Files):
    """A training rule's outputs (``train``, ``replace``, ``halos_train``): the model, its history and metrics;
    the checkpoint a run resumes from lives beside the model."""

    model: Path
    history: Path
    metrics: Path

    @property
    def checkpoint(self) -> Path:
        return self.model.with_name("checkpoint.pt")


@dataclass
class Run:
    """State of one training run that a checkpoint must carry."""

    model: torch.nn.Module  # an n-body network, a halo network or a replaced one
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.OneCycleLR
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    earlier_seconds: float = 0.0  # wall time of the attempts this run resumed from (their last checkpoint)
    initial_loss: float | None = None  # the untrained network's monitor test loss: what divergence is measured by


def optimised_run(model: torch.nn.Module, t: Schedule, steps_per_epoch: int) -> Run:
    """``model`` with the recipe's optimiser and schedule: Adam and OneCycle over ``t.epochs`` epochs."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    # fused: one kernel for all parameters; 10 % of a CPU step is the per-parameter loop otherwise.
    optimizer = torch.optim.Adam(trainable, lr=t.max_lr, weight_decay=t.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=t.max_lr,
        epochs=t.epochs,
        steps_per_epoch=steps_per_epoch,
        final_div_factor=t.final_div_factor,
    )
    return Run(model, optimizer, scheduler)


def log_epoch(cell: str, entry: Mapping[str, Any], epochs: int, speed: str) -> None:
    """An epoch's line of the job's log, from its line of history."""
    log.info(
        "%s: epoch %d/%d train %.4g test %.4g lr %.3g, %s",
        cell,
        entry["epoch"],
        epochs,
        entry["train_loss"],
        entry["test_loss"],
        entry["lr"],
        speed,
    )


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
