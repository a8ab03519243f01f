"""Simulation throughput: the batched integrator against a one-simulation-at-a-time loop of the same integrator.

The data set is the paper's spring 2D n=4 (10,000 train simulations, 500 snapshots at dt = 0.01, every
5th kept). The loop baseline integrates a sample of the same simulations one by one, the way the reference
calls ``odeint`` per simulation; its rate is extrapolated to the whole set. Peak memory is read from the
process after writing the full paper-scale train and test splits to Parquet.

    python benchmarks/simulate.py [--sims 10000] [--loop-sims 100]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

from symdistill.nbody.data import SplitFiles  # noqa: E402
from symdistill.nbody.simulate import (  # noqa: E402
    CHUNK_SIMS,
    SLOTS,
    SimulationSpec,
    _chunks,
    simulate,
    simulate_dataset,
    simulation_keys,
)


def paper_spec(sims: int) -> SimulationSpec:
    return SimulationSpec(
        sim="spring",
        dim=2,
        n=4,
        dt=0.01,
        nt=500,
        keep_every=5,
        train_sims=sims,
        test_sims=sims // 4,
        split="seed",
        seed=0,
        test_seed=1,
        time_test_fraction=0.25,
        rtol=1.4e-8,
        atol=1.4e-8,
        mxstep=2000,
    )


def best_seconds(run: Callable[[], None], repeats: int) -> float:
    """Fastest of ``repeats`` timed runs: the figure least disturbed by other load on a shared machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def batched_rate(spec: SimulationSpec, sims: int, repeats: int) -> float:
    chunks = list(_chunks(0, sims))
    simulate(spec, chunks[0][1], chunks[0][2])  # compile
    return sims / best_seconds(lambda: [simulate(spec, keys, width) for _, keys, width in chunks], repeats)


def loop_rate(spec: SimulationSpec, sims: int, repeats: int) -> float:
    keys = simulation_keys(0, sims)
    simulate(spec, keys[:1])  # compile
    return sims / best_seconds(lambda: [simulate(spec, keys[i : i + 1]) for i in range(sims)], repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--loop-sims", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = paper_spec(args.sims)
    batched = batched_rate(spec, args.sims, args.repeats)
    loop = loop_rate(spec, args.loop_sims, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        simulate_dataset(spec, SplitFiles(Path(tmp) / "train.parquet", Path(tmp) / "test.parquet"))
        dataset_s = time.perf_counter() - start
        sizes = [(Path(tmp) / f).stat().st_size / 2**20 for f in ("train.parquet", "test.parquet")]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    record(
        "Simulation (spring 2D, n = 4, paper scale)",
        f"""
| measure | value |
|---|---|
| batched adaptive Dormand–Prince ({SLOTS} in flight, up to {CHUNK_SIMS} per call) | **{batched:,.0f} simulations/s** |
| one simulation at a time, same integrator ({args.loop_sims} simulations) | {loop:,.0f} simulations/s |
| speed-up | **{batched / loop:.1f}×** (target ≥ 20×) |
| train + test sets ({args.sims:,} + {args.sims // 4:,}) to Parquet | {dataset_s:.0f} s, {sizes[0] + sizes[1]:.0f} MiB |
| peak resident memory of the whole benchmark process | {peak_gib:.2f} GiB (target < 8 GiB) |

Rates are the best of {args.repeats} timed repeats (compilation excluded) on both sides.
Command: `python benchmarks/simulate.py --sims {args.sims} --loop-sims {args.loop_sims} --repeats {args.repeats}`.
""",
    )


if __name__ == "__main__":
    main()
