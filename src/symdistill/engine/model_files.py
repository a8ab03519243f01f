"""Model files and checkpoints: ``torch.save`` of weights and plain values only, written atomically
and byte-reproducibly, read back with ``weights_only=True`` (a file is data: nothing in it is ever run).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import torch

from symdistill.core.io import InputError, atomic_output
from symdistill.engine.training import Run

log = logging.getLogger(__name__)


def _rng_state() -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Each generator's state back on its own device: both setters take CPU byte tensors, as the checkpoint holds
    them (``resume`` loads it onto the CPU whatever device trains). A CUDA state is restored where CUDA is."""
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
    # Onto the CPU, whatever device trains: the random states must stay CPU byte tensors (on cuda:0,
    # torch.set_rng_state refuses them, and every retry of a GPU job failed so); load_state_dict copies the weights
    # and the optimiser's state to the device of the parameters they belong to.
    state = load_plain(path, "cpu")
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


def save_record(path: str | Path, record: dict[str, Any]) -> None:
    """``torch.save`` of ``record``, atomically and byte-reproducibly: through a stream, because torch names the
    archive inside the file after a path (here the random temporary one) but "archive" after a stream."""
    with atomic_output(path) as tmp, open(tmp, "wb") as stream:
        torch.save(record, stream)


def load_plain(path: str | Path, device: torch.device | str = "cpu") -> Any:
    """What ``torch.save`` wrote to ``path``, if it is tensors and plain values only (``weights_only=True``).

    A model or checkpoint file is data: one from a colleague's results folder that carries a pickled object would
    run that object's code if unpickled. Every file the pipeline writes holds weights, numbers, strings, lists and
    dicts (tests/test_faults.py loads each so), so this refuses nothing of ours."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        raise InputError(
            f"{path}: holds Python objects beyond weights and plain values (refused unread: loading it could run "
            f"code): {str(err).splitlines()[-1] if str(err) else type(err).__name__}"
        ) from None
    except Exception as err:  # torch raises many types for a truncated or foreign file
        raise InputError(f"{path}: not a readable model file ({type(err).__name__}: {err})") from None


def read_saved(path: str | Path, expected: str, what: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A file ``torch.save`` wrote, of format ``expected``; an unreadable, unsafe or foreign file is refused by name."""
    record = load_plain(path, device)
    if not isinstance(record, dict) or record.get("format") != expected:
        raise ValueError(f"{path}: not {what} (expected format {expected!r})")
    return record
