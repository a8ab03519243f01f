"""The cosmology network at Quijote size: memory and throughput of training on the full radius graph.

Builds the default synthetic catalogue (215,854 halos, 30.4M directed edges within 50 Mpc/h), its graph and the
edge features on the device, the paper's network (messages of 100, 500 hidden units, two hidden layers per MLP),
then times ``--steps`` optimiser steps of ``--batch`` receiving halos (each with all its incoming edges) and one
evaluation pass over every halo. Peak memory is the process's peak resident set (and, on a GPU, the peak allocated
device memory); the target is < 16 GiB.

    python benchmarks/halo_train.py [--halos 215854] [--box 1000] [--steps 20] [--batch 256] [--hidden 500]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

from symdistill.cosmology import catalogue as halos  # noqa: E402
from symdistill.cosmology.graph import HaloGraph
from symdistill.cosmology.network import DeviceCatalogue, HaloModelSpec, HaloNetwork, predict
from symdistill.cosmology.training import HaloTrainingSettings
from symdistill.engine.devices import device_name, training_device  # noqa: E402
from symdistill.engine.training import optimised_run  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halos", type=int, default=halos.QUIJOTE_HALOS)
    parser.add_argument("--box", type=float, default=halos.QUIJOTE_BOX)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    device = training_device("auto")
    spec = replace(halos.SyntheticCatalogueSpec(), n_halos=args.halos, box=args.box)
    frame = halos.synthetic_catalogue(spec)
    start = time.perf_counter()
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), spec.box, spec.radius)
    data = DeviceCatalogue.of(frame, graph, halos.HaloUnits(), device)
    setup_s = time.perf_counter() - start
    setup_peak = peak_gib()

    torch.manual_seed(0)
    model = HaloNetwork(HaloModelSpec(hidden=args.hidden, layers=2, loss="mae", msg_dim=100, reg_weight=1e-2))
    model = model.to(device)
    model.standardise(data.nodes, data.edges)
    settings = HaloTrainingSettings(args.batch, 1000.0, 1, 1e5, 1e-3, 1e-8)
    run = optimised_run(model, settings, args.steps)
    order = torch.randperm(graph.n)  # batch indices on the host (DeviceCatalogue.batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    edges_seen = 0
    start = time.perf_counter()
    for step in range(args.steps):
        halos_ = order[step * args.batch : (step + 1) * args.batch]
        nodes, edges, owner = data.batch(halos_)
        pred, messages = run.model(nodes, edges, owner)
        loss = (pred - data.targets(halos_)).abs().mean() + 1e-2 * messages.abs().sum() / len(halos_)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        edges_seen += len(edges)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_s = time.perf_counter() - start
    model.eval()
    start = time.perf_counter()
    predict(model, data, torch.arange(graph.n, device=device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    eval_s = time.perf_counter() - start
    halos_per_s = args.steps * args.batch / train_s
    epoch_min = 0.8 * graph.n / halos_per_s / 60  # the random split trains on 80 %
    step = f"{args.steps} steps of {args.batch} halos ({edges_seen / args.steps:,.0f} edges a step)"
    speed = f"**{halos_per_s:,.0f} halos/s**, {edges_seen / train_s:,.0f} edges/s"
    command = f"--halos {graph.n} --box {spec.box:g} --steps {args.steps} --batch {args.batch} --hidden {args.hidden}"
    device_peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else "(CPU run)"
    record(
        f"Cosmology network (Quijote size, {device.type})",
        f"""
| measure | value |
|---|---|
| halos, directed edges | {graph.n:,}, {len(graph.senders):,} |
| network | φe and φv: {args.hidden} hidden units, two hidden layers; messages of 100 |
| device | {device_name(device)}, {torch.get_num_threads()} threads |
| graph and edge features on the device | {setup_s:.1f} s |
| peak resident memory after that | {setup_peak:.2f} GiB |
| training: {step} | {speed} |
| an epoch (80 % of the halos), extrapolated | {epoch_min:.1f} min |
| evaluation pass over every halo | {eval_s:.1f} s |
| peak resident memory of the process | **{peak_gib():.2f} GiB** (target < 16 GiB) |
| peak device memory | {device_peak} |

Command: `python benchmarks/halo_train.py {command}`.
""",
    )
    assert math.isfinite(float(loss.detach()))


if __name__ == "__main__":
    main()
