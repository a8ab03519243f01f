"""Dataset files: the long layout round-trips, writes are atomic, bad files fail loudly and by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import small_spec

from symdistill.nbody.data import DatasetError, DatasetWriter, SplitFiles, read_metadata, read_split
from symdistill.nbody.simulate import simulate_dataset


@pytest.fixture(scope="module")
def spring_files(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("data")
    simulate_dataset(small_spec("spring", 3), SplitFiles(out / "train.parquet", out / "test.parquet"))
    return out / "train.parquet", out / "test.parquet"


def test_long_layout_and_provenance(spring_files) -> None:
    train, _ = spring_files
    frame = pd.read_parquet(train)
    assert list(frame.columns) == [
        "sim",
        "step",
        "time",
        "particle",
        "x",
        "y",
        "z",
        "vx",
        "vy",
        "vz",
        "q",
        "m",
        "ax",
        "ay",
        "az",
    ]
    assert len(frame) == 12 * 20 * 4
    assert frame[["sim", "step", "particle"]].iloc[:5].values.tolist() == [
        [0, 0, 0],
        [0, 0, 1],
        [0, 0, 2],
        [0, 0, 3],
        [0, 5, 0],
    ]
    meta = read_metadata(train)
    assert meta["sim"] == "spring" and meta["dt"] == 0.01 and meta["nt"] == 100 and meta["keep_every"] == 5
    assert meta["split_method"] == "seed" and meta["sim_seed"] == 0 and "jax" in meta["package_versions"]


def test_reader_returns_samples_by_nodes_by_features(spring_files) -> None:
    train, test = spring_files
    split = read_split(train)
    assert split.x.shape == (240, 4, 8) and split.y.shape == (240, 4, 3) and split.x.dtype == np.float32
    frame = pd.read_parquet(train)
    np.testing.assert_array_equal(
        split.x[1, 2], frame.iloc[6][["x", "y", "z", "vx", "vy", "vz", "q", "m"]].to_numpy(np.float32)
    )
    assert read_split(test).x.shape == (4 * 20, 4, 8)
    assert read_metadata(test)["sim_seed"] == 1


def test_test_split_from_another_seed_is_new_simulations(spring_files) -> None:
    train, test = (read_split(p) for p in spring_files)
    assert not np.isin(test.x[:, :, 0], train.x[:, :, 0]).any()


def test_time_split_holds_out_the_last_snapshots(tmp_path: Path) -> None:
    simulate_dataset(small_spec("r1", split="time"), SplitFiles(tmp_path / "train.parquet", tmp_path / "test.parquet"))
    train, test = read_split(tmp_path / "train.parquet"), read_split(tmp_path / "test.parquet")
    assert set(train.step) == set(range(0, 75, 5)) and set(test.step) == set(range(75, 100, 5))
    assert set(train.sim) == set(test.sim) == set(range(12))


def test_truncated_file_is_named_in_the_error(spring_files, tmp_path: Path) -> None:
    data = spring_files[0].read_bytes()
    broken = tmp_path / "train.parquet"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"train\.parquet: not a readable Parquet file"):
        read_split(broken)


def test_foreign_parquet_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    with pytest.raises(DatasetError, match="other.parquet: not a symdistill dataset"):
        read_split(path)


def test_rows_missing_against_metadata_are_detected(spring_files, tmp_path: Path) -> None:
    table = pq.read_table(spring_files[0])
    path = tmp_path / "short.parquet"
    pq.write_table(table.slice(0, table.num_rows - 4), path)
    with pytest.raises(DatasetError, match="rows, but its metadata promises"):
        read_split(path)


def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    meta = {"dim": 2, "n": 4, "n_sims": 2, "n_steps": 1}
    with pytest.raises(RuntimeError), DatasetWriter(path, meta) as writer:
        writer.write(np.arange(1), np.arange(1), np.zeros(1), np.zeros((1, 1, 4, 6)), np.zeros((1, 1, 4, 2)))
        raise RuntimeError("killed")
    with pytest.raises(DatasetError, match="promises 8"), DatasetWriter(path, meta) as writer:
        writer.write(np.arange(1), np.arange(1), np.zeros(1), np.zeros((1, 1, 4, 6)), np.zeros((1, 1, 4, 2)))
    assert list(tmp_path.iterdir()) == []
