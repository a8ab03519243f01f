"""Halo catalogues (issue 22): the synthetic catalogue is reproducible, clustered and obeys its planted law on the
periodic radius graph, which matches brute force; catalogue files are read strictly and round-trip."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, deep_merge

from symdistill.config.validation import validate_config
from symdistill.core.names import ConfigError
from symdistill.cosmology.catalogue import (
    QUIJOTE_BOX,
    QUIJOTE_HALOS,
    CatalogueError,
    PlantedLaw,
    SyntheticCatalogueSpec,
    read_catalogue,
    read_written_catalogue,
    synthetic_catalogue,
    write_catalogue,
    write_synthetic,
)
from symdistill.cosmology.graph import neighbour_edges


def small_spec(n_halos: int = 2000, **overrides) -> SyntheticCatalogueSpec:
    """A catalogue at Quijote's halo density (the box shrunk with the count), paper radius 50 Mpc/h."""
    box = QUIJOTE_BOX * (n_halos / QUIJOTE_HALOS) ** (1 / 3)
    return SyntheticCatalogueSpec(n_halos=n_halos, box=round(box, 3), **overrides)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    spec = small_spec(800)
    for name, s in (("a", spec), ("b", spec), ("c", replace(spec, seed=1))):
        write_synthetic(s, tmp_path / f"{name}.parquet")
    a, b, c = ((tmp_path / f"{name}.parquet").read_bytes() for name in "abc")
    assert a == b
    assert a != c
    pd.testing.assert_frame_equal(synthetic_catalogue(spec), synthetic_catalogue(spec))
    other = synthetic_catalogue(replace(spec, seed=1))
    assert not np.allclose(synthetic_catalogue(spec)[["x", "M", "delta"]], other[["x", "M", "delta"]])


def test_columns_and_positions_inside_box() -> None:
    spec = small_spec(3000)
    frame = synthetic_catalogue(spec)
    assert list(frame.columns) == ["halo", "x", "y", "z", "vx", "vy", "vz", "M", "delta"]
    assert len(frame) == spec.n_halos
    xyz = frame[["x", "y", "z"]].to_numpy()
    assert xyz.min() >= 0.0
    assert xyz.max() < spec.box
    assert (frame["M"] > 0).all()
    assert np.isfinite(frame.to_numpy()).all()


def neighbour_counts(spec: SyntheticCatalogueSpec) -> np.ndarray:
    frame = synthetic_catalogue(spec)
    _, receivers, _ = neighbour_edges(frame[["x", "y", "z"]].to_numpy(), spec.box, spec.radius)
    return np.bincount(receivers, minlength=spec.n_halos)


def test_clustered_neighbour_counts_far_more_variable_than_poisson() -> None:
    clustered = neighbour_counts(small_spec(4000))
    uniform = neighbour_counts(small_spec(4000, field_fraction=1.0))
    # A uniform catalogue's counts are Poisson: variance ≈ mean (≈ 113 at this density and radius 50).
    assert uniform.var() == pytest.approx(uniform.mean(), rel=0.3)
    assert clustered.var() > 10 * uniform.var()
    # ...and at the planted law's own scale (its kernel is a top-hat of 18.6 Mpc/h) the counts span a wide range.
    spec = small_spec(4000)
    frame = synthetic_catalogue(spec)
    _, receivers, distances = neighbour_edges(frame[["x", "y", "z"]].to_numpy(), spec.box, spec.radius)
    close = np.bincount(receivers[distances < 18.6], minlength=spec.n_halos)
    assert close.min() <= 2
    assert close.max() >= 40


def brute_force_edges(positions: np.ndarray, box: float, radius: float) -> dict[tuple[int, int], float]:
    """(sender, receiver) → distance, the nearest of the 27 periodic images, every ordered pair checked."""
    shifts = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)], dtype=np.float64) * box
    edges = {}
    for i in range(len(positions)):
        for j in range(len(positions)):
            if i == j:
                continue
            d = float(np.min(np.linalg.norm(positions[i] - positions[j] + shifts, axis=1)))
            if d <= radius:
                edges[(j, i)] = d
    return edges


