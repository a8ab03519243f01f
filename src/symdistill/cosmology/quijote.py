r"""Rule ``halos_quijote``: Quijote's halo catalogues and dark-matter snapshots, read without Pylians, and the
overdensity target δ_i.

The cosmology experiment (Cranmer et al. 2020, §4.3, Table 6) uses the Quijote simulations (Villaescusa-Navarro
et al. 2020, arXiv 1909.05273): fiducial cosmology, realisation 0, the z = 0 snapshot (``snapnum`` 4), whose
friends-of-friends catalogue holds 215,854 halos in a periodic box of 1000 Mpc/h. Quijote cannot be downloaded on
our machines; users run this on a cluster that has it on disk. Both formats are read the way the Quijote team's
own Pylians3 reads them, byte for byte, so that a user's numbers match theirs:

**FoF catalogues** (Pylians3 ``library/readfof.py``, ``FoF_catalog``; the usage and units are Quijote's
``docs/source/halos.rst``). ``{snapdir}/groups_{snapnum:03d}/group_tab_{snapnum:03d}.{i}`` for i = 0 … Nfiles − 1,
little-endian, no Fortran record markers. Each file is a packed 24-byte header

    int32 Ngroups, int32 TotNgroups, int32 Nids, uint64 TotNids, uint32 Nfiles

followed by Ngroups values of each block in turn (block-major, not per-halo records): GroupLen int32,
GroupOffset int32, GroupMass float32, GroupPos 3 × float32, GroupVel 3 × float32, GroupTLen 6 × float32,
GroupTMass 6 × float32, i.e. 84 bytes a halo; readfof raises if a file does not end there. The number of files is
each header's Nfiles (readfof stops at the first file whose Nfiles equals the count read so far). GroupPos is in
comoving kpc/h (we divide by 1e3 for Mpc/h), GroupMass in 1e10 Msun/h (kept: the pipeline's unit), and GroupVel
times (1 + z) is the peculiar velocity in km/s (the factor is 1 at z = 0). readfof's ``long_ids`` (uint64 rather
than uint32 particle IDs) and ``read_IDs`` only concern the ``group_ids_*`` files, which δ does not need; its
``swap`` (byte-swap big-endian files) and ``SFR`` (an extra float32 block) are off for Quijote, and a file that
needs them fails the size check here with a message that says so.

**Snapshots** (Pylians3 ``library/readgadget.py``, ``header`` and ``read_block``; Quijote's
``docs/source/snapshots.rst``). ``{snapshot}/snapdir_{snapnum:03d}/snap_{snapnum:03d}.{i}.hdf5``: the ``Header``
group's attributes ``NumFilesPerSnapshot``, ``NumPart_ThisFile``, ``NumPart_Total`` (six particle types; cold dark
matter is type 1, 512³ = 134,217,728 particles in the fiducial runs), ``BoxSize`` (kpc/h) and ``Redshift``; the
positions are ``PartType1/Coordinates``, float32 (N, 3) in comoving kpc/h. Quijote's docs say snapshots come in
"either Gadget-II format or HDF5"; only HDF5 is read here (a binary ``snap_004.0`` is refused by name). Since
February 2023 the HDF5 datasets are Blosc-compressed, which h5py reads only once ``hdf5plugin`` is importable; it
is imported when installed, and an unreadable dataset's message says to install it.

**The overdensity** δ at each halo is ``symdistill.cosmology.overdensity``'s.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.io import package_versions
from symdistill.core.specs import Spec
from symdistill.cosmology.catalogue import COLUMNS, POSITIONS, UNITS, VELOCITIES, CatalogueError, wrap, write_catalogue
from symdistill.cosmology.overdensity import DEFAULT_GRID, DEFAULT_SMOOTHING, overdensity_at

QUIJOTE_REDSHIFTS = {4: 0.0, 3: 0.5, 2: 1.0, 1: 2.0, 0: 3.0}  # snapnum → z (Quijote's docs, halos.rst)
FOF_HEADER = np.dtype(
    [("Ngroups", "<i4"), ("TotNgroups", "<i4"), ("Nids", "<i4"), ("TotNids", "<u8"), ("Nfiles", "<u4")]
)
# readfof's blocks in file order: (name, little-endian dtype, values per halo); 84 bytes a halo in all
FOF_BLOCKS = (
    ("GroupLen", "<i4", 1),
    ("GroupOffset", "<i4", 1),
    ("GroupMass", "<f4", 1),
    ("GroupPos", "<f4", 3),
    ("GroupVel", "<f4", 3),
    ("GroupTLen", "<f4", 6),
    ("GroupTMass", "<f4", 6),
)
FOF_BYTES_PER_HALO = sum(np.dtype(dtype).itemsize * width for _, dtype, width in FOF_BLOCKS)
SNAPSHOT_HEADER = ("NumFilesPerSnapshot", "NumPart_ThisFile", "NumPart_Total", "BoxSize", "Redshift")
KPC_PER_MPC = 1e3
CDM = 1  # Gadget particle type of cold dark matter


@dataclass(frozen=True)
class QuijoteSource(Spec):
    """Where a Quijote realisation lies and how its δ is computed: the inputs of :func:`quijote_catalogue`.

    ``snapdir`` holds ``groups_{snapnum:03d}/`` (Quijote's ``Halos/FoF/fiducial/0``); ``snapshot`` holds
    ``snapdir_{snapnum:03d}/`` (``Snapshots/fiducial/0``), or is that folder, or is the ``.../snap_004`` prefix.

    ``smoothing_radius`` (Mpc/h): the paper describes δ_i as a halo's excess of matter over its surroundings and
    names no smoothing scale that we could find, so the default is ours. 15 Mpc/h is chosen to reproduce the one
    figure of the paper that depends on the scale: its out-of-distribution split trains on δ ≤ 1, which keeps
    about 80 % of the halos. A lognormal density field with Quijote's linear σ(R) (σ8 = 0.834, Ωm = 0.3175,
    h = 0.6711, n_s = 0.9624, BBKS transfer function), weighted by halos of bias 1.5, puts 25 % of halos above
    δ = 1 at R = 12 Mpc/h, 16 % at 15 and 7 % at 20; nonlinear growth adds a few points to each, so 15 is the
    round radius nearest an 80/20 split. An estimate, not a measurement: on Quijote, check ``np.mean(delta <= 1)``
    and move R if it is far from 0.80 (the share moves by 2–3 points per Mpc/h around 15).
    """

    snapdir: str
    snapshot: str
    snapnum: int = 4
    grid: int = DEFAULT_GRID
    smoothing_radius: float = DEFAULT_SMOOTHING

    def __post_init__(self) -> None:
        for name in ("snapdir", "snapshot"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"quijote.{name} must be a path, got an empty string")
        if not 0 <= self.snapnum <= 999:
            raise ValueError(f"quijote.snapnum must be in 0..999 (file names have 3 digits), got {self.snapnum}")
        if self.grid < 2:
            raise ValueError(f"quijote.grid must be at least 2 cells per side, got {self.grid}")
        if not (math.isfinite(self.smoothing_radius) and self.smoothing_radius > 0):
            raise ValueError(
                f"quijote.smoothing_radius must be a positive length in Mpc/h, got {self.smoothing_radius}"
            )


@dataclass(frozen=True)
class Particles:
    """One snapshot's dark-matter particles: float32 (N, 3) comoving positions in Mpc/h, its box and redshift."""

    positions: np.ndarray
    box: float  # Mpc/h
    redshift: float


