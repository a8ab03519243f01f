"""The overdensity δ at each halo from a snapshot's particles, as Pylians computes it.

Pylians3 ``library/MAS_library``'s ``CIC`` and ``CIC_interp``, and ``library/smoothing_library``: particles
deposited by cloud-in-cell on a periodic grid³ mesh whose nodes sit at i·box/grid (Pylians' convention),
δ = ρ/ρ̄ − 1, smoothed by a spherical top-hat of radius R in Fourier space and read back by cloud-in-cell at each
halo. The top-hat is the analytic W(kR) = 3(sin x − x cos x)/x³; Pylians' ``FT_filter('Top-Hat')`` instead
Fourier-transforms the grid cells within R, which differs only at the scale of a cell. All Quijote CDM particles
have one mass, so counts are densities.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator

import numpy as np
import scipy.fft

DEFAULT_GRID = 512  # cells per side: 1.95 Mpc/h in Quijote's box, a 7.7th of the default radius
DEFAULT_SMOOTHING = 15.0  # Mpc/h; ours, not the paper's: QuijoteSource's docstring says how it was chosen
# threads for the FFTs: the CPUs this process may use (a batch job's allocation), not the node's
_WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_CHUNK = 1 << 20  # particles (or halos) per cloud-in-cell chunk: about 120 MB of temporaries, whatever N is


def overdensity_at(
    halo_positions: np.ndarray,
    particle_positions: np.ndarray,
    box: float,
    grid: int = DEFAULT_GRID,
    smoothing_radius: float = DEFAULT_SMOOTHING,
) -> np.ndarray:
    """δ at each halo (float64, one per row of ``halo_positions``): equal-mass particles deposited by
    cloud-in-cell on a periodic grid³ mesh, δ = ρ/ρ̄ − 1, smoothed by a spherical top-hat of radius
    ``smoothing_radius`` (Mpc/h, like ``box`` and both position arrays), interpolated by cloud-in-cell.

    Memory: the float64 mass grid (8·grid³ bytes: 134 MB at 256³, 1.07 GB at 512³) with its float32 copy, then
    the complex64 transform, plus temporaries for ``_CHUNK`` particles at a time: never a per-particle array.
    Measured on 2 cores with random particles: Quijote's 134 M on 512³, 31 s and a peak of 3.65 GiB with the
    inputs (``benchmarks/quijote_density.py``, docs/benchmarks.md).
    """
    _check_mesh(box, grid, smoothing_radius)
    halos = _points(halo_positions, "halo_positions")
    delta = density_contrast(cic_deposit(particle_positions, box, grid))
    return cic_interpolate(top_hat_smooth(delta, box, smoothing_radius), halos, box)


def _check_mesh(box: float, grid: int, radius: float) -> None:
    if not (math.isfinite(box) and box > 0):
        raise ValueError(f"box must be a positive length in Mpc/h, got {box}")
    if int(grid) != grid or grid < 2:
        raise ValueError(f"grid must be an integer of at least 2 cells per side, got {grid}")
    cell = box / grid
    if not cell <= radius < box / 2:
        raise ValueError(
            f"smoothing_radius must be at least one cell (box/grid = {cell:.4g} Mpc/h; below it the sphere is not "
            f"resolved: use a finer grid) and below box/2 = {box / 2:.4g} Mpc/h, got {radius}"
        )


def _points(positions: np.ndarray, what: str) -> np.ndarray:
    points = np.asarray(positions)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{what} must be an (N, 3) array, got shape {points.shape}")
    return points


def cic_deposit(positions: np.ndarray, box: float, grid: int) -> np.ndarray:
    """Cloud-in-cell counts (float64, shape grid³) of equal-mass particles at ``positions`` (any (N, 3) float
    array, wrapped into the periodic box), chunk by chunk: each particle adds weights summing to 1 to the 8 nodes
    around it, so the total is N up to rounding.

    Accumulated with ``np.add.at`` one corner at a time rather than ``np.bincount``: bincount returns a new
    grid³ float64 array per call (1 GB at 512³), and on numpy 2 add.at was also faster (16 M weights into
    256³ or 512³: 0.19 s against 0.35 s once warm, 4.4 s on a fresh 1 GB allocation).
    """
    points = _points(positions, "particle_positions")
    counts = np.zeros(grid**3, dtype=np.float64)
    for start in range(0, len(points), _CHUNK):
        for flat, weight in _cic_corners(points[start : start + _CHUNK], box, grid):
            np.add.at(counts, flat, weight)
    return counts.reshape(grid, grid, grid)


def _cic_corners(points: np.ndarray, box: float, grid: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each of the 8 nodes around every point (nodes at i·box/grid, Pylians' convention), its flat index in
    the C-ordered grid³ mesh and its cloud-in-cell weight."""
    scaled = points.astype(np.float64) * (grid / box)
    if not np.isfinite(scaled).all():
        raise ValueError("positions hold NaN or inf")
    lower = np.floor(scaled)
    scaled -= lower  # now the weight of the upper node, in place: four (n, 3) temporaries in all
    lower_index = lower.astype(np.int64) % grid
    del lower
    index = (lower_index, (lower_index + 1) % grid)
    weight = (1.0 - scaled, scaled)
    for a, b, c in itertools.product((0, 1), repeat=3):
        flat = (index[a][:, 0] * grid + index[b][:, 1]) * grid + index[c][:, 2]
        yield flat, weight[a][:, 0] * weight[b][:, 1] * weight[c][:, 2]