def test_neighbour_edges_match_brute_force_minimum_image() -> None:
    box, radius = 100.0, 15.0
    rng = np.random.default_rng(7)
    corners = np.array([[a, b, c] for a in (0.4, 99.7) for b in (0.1, 99.9) for c in (1.0, 98.8)])
    faces = np.array([[0.05, 50, 50], [99.95, 50.5, 49], [50, 0.2, 50], [51, 99.1, 52], [30, 30, 0.0], [31, 29, 99.99]])
    positions = np.concatenate([rng.uniform(0, box, size=(200, 3)), corners, faces])
    senders, receivers, distances = neighbour_edges(positions, box, radius)
    assert senders.dtype == np.int32 and receivers.dtype == np.int32 and distances.dtype == np.float32
    expected = brute_force_edges(positions, box, radius)
    got = {(int(s), int(r)): float(d) for s, r, d in zip(senders, receivers, distances, strict=True)}
    assert len(got) == len(senders)  # no duplicate edge
    assert set(got) == set(expected)
    keys = sorted(expected)
    np.testing.assert_array_equal(
        np.array([got[k] for k in keys], dtype=np.float32), np.array([expected[k] for k in keys], dtype=np.float32)
    )
    # Wrapping matters here: the corner halos are each other's neighbours only through the box's faces.
    direct = np.linalg.norm(positions[senders] - positions[receivers], axis=1)
    wrapped = direct > radius
    assert wrapped.sum() >= 28 * 2
    assert {(s, r) for s, r in zip(senders[wrapped], receivers[wrapped], strict=True)} >= {(200, 207), (207, 200)}
    # Edges come sorted by (receiver, sender), both directions present.
    order = np.lexsort((senders, receivers))
    np.testing.assert_array_equal(order, np.arange(len(order)))
    assert set(zip(senders.tolist(), receivers.tolist(), strict=True)) == set(
        zip(receivers.tolist(), senders.tolist(), strict=True)
    )


def planted_delta_by_loop(frame: pd.DataFrame, box: float, radius: float, law: PlantedLaw) -> np.ndarray:
    """δ_i = C1 + e_i / (C2 + C3·M̃_i), e_i = Σ_{j≠i, |r_i − r_j| ≤ radius} (C4 + M̃_j) / (C5 + (C6·r̃_ij)^C7),
    written out halo by halo, with its own minimum-image distances in float64."""
    x = frame[["x", "y", "z"]].to_numpy()
    mass = frame["M"].to_numpy()
    out = np.empty(len(frame))
    for i in range(len(frame)):
        e = 0.0
        for j in range(len(frame)):
            if j == i:
                continue
            d2 = 0.0
            for k in range(3):
                dk = abs(x[i, k] - x[j, k])
                dk = min(dk, box - dk)
                d2 += dk * dk
            r = math.sqrt(d2)
            if r <= radius:
                e += (law.C4 + mass[j] / law.mass_scale) / (law.C5 + (law.C6 * r / law.length_scale) ** law.C7)
        out[i] = law.C1 + e / (law.C2 + law.C3 * mass[i] / law.mass_scale)
    return out


def test_noise_free_delta_is_the_planted_law() -> None:
    spec = small_spec(700, noise=0.0)
    frame = synthetic_catalogue(spec)
    expected = planted_delta_by_loop(frame, spec.box, spec.radius, spec.law)
    # The graph's distances are float32 (relative rounding 6e-8), raised to the 20.3rd power: each edge's term, so
    # δ − C1, agrees to ~1.2e-6 relative, not to the last bit (δ itself can be near 0 by cancellation against C1).
    np.testing.assert_allclose(frame["delta"].to_numpy() - spec.law.C1, expected - spec.law.C1, rtol=3e-6)
    assert expected.std() > 0.1  # neighbours do move δ: the comparison is not between two constants
    noisy = synthetic_catalogue(replace(spec, noise=0.05))
    residual = noisy["delta"].to_numpy() - expected
    assert residual.std() == pytest.approx(0.05, rel=0.15)


def test_read_catalogue_names_file_and_missing_columns(tmp_path: Path) -> None:
    frame = synthetic_catalogue(small_spec(300)).drop(columns=["vy", "M"])
    path = tmp_path / "halos.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(CatalogueError) as err:
        read_catalogue(path)
    message = str(err.value)
    assert str(path) in message
    assert "vy, M" in message


def test_read_catalogue_refuses_non_finite_by_name(tmp_path: Path) -> None:
    frame = synthetic_catalogue(small_spec(300))
    frame.loc[3, "vz"] = np.nan
    frame.loc[[5, 6], "M"] = np.inf
    path = tmp_path / "halos.parquet"
    frame.to_parquet(path)
    with pytest.raises(
        CatalogueError, match=r"halos\.parquet: non-finite values .* in vz \(1 of 300\), M \(2 of 300\)"
    ):
        read_catalogue(path)


def test_read_catalogue_csv_without_halo_or_delta(tmp_path: Path) -> None:
    frame = synthetic_catalogue(small_spec(300))
    path = tmp_path / "mine.csv"
    frame.drop(columns=["halo", "delta"]).to_csv(path, index=False)
    read = read_catalogue(path)
    np.testing.assert_array_equal(read["halo"], np.arange(300))
    np.testing.assert_allclose(read[["x", "vx", "M"]], frame[["x", "vx", "M"]], rtol=1e-15)


