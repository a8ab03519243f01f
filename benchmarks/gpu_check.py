"""The cluster path on a GPU, in one command (``make gpu-check``, about 5 minutes): what the CPU test suite cannot show.

1. every architecture of the smoke preset trains on the device (the real ``train_cell``, a small spring set), and
   its metrics.json says where it ran;
2. two runs of one cell are byte-identical (deterministic kernels, ``train.deterministic_kernels``);
3. a run killed mid-training resumes from its checkpoint to the bytes of an uninterrupted one;
4. throughput of the paper's model (spring 2D, n = 4, hidden 300, messages 100, batch 64): graphs/s, and the share
   of a step's wall time the GPU is busy (kernel time from torch's profiler), the figure that says whether a step
   is launch-bound.

Prints one summary and writes it into docs/benchmarks.md ("GPU check"); exits 1 if a check fails, 2 without a GPU.

    python benchmarks/gpu_check.py [--device cuda] [--steps 200]

``--device cpu`` runs the same checks on the CPU (how the script itself is tested where there is no GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

from symdistill.config.params import model_params  # noqa: E402
from symdistill.config.validation import validate_config  # noqa: E402
from symdistill.engine.devices import training_device  # noqa: E402
from symdistill.engine.training import TrainingOutputs  # noqa: E402
from symdistill.nbody.data import SplitFiles, read_split  # noqa: E402
from symdistill.nbody.models import Graph  # noqa: E402
from symdistill.nbody.simulate import SimulationSpec, simulate_dataset  # noqa: E402
from symdistill.nbody.train import TrainingSpec, new_run, train_cell, train_epoch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASET = "spring_2d_n4"
TRAIN = (
    "import sys, json; from symdistill.nbody.train import TrainingSpec, train_cell; out = sys.argv[2];"
    "from symdistill.engine.training import TrainingOutputs; from symdistill.nbody.data import SplitFiles;"
    "train_cell(TrainingSpec.from_params(json.loads(sys.argv[1])), 'spring_2d_n4/gpu/seed0',"
    " SplitFiles(sys.argv[3], sys.argv[4]),"
    " TrainingOutputs(out + '/model.pt', out + '/history.parquet', out + '/metrics.json'), device=sys.argv[5])"
)


def smoke_specs(epochs: int, graphs: int) -> dict[str, TrainingSpec]:
    """Every variant of the smoke preset, resolved for spring 2D n = 4 as the train rule resolves it, with a short
    budget."""
    config = merged(yaml.safe_load((ROOT / "config.yaml").read_text()), ROOT / "presets" / "smoke.yaml")
    validate_config(config, ROOT / "schemas" / "config.schema.yaml")
    specs = {}
    for model in config["experiment"]["models"]:
        params = model_params(config, DATASET, model)
        params["training"] |= {"epochs": epochs, "graphs_per_epoch": graphs}
        specs[model] = TrainingSpec.from_params({**params, "seed": 0})
    return specs


def merged(base: dict, overlay: Path) -> dict:
    """``base`` with the YAML file ``overlay`` merged in key by key, as Snakemake applies a --configfile."""

    def merge(into: dict, update: dict) -> dict:
        for key, value in update.items():
            nested = isinstance(value, dict) and isinstance(into.get(key), dict)
            into[key] = merge(into[key], value) if nested else value
        return into

    return merge(base, yaml.safe_load(overlay.read_text()))


def data(folder: Path) -> tuple[Path, Path]:
    spec = SimulationSpec(
        sim="spring", dim=2, n=4, dt=0.01, nt=500, keep_every=5, train_sims=200, test_sims=50, split="seed",
        seed=0, test_seed=1, time_test_fraction=0.25, rtol=1.4e-8, atol=1.4e-8, mxstep=2000,
    )  # fmt: skip
    paths = folder / "train.parquet", folder / "test.parquet"
    simulate_dataset(spec, SplitFiles(*paths))
    return paths


def train_once(spec: TrainingSpec, splits: tuple[Path, Path], out: Path, device: str) -> dict:
    """One real training run of ``spec`` into ``out``; its metrics.json."""
    outputs = TrainingOutputs(out / "model.pt", out / "history.parquet", out / "metrics.json")
    train_cell(spec, f"{DATASET}/gpu/seed0", SplitFiles(*splits), outputs, device=device)
    return json.loads((out / "metrics.json").read_text())


def killed_and_resumed(spec: TrainingSpec, splits: tuple[Path, Path], out: Path, device: str) -> bool:
    """Train in a child process, kill it after its first checkpoint, train again: False if it finished first."""
    args = [sys.executable, "-c", TRAIN, json.dumps(asdict(spec)), str(out), *map(str, splits), device]
    child = subprocess.Popen(args, cwd=ROOT)
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists() and child.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if child.poll() is not None:
        return False
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    train_once(spec, splits, out, device)
    return True


def busy_share(step: Callable[[], None], steps: int, device: torch.device) -> tuple[float, float]:
    """(seconds per step, share of it the device's kernels run), over ``steps`` steps after a warm-up."""
    for _ in range(10):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        started = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        wall = time.perf_counter() - started
    kernels = sum(e.self_device_time_total for e in prof.key_averages() if e.device_type.name == "CUDA") / 1e6
    return wall / steps, (kernels / wall if device.type == "cuda" else float("nan"))


def throughput(splits: tuple[Path, Path], device: torch.device, steps: int) -> tuple[float, float]:
    """graphs/s of the paper's model at batch 64 with the real trainer, and the device's busy share of a step."""
    spec = smoke_specs(1, 64 * (steps + 10))["standard"]  # the schedule's length: the warm-up's steps and the timed
    spec = replace(spec, model=replace(spec.model, hidden=300, msg_dim=100))
    split = read_split(splits[0])
    x, y = torch.from_numpy(split.x).to(device), torch.from_numpy(split.y).to(device)
    graph = Graph.for_system("spring", 4, device)
    run = new_run(spec, device)
    one = replace(spec, training=replace(spec.training, graphs_per_epoch=64))
    seconds, busy = busy_share(lambda: train_epoch(run, one, graph, x, y), steps, device)
    return 64 / seconds, busy


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return 2
    device = training_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    rows, failed = [], []

    def check(what: str, ok: bool, detail: str) -> None:
        rows.append(f"| {what} | {'ok' if ok else '**FAILED**'} | {detail} |")
        if not ok:
            failed.append(what)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        splits = data(folder)
        specs = smoke_specs(2, 4096)
        for model, spec in specs.items():
            metrics = train_once(spec, splits, folder / model, args.device)
            check(f"train `{model}` ({spec.model.architecture})", metrics["device"] == device.type,
                  f"{metrics['device_name']}, {metrics['graphs_per_second']:,.0f} graphs/s, test loss "
                  f"{metrics['test_loss']:.4g}")  # fmt: skip
        first = specs["l1"]
        train_once(first, splits, folder / "again", args.device)
        same = (folder / "l1" / "model.pt").read_bytes() == (folder / "again" / "model.pt").read_bytes()
        check("two runs, same bytes", same, "model.pt of `l1` trained twice")
        longer = replace(first, training=replace(first.training, epochs=6, graphs_per_epoch=16384))
        train_once(longer, splits, folder / "whole", args.device)
        killed = killed_and_resumed(longer, splits, folder / "killed", args.device)
        resumed = killed and (folder / "whole/model.pt").read_bytes() == (folder / "killed/model.pt").read_bytes()
        check("killed, resumed, same bytes", resumed, "6 epochs of `l1`, SIGKILL after the first checkpoint")
        rate, busy = throughput(splits, device, args.steps)
        check("throughput", rate > 0, f"**{rate:,.0f} graphs/s**, the device busy {busy:.0%} of a step")
    body = "\n".join(
        [
            f"Device: {name}; torch {torch.__version__}, CUDA {torch.version.cuda}; "
            f"{time.perf_counter() - started:.0f} s in all.",
            "",
            "| check | result | detail |",
            "|---|---|---|",
            *rows,
            "",
            "Command: `make gpu-check` (`python benchmarks/gpu_check.py`). Throughput: the paper's model (hidden 300, "
            "messages 100), spring 2D n = 4, batch 64, the real `train_epoch`; busy share = kernel time (torch's "
            "profiler) / wall time.",
        ]
    )
    if device.type == "cuda":
        record("GPU check", body)
    else:
        print(body)
    print("gpu-check:", "FAILED: " + ", ".join(failed) if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