# ---------------------------------------------------------------------------------------------- FoF catalogues


def read_fof(snapdir: str | os.PathLike[str], snapnum: int, redshift: float | None = None) -> pd.DataFrame:
    """Every halo of the FoF catalogue ``{snapdir}/groups_{snapnum:03d}``, in file order: x, y, z (comoving Mpc/h),
    vx, vy, vz (peculiar km/s, GroupVel · (1 + ``redshift``)), M (1e10 Msun/h) and n_particles (GroupLen).

    ``redshift`` None takes Quijote's for ``snapnum`` (4 → 0, 3 → 0.5, 2 → 1, 1 → 2, 0 → 3): the catalogue does
    not record it. Raises :class:`CatalogueError`, naming the file, for a missing folder or file, a file whose size
    is not what its header promises, headers that disagree, or non-finite values.
    """
    if redshift is None:
        if snapnum not in QUIJOTE_REDSHIFTS:
            raise ValueError(f"snapnum {snapnum} is not one of Quijote's {sorted(QUIJOTE_REDSHIFTS)}: pass redshift")
        redshift = QUIJOTE_REDSHIFTS[snapnum]
    folder = Path(snapdir) / f"groups_{snapnum:03d}"
    if not folder.is_dir():
        raise CatalogueError(f"{folder}: no FoF catalogue folder (readfof expects groups_{snapnum:03d} in {snapdir})")
    first = _fof_path(folder, snapnum, 0)
    header = _fof_header(first)
    n_files, total = int(header["Nfiles"]), int(header["TotNgroups"])
    if n_files < 1 or total < 0:
        raise CatalogueError(f"{first}: header says {n_files} files and {total} halos: not a FoF group_tab file")
    files = [_read_fof_file(_fof_path(folder, snapnum, i), n_files, total) for i in range(n_files)]
    blocks = {
        name: np.concatenate([f[name] for f in files]) for name in ("GroupLen", "GroupMass", "GroupPos", "GroupVel")
    }
    if len(blocks["GroupLen"]) != total:
        raise CatalogueError(
            f"{folder}: its {n_files} files hold {len(blocks['GroupLen'])} halos, their headers' TotNgroups {total}"
        )
    return _fof_frame(blocks, redshift, folder)


