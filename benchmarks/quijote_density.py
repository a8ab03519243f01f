"""The Quijote overdensity target at full size: δ at every halo from 512³ particles on a 512³ mesh, time and memory.

Quijote's fiducial snapshot holds 512³ = 134,217,728 dark-matter particles in a 1000 Mpc/h box; rule halos_quijote
deposits them by cloud-in-cell, smooths δ with a top-hat and reads it back at the 215,854 halos
(``symdistill.cosmology.overdensity.overdensity_at``). Quijote is not on this machine, so uniform random particles
and halos of the same counts stand in: the cost depends on the counts, not on where the particles are. Peak memory is
the process's peak resident set, the particles' own 1.5 GiB (float32) included; the target is < 16 GiB.

    python benchmarks/quijote_density.py [--particles 134217728] [--halos 215854] [--grid 512] [--radius 15]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

from symdistill.cosmology.catalogue import QUIJOTE_BOX, QUIJOTE_HALOS  # noqa: E402
from symdistill.cosmology.overdensity import overdensity_at  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=512**3)
    parser.add_argument("--halos", type=int, default=QUIJOTE_HALOS)
    parser.add_argument("--grid", type=int, default=512)
    parser.add_argument("--radius", type=float, default=15.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    particles = np.empty((args.particles, 3), dtype=np.float32)
    for start in range(0, args.particles, 1 << 24):  # filled in chunks: no float64 copy of all of them
        stop = min(start + (1 << 24), args.particles)
        particles[start:stop] = rng.uniform(0.0, QUIJOTE_BOX, (stop - start, 3))
    halos = rng.uniform(0.0, QUIJOTE_BOX, (args.halos, 3))
    inputs_peak = peak_gib()
    start = time.perf_counter()
    delta = overdensity_at(halos, particles, QUIJOTE_BOX, args.grid, args.radius)
    seconds = time.perf_counter() - start
    command = f"--particles {args.particles} --halos {args.halos} --grid {args.grid} --radius {args.radius:g}"
    record(
        "Quijote overdensity (cloud-in-cell, top-hat, full size)",
        f"""
| measure | value |
|---|---|
| particles, halos, box | {args.particles:,}, {args.halos:,}, {QUIJOTE_BOX:g} Mpc/h |
| mesh, top-hat radius | {args.grid}³, {args.radius:g} Mpc/h |
| `overdensity_at` (deposit, FFT smoothing, read-back) | **{seconds:.1f} s** |
| peak resident memory with the inputs alone | {inputs_peak:.2f} GiB |
| peak resident memory of the process | **{peak_gib():.2f} GiB** (target < 16 GiB) |
| δ at the halos (uniform particles: 0 ± Poisson noise) | mean {delta.mean():+.4f}, std {delta.std():.4f} |

Uniform random particles and halos stand in for Quijote's (not on this machine): the cost depends on the counts.
Command: `python benchmarks/quijote_density.py {command}`.
""",
    )


if __name__ == "__main__":
    main()
