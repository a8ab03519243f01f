"""Quijote readers and the overdensity target (issue 22): FoF catalogues written byte by byte in readfof's layout
and HDF5 snapshots written with h5py read back with their units; broken files refused by name; the cloud-in-cell
top-hat δ checked against Poisson noise, an analytic clump, periodicity and mass conservation."""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from symdistill.cosmology.catalogue import COLUMNS, CatalogueError
from symdistill.cosmology.overdensity import (
    cic_deposit,
    cic_interpolate,
    density_contrast,
    overdensity_at,
    top_hat_smooth,
    top_hat_window,
)
from symdistill.cosmology.quijote import QuijoteSource, quijote_catalogue, read_fof, read_particle_positions

# ------------------------------------------------------------------------------ writers, independent of the reader


def fof_halos(n: int, seed: int = 0, box_kpc: float = 1e5) -> dict[str, np.ndarray]:
    """Raw group_tab blocks as Gadget's FoF writes them: kpc/h positions, 1e10 Msun/h masses."""
    rng = np.random.default_rng(seed)
    length = rng.integers(20, 500, n)
    return {
        "len": length,
        "offset": np.cumsum(length) - length,
        "mass": length * 65.6,
        "pos": rng.uniform(0, box_kpc, (n, 3)),
        "vel": rng.normal(0, 300, (n, 3)),
        "tlen": rng.uniform(0, 1, (n, 6)),
        "tmass": rng.uniform(0, 1, (n, 6)),
    }


def write_group_tab(path: Path, halos: dict[str, np.ndarray], rows: slice, total: int, n_files: int) -> None:
    """One group_tab file: the packed header (struct format <iiiQI) then each block for these rows, in order."""
    part = {key: values[rows] for key, values in halos.items()}
    n = len(part["len"])
    header = struct.pack("<iiiQI", n, total, int(part["len"].sum()), int(halos["len"].sum()), n_files)
    body = b"".join(
        part[key].astype(dtype).tobytes()
        for key, dtype in (
            ("len", "<i4"),
            ("offset", "<i4"),
            ("mass", "<f4"),
            ("pos", "<f4"),
            ("vel", "<f4"),
            ("tlen", "<f4"),
            ("tmass", "<f4"),
        )
    )
    path.write_bytes(header + body)


def write_fof(snapdir: Path, halos: dict[str, np.ndarray], snapnum: int = 4, split: int | None = None) -> Path:
    """The catalogue over two files (the first ``split`` halos in file 0); returns the groups folder."""
    folder = snapdir / f"groups_{snapnum:03d}"
    folder.mkdir(parents=True)
    total = len(halos["len"])
    split = total // 2 if split is None else split
    for i, rows in enumerate((slice(0, split), slice(split, total))):
        write_group_tab(folder / f"group_tab_{snapnum:03d}.{i}", halos, rows, total, 2)
    return folder


def write_snapshot(root: Path, positions_kpc: np.ndarray, box_kpc: float, redshift: float = 0.0, n_files: int = 2):
    """A Gadget HDF5 snapshot in Quijote's layout (snapdir_004/snap_004.{i}.hdf5), CDM only."""
    folder = root / "snapdir_004"
    folder.mkdir(parents=True)
    parts = np.array_split(positions_kpc.astype(np.float32), n_files)
    for i, part in enumerate(parts):
        with h5py.File(folder / f"snap_004.{i}.hdf5", "w") as handle:
            header = handle.create_group("Header")
            header.attrs["NumFilesPerSnapshot"] = n_files
            header.attrs["NumPart_ThisFile"] = np.array([0, len(part), 0, 0, 0, 0], dtype=np.int32)
            header.attrs["NumPart_Total"] = np.array([0, len(positions_kpc), 0, 0, 0, 0], dtype=np.uint32)
            header.attrs["BoxSize"] = box_kpc
            header.attrs["Redshift"] = redshift
            header.attrs["Time"] = 1.0 / (1.0 + redshift)
            handle.create_dataset("PartType1/Coordinates", data=part)
    return folder


# ------------------------------------------------------------------------------------------------- FoF reader