def _fof_path(folder: Path, snapnum: int, i: int) -> Path:
    path = folder / f"group_tab_{snapnum:03d}.{i}"
    if not path.is_file():
        raise CatalogueError(f"{path}: missing (the catalogue's first file, group_tab_{snapnum:03d}.0, names more)")
    return path


def _fof_header(path: Path) -> np.void:
    with path.open("rb") as handle:
        raw = handle.read(FOF_HEADER.itemsize)
    if len(raw) < FOF_HEADER.itemsize:
        raise CatalogueError(f"{path}: {len(raw)} bytes, shorter than the {FOF_HEADER.itemsize}-byte FoF header")
    return np.frombuffer(raw, dtype=FOF_HEADER)[0]


def _read_fof_file(path: Path, n_files: int, total: int) -> dict[str, np.ndarray]:
    """One group_tab file's blocks, once its header agrees with the first file's and its size with its header."""
    header = _fof_header(path)
    if int(header["Nfiles"]) != n_files or int(header["TotNgroups"]) != total:
        raise CatalogueError(
            f"{path}: header says {int(header['Nfiles'])} files and {int(header['TotNgroups'])} halos in all, "
            f"file 0 says {n_files} and {total}: files of different catalogues?"
        )
    raw = path.read_bytes()
    n = int(header["Ngroups"])
    expected = FOF_HEADER.itemsize + FOF_BYTES_PER_HALO * n
    if n < 0 or len(raw) != expected:
        raise CatalogueError(
            f"{path}: {len(raw)} bytes, expected {FOF_HEADER.itemsize} + {FOF_BYTES_PER_HALO} × Ngroups ({n}) = "
            f"{expected}: truncated, or not a little-endian Quijote group_tab file (no SFR or GroupType blocks)"
        )
    blocks, offset = {}, FOF_HEADER.itemsize
    for name, dtype, width in FOF_BLOCKS:
        values = np.frombuffer(raw, dtype=dtype, count=n * width, offset=offset)
        blocks[name] = values.reshape(n, width) if width > 1 else values
        offset += values.nbytes
    return blocks