def density_contrast(counts: np.ndarray) -> np.ndarray:
    """δ = ρ/ρ̄ − 1 as float32, computed in place in ``counts`` (float64) before the cast: no second float64 grid."""
    total = counts.sum()
    if not total > 0:
        raise ValueError("no particles were deposited: the density contrast is undefined")
    counts *= counts.size / total
    counts -= 1.0
    return counts.astype(np.float32)


def top_hat_window(x: np.ndarray) -> np.ndarray:
    """Fourier transform of a unit-volume sphere, W(x) = 3(sin x − x cos x)/x³ at x = kR; its Taylor series
    1 − x²/10 + x⁴/280 below x = 0.01, where the closed form loses digits to cancellation."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 1e-2
    safe = np.where(small, 1.0, x)
    closed = 3.0 * (np.sin(safe) - safe * np.cos(safe)) / safe**3
    return np.where(small, 1.0 - x**2 / 10.0 + x**4 / 280.0, closed)


def top_hat_smooth(field: np.ndarray, box: float, radius: float) -> np.ndarray:
    """``field`` (a periodic grid³ cube, float32) convolved with a sphere of ``radius``, by multiplying its real FFT
    by W(kR) one x-slab at a time (no grid-sized k array); float32 in, float32 out."""
    grid = field.shape[0]
    modes = scipy.fft.rfftn(field, workers=_WORKERS)
    k = 2.0 * np.pi * scipy.fft.fftfreq(grid, d=box / grid)
    k_yz2 = k[:, None] ** 2 + (2.0 * np.pi * scipy.fft.rfftfreq(grid, d=box / grid))[None, :] ** 2
    for i, kx in enumerate(k):
        modes[i] *= top_hat_window(np.sqrt(kx**2 + k_yz2) * radius).astype(np.float32)
    return scipy.fft.irfftn(modes, s=field.shape, workers=_WORKERS, overwrite_x=True)


def cic_interpolate(field: np.ndarray, positions: np.ndarray, box: float) -> np.ndarray:
    """``field`` (periodic grid³) read by cloud-in-cell at ``positions`` (Mpc/h): the weighted mean of the 8
    surrounding nodes, with the deposit's weights (Pylians' ``CIC_interp``). float64."""
    points = _points(positions, "positions")
    grid, flat_field = field.shape[0], field.reshape(-1)
    values = np.zeros(len(points), dtype=np.float64)
    for start in range(0, len(points), _CHUNK):
        chunk = values[start : start + _CHUNK]
        for flat, weight in _cic_corners(points[start : start + _CHUNK], box, grid):
            chunk += flat_field[flat] * weight
    return values