def test_fof_over_two_files_reads_every_column_in_pipeline_units(tmp_path: Path) -> None:
    halos = fof_halos(7)
    write_fof(tmp_path, halos, split=3)
    frame = read_fof(tmp_path, 4)
    assert list(frame.columns) == ["x", "y", "z", "vx", "vy", "vz", "M", "n_particles"]
    assert len(frame) == 7
    pos32, vel32 = halos["pos"].astype(np.float32), halos["vel"].astype(np.float32)
    np.testing.assert_allclose(frame[["x", "y", "z"]].to_numpy(), pos32.astype(np.float64) / 1000.0, rtol=1e-15)
    np.testing.assert_array_equal(frame[["vx", "vy", "vz"]].to_numpy(), vel32)  # z = 0: no (1 + z) factor
    np.testing.assert_array_equal(frame["M"].to_numpy(), halos["mass"].astype(np.float32))
    np.testing.assert_array_equal(frame["n_particles"].to_numpy(), halos["len"])


def test_fof_velocities_are_scaled_by_one_plus_z(tmp_path: Path) -> None:
    halos = fof_halos(4)
    write_fof(tmp_path, halos, snapnum=3)
    vel32 = halos["vel"].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(read_fof(tmp_path, 3)[["vx", "vy", "vz"]].to_numpy(), 1.5 * vel32)  # snap 3: z 0.5
    np.testing.assert_allclose(read_fof(tmp_path, 3, redshift=1.0)[["vx"]].to_numpy()[:, 0], 2.0 * vel32[:, 0])
    with pytest.raises(ValueError, match="pass redshift"):
        read_fof(tmp_path, 7)


def test_fof_file_with_no_halos_is_fine(tmp_path: Path) -> None:
    write_fof(tmp_path, fof_halos(3), split=0)
    assert len(read_fof(tmp_path, 4)) == 3


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no folder", "no FoF catalogue folder"),
        ("missing file", r"group_tab_004\.1: missing"),
        ("truncated", r"group_tab_004\.1: \d+ bytes, expected 24 \+ 84 × Ngroups \(3\) = 276: truncated"),
        ("short header", r"group_tab_004\.0: 10 bytes, shorter than the 24-byte FoF header"),
        ("other catalogue", r"group_tab_004\.1: header says 2 files and 9 halos in all, file 0 says 2 and 6"),
        ("count", r"its 2 files hold 5 halos, their headers' TotNgroups 6"),
    ],
)
def test_broken_fof_catalogues_are_refused_by_name(tmp_path: Path, damage: str, message: str) -> None:
    halos = fof_halos(6)
    folder = write_fof(tmp_path, halos)
    second = folder / "group_tab_004.1"
    if damage == "no folder":
        folder.rename(tmp_path / "elsewhere")
    elif damage == "missing file":
        second.unlink()
    elif damage == "truncated":
        second.write_bytes(second.read_bytes()[:-10])
    elif damage == "short header":
        (folder / "group_tab_004.0").write_bytes(b"\0" * 10)
    elif damage == "other catalogue":
        write_group_tab(second, halos, slice(3, 6), 9, 2)
    elif damage == "count":
        write_group_tab(second, halos, slice(3, 5), 6, 2)
    with pytest.raises(CatalogueError, match=message):
        read_fof(tmp_path, 4)


# --------------------------------------------------------------------------------------------- snapshot reader


def test_hdf5_snapshot_over_two_files_reads_positions_in_mpc(tmp_path: Path) -> None:
    positions = np.random.default_rng(0).uniform(0, 5e4, (1001, 3))
    write_snapshot(tmp_path, positions, 5e4, redshift=0.5)
    expected = positions.astype(np.float32) / np.float32(1000.0)
    for where in (tmp_path, tmp_path / "snapdir_004", tmp_path / "snapdir_004" / "snap_004"):
        particles = read_particle_positions(where, 4)
        assert particles.positions.dtype == np.float32
        np.testing.assert_array_equal(particles.positions, expected)
        assert (particles.box, particles.redshift) == (50.0, 0.5)