def _fof_frame(blocks: dict[str, np.ndarray], redshift: float, folder: Path) -> pd.DataFrame:
    """The catalogue's columns in the pipeline's units (float64), refusing NaN or inf."""
    converted = {
        "GroupPos": blocks["GroupPos"].astype(np.float64) / KPC_PER_MPC,
        "GroupVel": blocks["GroupVel"].astype(np.float64) * (1.0 + redshift),
        "GroupMass": blocks["GroupMass"].astype(np.float64),
    }
    bad = [name for name, values in converted.items() if not np.isfinite(values).all()]
    if bad:
        raise CatalogueError(f"{folder}: non-finite values (NaN or inf) in {', '.join(bad)}")
    columns = dict(zip(POSITIONS, converted["GroupPos"].T, strict=True))
    columns.update(zip(VELOCITIES, converted["GroupVel"].T, strict=True))
    columns["M"] = converted["GroupMass"]
    columns["n_particles"] = blocks["GroupLen"].astype(np.int64)
    return pd.DataFrame(columns)


# ---------------------------------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class _SnapshotHeader:
    n_files: int
    this_file: int  # CDM particles in this file
    total: int  # CDM particles in the snapshot
    box: float  # kpc/h, as stored
    redshift: float


def read_particle_positions(snapshot: str | os.PathLike[str], snapnum: int) -> Particles:
    """The cold-dark-matter positions (float32, comoving Mpc/h) of an HDF5 Gadget snapshot, with its box (Mpc/h)
    and redshift from the header, filled file by file into one preallocated array (N × 12 bytes: 1.6 GB for
    Quijote's 512³ particles; no other full-size temporary).

    ``snapshot`` is the folder holding ``snapdir_{snapnum:03d}``, that folder itself, or the ``.../snap_004``
    prefix (as Pylians' readgadget takes it). Raises :class:`CatalogueError`, naming the file, for a missing or
    unreadable file, a binary (non-HDF5) snapshot, or headers that disagree with each other or with the data.
    """
    paths = _snapshot_paths(Path(snapshot), snapnum)
    first = _snapshot_header(paths[0])
    positions = np.empty((first.total, 3), dtype=np.float32)
    start = 0
    for path in paths:
        header = _snapshot_header(path)
        if replace(header, this_file=first.this_file) != first:
            raise CatalogueError(f"{path}: header disagrees with {paths[0].name}'s (files, particles, box, redshift)")
        stop = start + header.this_file
        if stop > first.total:
            raise CatalogueError(
                f"{path}: files up to this one hold {stop} particles, the header's total is {first.total}"
            )
        _read_coordinates(path, positions[start:stop])
        start = stop
    if start != first.total:
        raise CatalogueError(
            f"{paths[0]}: the {len(paths)} files hold {start} particles, the header's total is {first.total}"
        )
    positions /= np.float32(KPC_PER_MPC)
    return Particles(positions, first.box / KPC_PER_MPC, first.redshift)


def _snapshot_paths(snapshot: Path, snapnum: int) -> list[Path]:
    """Every file of the snapshot, from the first file's NumFilesPerSnapshot."""
    name = f"snap_{snapnum:03d}"
    if snapshot.is_dir():
        folder = snapshot / f"snapdir_{snapnum:03d}"
        prefix = (folder if folder.is_dir() else snapshot) / name
    else:
        prefix = snapshot
    first, single = prefix.with_name(f"{prefix.name}.0.hdf5"), prefix.with_name(f"{prefix.name}.hdf5")
    if first.is_file():
        n_files = _snapshot_header(first).n_files
        paths = [prefix.with_name(f"{prefix.name}.{i}.hdf5") for i in range(n_files)]
    elif single.is_file():
        paths = [single]
    elif prefix.with_name(f"{prefix.name}.0").is_file():
        raise CatalogueError(
            f"{prefix}.0: a binary Gadget snapshot; only the HDF5 format ({first.name}) is read here"
            " (Pylians' readsnap.py reads binary ones)"
        )
    else:
        raise CatalogueError(f"{first}: no such snapshot file (nor {single.name})")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CatalogueError(f"{missing[0]}: missing ({paths[0].name} says the snapshot has {len(paths)} files)")
    return paths


@contextlib.contextmanager
def _hdf5(path: Path) -> Iterator[Any]:
    """``path`` opened read-only with h5py (imported here: only this reader needs it), Blosc filters registered
    when hdf5plugin is installed."""
    import h5py

    with contextlib.suppress(ImportError):
        importlib.import_module("hdf5plugin")  # registers Quijote's compression filters with HDF5
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise CatalogueError(f"{path}: not a readable HDF5 file (truncated, or not HDF5): {err}") from None
    with handle:
        yield handle