def test_parquet_round_trip_with_provenance(tmp_path: Path) -> None:
    spec = small_spec(500)
    path = tmp_path / "cat.parquet"
    frame = write_synthetic(spec, path)
    read, meta = read_written_catalogue(path)
    pd.testing.assert_frame_equal(read, frame)
    assert meta["format"] == "symdistill.halos/1"
    assert meta["n_halos"] == 500
    assert meta["spec"]["seed"] == spec.seed and meta["spec"]["law"]["C7"] == 20.3
    assert SyntheticCatalogueSpec(**{**meta["spec"], "law": PlantedLaw(**meta["spec"]["law"])}) == spec
    assert "numpy" in meta["versions"] and "pyarrow" in meta["versions"]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary left behind


def test_read_written_refuses_foreign_parquet(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    synthetic_catalogue(small_spec(300)).to_parquet(path)
    with pytest.raises(CatalogueError, match="not a symdistill halo catalogue"):
        read_written_catalogue(path)
    with pytest.raises(CatalogueError, match="no such catalogue file"):
        read_written_catalogue(tmp_path / "absent.parquet")


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "cat.parquet"
    with pytest.raises(ValueError, match="without column"):
        write_catalogue(path, pd.DataFrame({"x": [1.0]}), {})
    assert not path.exists()


def test_radius_must_be_below_half_the_box() -> None:
    with pytest.raises(ValueError, match="box/2"):
        neighbour_edges(np.zeros((3, 3)), 100.0, 60.0)
    with pytest.raises(ValueError, match="box/2"):
        SyntheticCatalogueSpec(n_halos=10, box=80.0, radius=50.0)


@pytest.mark.workflow
def test_the_rule_writes_the_presets_catalogue(tmp_path: Path) -> None:
    """Rule halos_synthetic at the smoke preset's size: the file is the one the package writes for the same
    params, byte for byte, and carries the spec it was made with."""
    from workflow import snakemake

    snakemake(tmp_path, "--", "results/cosmology/synthetic.parquet")
    written = tmp_path / "results" / "cosmology" / "synthetic.parquet"
    settings = yaml.safe_load((ROOT / "config.yaml").read_text())["cosmology"]["synthetic"]
    settings |= yaml.safe_load((ROOT / "presets" / "smoke.yaml").read_text())["cosmology"]["synthetic"]
    write_synthetic(SyntheticCatalogueSpec(**settings), tmp_path / "direct.parquet")
    assert written.read_bytes() == (tmp_path / "direct.parquet").read_bytes()
    frame, meta = read_written_catalogue(written)
    assert len(frame) == settings["n_halos"] == 5000 and meta["spec"]["box"] == 285.0


def test_a_users_catalogue_is_imported_strictly(tmp_path: Path) -> None:
    from symdistill.cosmology.catalogue import import_catalogue

    frame = synthetic_catalogue(small_spec(300))
    box = small_spec(300).box
    source = tmp_path / "mine.csv"
    frame.drop(columns="halo").to_csv(source, index=False)
    import_catalogue(source, tmp_path / "file.parquet", box)
    written, meta = read_written_catalogue(tmp_path / "file.parquet")
    np.testing.assert_allclose(written[["x", "M", "delta"]], frame[["x", "M", "delta"]])
    assert meta["source"] == "file" and meta["box"] == box
    with pytest.raises(CatalogueError, match=r"mine.csv: \d+ coordinates outside \[0, 100.0\) Mpc/h"):
        import_catalogue(source, tmp_path / "small.parquet", 100.0)
    frame.drop(columns="delta").to_csv(source, index=False)
    with pytest.raises(CatalogueError, match="mine.csv: no column delta"):
        import_catalogue(source, tmp_path / "nodelta.parquet", box)
    assert not (tmp_path / "small.parquet").exists() and not (tmp_path / "nodelta.parquet").exists()


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"catalogue": "file"}, "invalid config at 'cosmology.file.path': catalogue: file needs the path"),
        ({"catalogue": "quijote"}, "invalid config at 'cosmology.quijote.snapdir': catalogue: quijote needs"),
        (
            {"catalogue": "file", "file": {"path": "mine.csv", "box": 100.0}},
            r"invalid config at 'cosmology.radius': 50.0 Mpc/h is not below half the box \(100.0",
        ),
        ({"radius": 40.0}, r"'cosmology.radius': 40.0 Mpc/h, but the synthetic catalogue's δ is planted on the graph"),
        ({"splits": ["time"]}, "invalid config at 'cosmology.splits.0'"),
    ],
)
def test_cosmology_config_mistakes_stop_before_any_job(overlay: dict, message: str) -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    deep_merge(config, yaml.safe_load((ROOT / "presets" / "smoke.yaml").read_text()))
    deep_merge(config, {"cosmology": overlay})
    with pytest.raises(ConfigError, match=message):
        validate_config(config, ROOT / "schemas" / "config.schema.yaml")