def test_single_file_snapshot_is_read_too(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path, np.full((5, 3), 2500.0), 1e4, n_files=1)
    (folder / "snap_004.0.hdf5").rename(folder / "snap_004.hdf5")
    np.testing.assert_array_equal(read_particle_positions(tmp_path, 4).positions, np.full((5, 3), 2.5, np.float32))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing file", r"snap_004\.1\.hdf5: missing \(snap_004\.0\.hdf5 says the snapshot has 2 files\)"),
        ("truncated", r"snap_004\.1\.hdf5: not a readable HDF5 file"),
        ("binary", r"snap_004\.0: a binary Gadget snapshot; only the HDF5 format"),
        ("nothing", r"snap_004\.0\.hdf5: no such snapshot file"),
        (
            "count",
            r"snap_004\.1\.hdf5: PartType1/Coordinates has shape \(5, 3\), the header's NumPart_ThisFile says \(6, 3\)",
        ),
        ("header", r"snap_004\.1\.hdf5: Header lacks BoxSize: not a Gadget HDF5 snapshot"),
        ("other box", r"snap_004\.1\.hdf5: header disagrees with snap_004\.0\.hdf5's"),
    ],
)
def test_broken_snapshots_are_refused_by_name(tmp_path: Path, damage: str, message: str) -> None:
    folder = write_snapshot(tmp_path, np.ones((12, 3)), 1e4)
    second = folder / "snap_004.1.hdf5"
    if damage == "missing file":
        second.unlink()
    elif damage == "truncated":
        second.write_bytes(second.read_bytes()[:100])
    elif damage in ("binary", "nothing"):
        for path in folder.iterdir():
            path.unlink()
        if damage == "binary":
            (folder / "snap_004.0").write_bytes(b"\0" * 64)
    elif damage == "count":
        with h5py.File(second, "r+") as handle:
            del handle["PartType1/Coordinates"]
            handle.create_dataset("PartType1/Coordinates", data=np.ones((5, 3), np.float32))
    elif damage == "header":
        with h5py.File(second, "r+") as handle:
            del handle["Header"].attrs["BoxSize"]
    elif damage == "other box":
        with h5py.File(second, "r+") as handle:
            handle["Header"].attrs["BoxSize"] = 2e4
    with pytest.raises(CatalogueError, match=message):
        read_particle_positions(tmp_path, 4)


# ------------------------------------------------------------------------------------------------- overdensity


def test_cic_deposit_weights_a_particle_onto_its_eight_nodes_and_conserves_mass() -> None:
    grid, box = 4, 8.0  # cells of 2 Mpc/h; nodes at 0, 2, 4, 6
    counts = cic_deposit(np.array([[3.0, 7.0, 0.5]]), box, grid)  # x: half 2|4; y: half 6|0 (wraps); z: ¾ 0, ¼ 2
    expected = np.zeros((grid, grid, grid))
    for i, wx in ((1, 0.5), (2, 0.5)):
        for j, wy in ((3, 0.5), (0, 0.5)):
            for k, wz in ((0, 0.75), (1, 0.25)):
                expected[i, j, k] = wx * wy * wz
    np.testing.assert_allclose(counts, expected, atol=1e-15)

    rng = np.random.default_rng(3)
    edges = np.array([[0.0, 0.0, 0.0], [box, box, box], [-1e-9, box - 1e-9, 3 * box], [-box, 0.5, 1e-300]])
    points = np.concatenate([rng.uniform(-box, 2 * box, (100_000, 3)), edges]).astype(np.float32)
    total = cic_deposit(points, box, grid).sum()
    assert total == pytest.approx(len(points), rel=1e-12)


def test_cic_interpolation_is_exact_for_a_field_linear_between_nodes() -> None:
    grid, box = 8, 16.0
    field = np.broadcast_to(np.arange(grid, dtype=np.float32)[:, None, None], (grid,) * 3).copy()
    x = np.random.default_rng(0).uniform(0, box * (grid - 1) / grid, 50)
    points = np.column_stack([x, np.full(50, 3.3), np.full(50, 15.9)])
    np.testing.assert_allclose(cic_interpolate(field, points, box), x / (box / grid), rtol=1e-6)


def test_top_hat_window_is_continuous_where_its_series_takes_over() -> None:
    x = np.array([0.0, 0.01 - 1e-12, 0.01, 1.0, 4.493409457909064])  # the last: W's first zero, tan x = x
    w = top_hat_window(x)
    assert w[0] == 1.0 and w[1] == pytest.approx(w[2], abs=1e-12)
    assert w[3] == pytest.approx(3 * (math.sin(1) - math.cos(1)), rel=1e-12)
    assert abs(w[4]) < 1e-12