def _snapshot_header(path: Path) -> _SnapshotHeader:
    with _hdf5(path) as handle:
        attrs = dict(handle["Header"].attrs) if "Header" in handle else {}
    missing = [key for key in SNAPSHOT_HEADER if key not in attrs]
    if missing:
        raise CatalogueError(f"{path}: Header lacks {', '.join(missing)}: not a Gadget HDF5 snapshot")
    header = _SnapshotHeader(
        n_files=int(attrs["NumFilesPerSnapshot"]),
        this_file=int(attrs["NumPart_ThisFile"][CDM]),
        total=int(attrs["NumPart_Total"][CDM]),
        box=float(attrs["BoxSize"]),
        redshift=float(attrs["Redshift"]),
    )
    if header.n_files < 1 or header.this_file < 0 or header.total < 0 or not header.box > 0:
        raise CatalogueError(f"{path}: implausible Header {header}")
    return header


def _read_coordinates(path: Path, out: np.ndarray) -> None:
    """PartType1/Coordinates of ``path`` into ``out`` (its row count is the header's NumPart_ThisFile)."""
    key = f"PartType{CDM}/Coordinates"
    with _hdf5(path) as handle:
        if len(out) == 0 and key not in handle:
            return
        if key not in handle:
            raise CatalogueError(f"{path}: no {key} dataset, though its header counts {len(out)} CDM particles")
        dataset = handle[key]
        if dataset.shape != out.shape:
            raise CatalogueError(
                f"{path}: {key} has shape {dataset.shape}, the header's NumPart_ThisFile says {out.shape}"
            )
        try:
            dataset.read_direct(out)
        except OSError as err:
            raise CatalogueError(
                f"{path}: cannot read {key}: {err}. Quijote's snapshots are Blosc-compressed since February 2023;"
                " reading them needs `pip install hdf5plugin`"
            ) from None


# -------------------------------------------------------------------------------------------- the catalogue


def quijote_catalogue(source: QuijoteSource) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The halos of ``source`` with their δ, columns :data:`symdistill.cosmology.catalogue.COLUMNS` plus n_particles,
    and the provenance a catalogue file carries (for :func:`symdistill.cosmology.catalogue.write_catalogue`).

    The redshift (for the velocities) and the box come from the snapshot's header; positions are folded into
    [0, box) (FoF centres can round onto the upper face, which the periodic graph refuses). Halos outside the
    snapshot's box mean the catalogue and snapshot are of different simulations, and are refused.
    """
    particles = read_particle_positions(source.snapshot, source.snapnum)
    frame = read_fof(source.snapdir, source.snapnum, redshift=particles.redshift)
    positions = frame[list(POSITIONS)].to_numpy()
    tolerance = 1e-6 * particles.box
    outside = int(np.count_nonzero(((positions < -tolerance) | (positions > particles.box + tolerance)).any(axis=1)))
    if outside:
        raise CatalogueError(
            f"{Path(source.snapdir) / f'groups_{source.snapnum:03d}'}: {outside} halos lie outside the snapshot's box"
            f" [0, {particles.box:g}] Mpc/h ({source.snapshot}): catalogue and snapshot of different simulations?"
        )
    positions = wrap(positions, particles.box)
    frame[list(POSITIONS)] = positions
    frame["delta"] = overdensity_at(positions, particles.positions, particles.box, source.grid, source.smoothing_radius)
    frame.insert(0, "halo", np.arange(len(frame), dtype=np.int64))
    metadata = {
        "source": "quijote",
        "spec": asdict(source),
        "box": particles.box,
        "redshift": particles.redshift,
        "n_particles": len(particles.positions),
        "units": UNITS,
        "versions": package_versions(),
    }
    return frame[[*COLUMNS, "n_particles"]], metadata


def write_quijote(source: QuijoteSource, path: str | os.PathLike[str]) -> None:
    """Rule ``halos_quijote``: the halos of ``source`` with their δ, written as a pipeline catalogue."""
    frame, metadata = quijote_catalogue(source)
    write_catalogue(path, frame, metadata)
