"""The cosmology graph at Quijote size: the synthetic catalogue, its 50 Mpc/h periodic radius graph, time, memory.

The paper's data set is Quijote simulation 0 at z = 0: 215,854 halos in a 1000 Mpc/h box, joined within 50 Mpc/h
into 30,437,218 directed edges. This builds the synthetic catalogue of the same size with the default
``SyntheticCatalogueSpec`` (whose clustering was tuned on this script's output to give that edge count and the
paper's 80 % of halos with δ ≤ 1; see its docstring), then times, in one process:

1. the edge list alone (``neighbour_edges``: cKDTree with ``boxsize``, ``query_pairs``, both directions sorted,
   minimum-image float32 distances), from the catalogue's positions;
2. the whole catalogue (positions, velocities, masses, the edge list again and the planted law on it, noise);
3. writing it to Parquet with its provenance.

Peak memory is the process's peak resident set (``getrusage``), read after each step; the target is < 16 GiB.

    python benchmarks/halos.py [--halos 215854] [--box 1000] [--radius 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

from symdistill.cosmology import catalogue as halos  # noqa: E402

PAPER_EDGES = 30_437_218


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halos", type=int, default=halos.QUIJOTE_HALOS)
    parser.add_argument("--box", type=float, default=halos.QUIJOTE_BOX)
    parser.add_argument("--radius", type=float, default=halos.PAPER_RADIUS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = replace(halos.SyntheticCatalogueSpec(), n_halos=args.halos, box=args.box, radius=args.radius, seed=args.seed)

    positions, _ = halos.clustered_positions(spec, np.random.default_rng(spec.seed))
    start = time.perf_counter()
    senders, receivers, distances = halos.neighbour_edges(positions, spec.box, spec.radius)
    edges_s = time.perf_counter() - start
    edges_peak = peak_gib()
    n_edges = len(senders)
    edge_mib = (senders.nbytes + receivers.nbytes + distances.nbytes) / 2**20
    counts = np.bincount(receivers, minlength=spec.n_halos)
    del senders, receivers, distances

    start = time.perf_counter()
    frame = halos.synthetic_catalogue(spec)
    catalogue_s = time.perf_counter() - start
    delta = frame["delta"].to_numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "halos.parquet"
        start = time.perf_counter()
        halos.write_catalogue(path, frame, halos.synthetic_metadata(spec))
        write_s = time.perf_counter() - start
        size_mib = path.stat().st_size / 2**20
    total_peak = peak_gib()
    uniform = spec.n_halos * 4 / 3 * np.pi * spec.radius**3 / spec.box**3  # expected neighbours, Poisson
    clusters = (
        f"Thomas process, {spec.n_clusters:,} clusters of mean {spec.cluster_mean:g} halos "
        f"(σ = {spec.cluster_sigma:g} Mpc/h), field fraction {spec.field_fraction:g}; seed {spec.seed}"
    )
    neighbours = (
        f"{counts.mean():.1f}, {counts.std():.1f}, {counts.min()}–{counts.max()} "
        f"(uniform: {uniform:.1f} ± {uniform**0.5:.1f})"
    )
    command = f"--halos {spec.n_halos} --box {spec.box:g} --radius {spec.radius:g} --seed {spec.seed}"

    record(
        "Cosmology graph (synthetic halo catalogue, Quijote size)",
        f"""
| measure | value |
|---|---|
| halos, box, radius | {spec.n_halos:,}, {spec.box:g} Mpc/h (periodic), {spec.radius:g} Mpc/h |
| directed edges | **{n_edges:,}** (paper, Quijote sim 0: {PAPER_EDGES:,}; {n_edges / PAPER_EDGES - 1:+.1%}) |
| neighbours per halo (mean, std, min–max) | {neighbours} |
| edge list (int32 senders, int32 receivers, float32 distances) | {edge_mib:,.0f} MiB |
| `neighbour_edges` (cKDTree `query_pairs`, sort, minimum-image distances) | **{edges_s:.1f} s** |
| peak resident memory after the edge list | {edges_peak:.2f} GiB |
| whole catalogue (positions, velocities, masses, graph, planted law, noise) | **{catalogue_s:.1f} s** |
| Parquet with provenance | {write_s:.1f} s, {size_mib:.1f} MiB |
| δ: mean, share ≤ 1 (the paper's OOD cut; paper 80 %) | {delta.mean():.3f}, {np.mean(delta <= 1):.1%} |
| peak resident memory of the whole benchmark process | **{total_peak:.2f} GiB** (target < 16 GiB) |

Clustering: {clusters}. Single-threaded (cKDTree's `query_pairs` has no workers argument).
Command: `nice -n 19 python benchmarks/halos.py {command}`.
""",
    )


if __name__ == "__main__":
    main()