def test_uniform_random_particles_give_zero_delta_with_poisson_scatter() -> None:
    """Mean 0 exactly (δ is relative to the deposited mean); the scatter over the whole smoothed grid is the
    shot noise predicted mode by mode: Σ_k W(kR)² Π_i (1 − ⅔ sin²(π m_i/grid)) / N (the last factor: what CIC
    does to Poisson noise), 2.5 % under the continuum 1/√(n̄ V_R) here."""
    box, grid, radius, n = 200.0, 128, 15.0, 4_000_000
    points = np.random.default_rng(7).uniform(0, box, (n, 3)).astype(np.float32)
    smoothed = top_hat_smooth(density_contrast(cic_deposit(points, box, grid)), box, radius)
    assert abs(smoothed.mean()) < 1e-6
    m, mz = np.fft.fftfreq(grid, 1 / grid), np.fft.rfftfreq(grid, 1 / grid)
    k = 2 * np.pi / box * np.sqrt(m[:, None, None] ** 2 + m[None, :, None] ** 2 + mz[None, None, :] ** 2)
    cic = [1 - 2 / 3 * np.sin(np.pi * f / grid) ** 2 for f in (m, mz)]
    noise = top_hat_window(k * radius) ** 2 * cic[0][:, None, None] * cic[0][None, :, None] * cic[1][None, None, :]
    noise[0, 0, 0] = 0.0
    twice = np.where((mz == 0) | (mz == grid // 2), 1.0, 2.0)  # rfft keeps half the modes
    expected = math.sqrt((noise * twice).sum() / n)
    assert smoothed.std() == pytest.approx(expected, rel=0.08)
    assert expected == pytest.approx(1 / math.sqrt(n / box**3 * 4 / 3 * math.pi * radius**3), rel=0.05)


def clump_field(centre: np.ndarray, box: float, grid: int, n_clump: int) -> np.ndarray:
    """A lattice at half the cell spacing (uniform exactly under CIC) plus ``n_clump`` particles uniform in a
    sphere of 4 Mpc/h about ``centre``, wrapped into the box."""
    spacing = box / grid / 2
    axis = (np.arange(2 * grid) + 0.5) * spacing
    lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    rng = np.random.default_rng(11)
    direction = rng.normal(size=(n_clump, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    clump = centre + direction * 4.0 * rng.uniform(0, 1, (n_clump, 1)) ** (1 / 3)
    return np.mod(np.concatenate([lattice, clump]), box).astype(np.float32)


def test_overdense_clump_gives_the_analytic_top_hat_delta_and_periodicity_changes_nothing() -> None:
    """With the clump well inside the sphere, top-hat smoothing at its centre sees all of its mass:
    δ = (n̄_lattice V_R + N_clump) / (n̄ V_R) − 1. The same clump across the box's corner gives the same δ."""
    box, grid, radius, n_clump = 200.0, 64, 25.0, 20_000
    volume = 4 / 3 * math.pi * radius**3
    n_lattice = (2 * grid) ** 3
    analytic = (n_lattice / box**3 * volume + n_clump) / ((n_lattice + n_clump) / box**3 * volume) - 1
    middle = np.array([100.3, 99.1, 100.7])
    corner = middle - box / 2  # (0.3, −0.9, 0.7): the clump straddles all three faces
    deltas = [
        overdensity_at(centre[None, :], clump_field(centre, box, grid, n_clump), box, grid, radius)[0]
        for centre in (middle, corner)
    ]
    assert deltas[0] == pytest.approx(analytic, rel=0.01)  # measured: 0.16 % low
    assert deltas[1] == pytest.approx(deltas[0], abs=1e-6)
    far = overdensity_at(np.array([[0.0, 100.0, 0.0]]), clump_field(middle, box, grid, n_clump), box, grid, radius)
    assert far[0] == pytest.approx(n_lattice / (n_lattice + n_clump) - 1, abs=2e-3)  # outside it: the background


def test_overdensity_refuses_a_radius_the_mesh_cannot_carry() -> None:
    points = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"at least one cell \(box/grid = 3\.125 Mpc/h"):
        overdensity_at(points, points, 200.0, 64, 3.0)
    with pytest.raises(ValueError, match="below box/2"):
        overdensity_at(points, points, 200.0, 64, 100.0)
    with pytest.raises(ValueError, match=r"halo_positions must be an \(N, 3\) array"):
        overdensity_at(np.zeros(3), points, 200.0, 64, 10.0)


# ------------------------------------------------------------------------------------------------ the catalogue


def test_quijote_catalogue_joins_halos_snapshot_and_delta(tmp_path: Path) -> None:
    box_kpc = 1e5
    halos = fof_halos(30, box_kpc=box_kpc)
    halos["pos"][0] = [box_kpc, 0.0, 5e4]  # a centre on the upper face: folded to 0
    write_fof(tmp_path / "halos", halos)
    particles = np.random.default_rng(5).uniform(0, box_kpc, (20_000, 3))
    write_snapshot(tmp_path / "snaps", particles, box_kpc)
    source = QuijoteSource(
        snapdir=str(tmp_path / "halos"), snapshot=str(tmp_path / "snaps"), grid=32, smoothing_radius=10.0
    )
    frame, meta = quijote_catalogue(source)
    assert list(frame.columns) == [*COLUMNS, "n_particles"]
    assert frame.loc[0, "x"] == 0.0 and ((frame[["x", "y", "z"]] >= 0) & (frame[["x", "y", "z"]] < 100)).all().all()
    expected = overdensity_at(
        frame[["x", "y", "z"]].to_numpy(), particles.astype(np.float32) / np.float32(1000), 100.0, 32, 10.0
    )
    np.testing.assert_array_equal(frame["delta"].to_numpy(), expected)
    assert (meta["box"], meta["redshift"], meta["n_particles"], meta["spec"]["grid"]) == (100.0, 0.0, 20_000, 32)

    halos["pos"][1] = [2 * box_kpc, 0.0, 0.0]
    write_fof(tmp_path / "other", halos)
    with pytest.raises(CatalogueError, match=r"1 halos lie outside the snapshot's box \[0, 100\] Mpc/h"):
        quijote_catalogue(replace(source, snapdir=str(tmp_path / "other")))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("snapdir", " ", "quijote.snapdir must be a path"),
        ("snapnum", 1000, "quijote.snapnum must be in 0..999"),
        ("grid", 1, "quijote.grid must be at least 2"),
        ("smoothing_radius", 0.0, "quijote.smoothing_radius must be a positive length"),
        ("smoothing_radius", math.nan, "quijote.smoothing_radius must be a positive length"),
    ],
)
def test_quijote_source_refuses_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuijoteSource(**{"snapdir": "a", "snapshot": "b", field: value})


@pytest.mark.workflow
def test_the_cosmology_branch_runs_on_a_quijote_realisation(tmp_path: Path) -> None:
    """Rule halos_quijote reads a realisation in Quijote's own formats (FoF files, HDF5 snapshot) and the branch
    runs on it to Table 6, with no planted law to judge: the path a cluster user takes."""
    import json

    import yaml
    from workflow import ROOT, snakemake

    box_kpc = 3e5  # 300 Mpc/h: the 50 Mpc/h graph fits
    write_fof(tmp_path / "halos", fof_halos(600, box_kpc=box_kpc))
    write_snapshot(tmp_path / "snaps", np.random.default_rng(1).uniform(0, box_kpc, (60_000, 3)), box_kpc)
    overlay = tmp_path / "quijote.yaml"
    quijote = {"snapdir": str(tmp_path / "halos"), "snapshot": str(tmp_path / "snaps"), "grid": 32}
    cosmology = {"catalogue": "quijote", "quijote": {**quijote, "smoothing_radius": 20.0}, "splits": ["random"]}
    overlay.write_text(yaml.safe_dump({"cosmology": cosmology}))
    work = tmp_path / "run"
    configs = [str(ROOT / "config.yaml"), str(ROOT / "presets" / "smoke.yaml"), str(overlay)]
    snakemake(work, "--configfile", *configs, "--", "results/tables/table6.md", preset=None)
    catalogue = read_fof(tmp_path / "halos", 4)
    evaluation = json.loads((work / "results/cosmology/quijote/random/evaluation.json").read_text())
    assert evaluation["planted"] is None and evaluation["halos"]["train"] + evaluation["halos"]["test"] == 600
    assert len(catalogue) == 600
    table = (work / "results/tables/table6.md").read_text()
    assert "random: no planted law (a real catalogue)" in table and "| Best with mass |" in table
