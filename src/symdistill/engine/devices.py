"""Where a network trains: the device (CPU or a CUDA GPU, refusing a GPU job that cannot use its GPU),
deterministic kernels, and what a run records about its hardware.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Mapping
from typing import Any

import torch

from symdistill.core.io import cpu_name

SLURM_GPU_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE")  # set where SLURM gave a GPU


class DeviceError(RuntimeError):
    """The configured device cannot be used here; the message says why and what to install or set."""


def training_device(choice: str, environ: Mapping[str, str] = os.environ) -> torch.device:
    """The device a training process runs on (config ``training.device``), with deterministic kernels set first.

    ``auto`` picks a GPU when torch can use one, else the CPU: except in a job SLURM gave a GPU, where a torch that
    cannot use it (a CPU-only build, or a CUDA build newer than the node's driver) would train on the CPU threads of
    a GPU allocation with nothing but metrics.json to tell; there it fails at once, in one line.
    """
    deterministic_kernels()
    if choice == "cpu":
        return torch.device("cpu")
    if choice not in ("auto", "cuda"):
        raise DeviceError(f"unknown training device {choice!r}; expected auto, cpu or cuda")
    if torch.cuda.is_available():
        return torch.device("cuda")
    given = next((f"{v}={environ[v]}" for v in SLURM_GPU_VARIABLES if environ.get(v)), None)
    if choice == "cuda" or given:
        reason = f"SLURM gave this job a GPU ({given})" if given else "training.device is cuda"
        raise DeviceError(f"{reason}, but torch {torch.__version__} cannot use CUDA: {_cuda_remedy()}")
    return torch.device("cpu")


def _cuda_remedy() -> str:
    if torch.version.cuda is None:
        return (
            "it is a CPU-only build (torch.version.cuda is None); install the CUDA build (PyPI's torch for Linux, "
            "or one from https://download.pytorch.org/whl/cuXXX for the node's driver), or set training.device: cpu"
        )
    return (
        f"it is built for CUDA {torch.version.cuda}, which this node's driver does not run (nvidia-smi shows the "
        "driver's CUDA version); install a build for it from https://download.pytorch.org/whl/cuXXX, or set "
        "training.device: cpu"
    )


def torch_build() -> dict[str, Any]:
    """What a GPU run's bytes also depend on (metrics.json): torch's version and the CUDA it was built for."""
    return {"torch": torch.__version__, "cuda": torch.version.cuda}


def deterministic_kernels() -> None:
    """Same inputs, same bytes, on a GPU too: deterministic kernels (the message sums' ``index_add_`` is atomic on
    CUDA otherwise) and cuBLAS's fixed workspace, which must be set before CUDA starts. On the CPU no kernel of
    ours changes (the smoke run's outputs are byte-identical with and without)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def keep_heap_memory() -> None:
    """Stop glibc from returning freed activations to the OS after every step.

    Each step allocates the same few-MB tensors; with glibc's defaults they are mmap-ed and unmapped every
    time, and the page faults cost up to a third of a CPU step.
    """
    if platform.system() == "Linux":
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD
