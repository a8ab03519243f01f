"""Fault injection: what each stage does with bad, foreign, truncated or interrupted inputs and outputs.

Each case is one clear error naming the file (and what to rerun), never a bad result written with exit 0; an
interrupted stage leaves no partial output and its rerun gives the bytes of an uninterrupted one; two runs on
one results folder cannot overlap. Runnable alone: ``pytest tests/test_faults.py``. The table of cases and
messages is docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from cellfiles import CELL, synthetic_messages, write_message_file, write_training
from conftest import ROOT, small_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workflow import snakemake

from symdistill.config.validation import validate_config
from symdistill.core.io import InputError, atomic_output, write_json
from symdistill.core.names import Cell, ConfigError, IdentityError
from symdistill.engine.budget import SearchBudget
from symdistill.engine.model_files import save_record
from symdistill.engine.search import SearchSpec
from symdistill.engine.search_files import SearchOutputs
from symdistill.nbody import laws
from symdistill.nbody.data import DatasetError, read_split
from symdistill.nbody.forcefit import fit_forces
from symdistill.nbody.messages import read_messages
from symdistill.nbody.symbolic import fit_symbolic
from symdistill.nbody.train import load_model

# ---------------------------------------------------------------- datasets


def _rewrite(source: Path, target: Path, edit) -> Path:
    """``source`` with ``edit`` applied to its table, metadata kept: a file that looks like ours."""
    table = pq.read_table(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(edit(table).replace_schema_metadata(table.schema.metadata), target)
    return target


def _set(table: pa.Table, column: str, row: int, value: float) -> pa.Table:
    values = table.column(column).to_numpy().copy()
    values[row] = value
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values, type=pa.float32()))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_non_finite_dataset_value_is_named_with_its_file_and_column(spring_data, tmp_path, value) -> None:
    """Used to surface as "training loss became nan in epoch 1", without the data file's name."""
    bad = _rewrite(
        spring_data[0], tmp_path / "results/data/spring_2d_n4/train.parquet", lambda t: _set(t, "ax", 7, value)
    )
    with pytest.raises(
        InputError, match=rf"^{bad}: non-finite values \(NaN or inf\) in ax \(1 of \d+\).*`-R simulate`"
    ):
        read_split(bad)


@pytest.mark.parametrize("rule", ["ood", "hypothesis_ood"])
def test_a_non_finite_ood_set_names_the_rule_that_rebuilds_it(spring_data, tmp_path, rule) -> None:
    """An OOD set's read error named `-R simulate`, a rule that does not write it."""
    meta = json.loads(pq.read_schema(spring_data[1]).metadata[b"symdistill"])
    meta |= {"split_name": "ood/fast", "ood": {"dataset": "spring_2d_n4", "velocity_scale": 3.0}}
    meta |= {"rule": rule} if rule == "hypothesis_ood" else {}
    bad = tmp_path / "results/data/spring_2d_n4/ood/fast.parquet"
    bad.parent.mkdir(parents=True)
    table = _set(pq.read_table(spring_data[1]), "vx", 3, np.nan)
    pq.write_table(table.replace_schema_metadata({b"symdistill": json.dumps(meta).encode()}), bad)
    with pytest.raises(InputError, match=rf"^{bad}: non-finite values \(NaN or inf\) in vx .*`-R {rule}`"):
        read_split(bad)


def test_a_dataset_copied_to_another_dataset_is_refused(spring_data, tmp_path) -> None:
    moved = tmp_path / "results/data/r2_2d_n4/train.parquet"
    moved.parent.mkdir(parents=True)
    shutil.copy(spring_data[0], moved)
    with pytest.raises(IdentityError, match=r"holds dataset spring_2d_n4/train, but its path is r2_2d_n4/train"):
        read_split(moved)
    test_as_train = tmp_path / "results/data/spring_2d_n4/train.parquet"
    test_as_train.parent.mkdir(parents=True)
    shutil.copy(spring_data[1], test_as_train)
    with pytest.raises(IdentityError, match=r"holds dataset spring_2d_n4/test, but its path is spring_2d_n4/train"):
        read_split(test_as_train)


def _relabel(source: Path, target: Path, **changes) -> Path:
    """``source`` with its provenance's keys changed (``law`` merged), written at ``target``: a careless or hostile
    copy that looks like ours."""
    table = pq.read_table(source)
    meta = json.loads(table.schema.metadata[b"symdistill"])
    meta |= {k: v for k, v in changes.items() if k != "law"} | {"law": {**meta["law"], **changes.get("law", {})}}
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata({b"symdistill": json.dumps(meta).encode()}), target)
    return target


def test_spring_data_relabelled_as_r2_is_refused_by_its_accelerations(spring_data, tmp_path) -> None:
    """Labels said r2 and every stage believed them: no acceleration was checked against the recorded law."""
    r2 = {"name": "r2", "potential": laws.builtin_law("r2").potential}
    bad = _relabel(spring_data[0], tmp_path / "results/data/r2_2d_n4/train.parquet", sim="r2", law=r2)
    with pytest.raises(DatasetError, match=rf"^{bad}: its accelerations do not follow its recorded pair law \(r2: "):
        read_split(bad)


def test_a_dataset_recording_another_systems_law_is_refused(spring_data, tmp_path) -> None:
    bad = _relabel(spring_data[0], tmp_path / "train.parquet", law={"name": "r2"})
    with pytest.raises(DatasetError, match=r"a dataset of system 'spring' that records the pair law of 'r2'"):
        read_split(bad)


def test_a_recorded_law_that_would_hang_is_refused_at_once(spring_data, tmp_path) -> None:
    """The text hung every train job of the dataset (SymPy evaluated exp(exp(exp(exp(5)))))."""
    law = {"name": "mine", "potential": "r**exp(exp(exp(exp(5))))", "softening": 0.01}
    bad = _relabel(spring_data[0], tmp_path / "train.parquet", sim="mine", law=law)
    started = time.perf_counter()
    with pytest.raises(DatasetError, match=r"its recorded pair law 'law' cannot be used: .*beyond 1e300"):
        read_split(bad)
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_dataset_is_named(spring_data, tmp_path, cut) -> None:
    data = spring_data[0].read_bytes()
    bad = tmp_path / "train.parquet"
    bad.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(DatasetError, match=rf"^{bad}: not a readable Parquet file"):
        read_split(bad)


def test_a_foreign_parquet_is_named(tmp_path) -> None:
    bad = tmp_path / "train.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), bad)
    with pytest.raises(DatasetError, match=rf"^{bad}: not a symdistill dataset"):
        read_split(bad)
    with pytest.raises(InputError, match=rf"^{bad}: not a symdistill message table"):
        read_messages(bad)


# ---------------------------------------------------------------- message tables


def test_a_message_table_missing_a_message_column_is_named(tmp_path) -> None:
    """Used to be a bare pandas KeyError without the file's name."""
    frame, meta = synthetic_messages(tmp_path)
    path = write_message_file(tmp_path, frame.drop(columns="e1"), meta)
    with pytest.raises(InputError, match=rf"^{path}: lacks the column\(s\) e1 .*`-R messages`"):
        fit_forces(path, tmp_path / "results/forcefit/x.json", 0.9)


def test_nan_messages_stop_the_force_fit_instead_of_writing_nan(tmp_path) -> None:
    """10 % NaN in a message column used to give exit 0 and "r2_mean": NaN (not valid JSON)."""
    frame, meta = synthetic_messages(tmp_path)
    frame.loc[frame.sample(frac=0.1, random_state=0).index, "e1"] = np.nan
    path = write_message_file(tmp_path, frame, meta)
    out = tmp_path / f"results/forcefit/{CELL}.json"
    with pytest.raises(InputError, match=rf"^{path}: non-finite values \(NaN or inf\) in e1 \(300 of 3000\)"):
        fit_forces(path, out, 0.9)
    assert not out.exists()


def test_nan_in_the_top_component_stops_the_search_instead_of_becoming_a_table_outcome(tmp_path) -> None:
    """Used to be status 'error' with an sklearn traceback, then no_result and ∅ in Table 5."""
    frame, meta = synthetic_messages(tmp_path)
    frame.loc[5, "e0"] = np.nan
    path = write_message_file(tmp_path, frame, meta)
    spec = SearchSpec(
        backend="pyoperon",
        operators=("add", "mul"),
        budget=SearchBudget(5, 60),
        max_length=10,
        population_size=20,
        optimizer_iterations=1,
        samples=100,
        r_min=0.0,
        components=1,
        selection="best",
        loss="mae",
        seed=0,
    )
    out = tmp_path / f"results/symbolic/{CELL}"
    with pytest.raises(InputError, match=r"non-finite values \(NaN or inf\) in e0 \(1 of 3000\)"):
        fit_symbolic(path, SearchOutputs(out / "front.parquet", out / "result.json"), spec)
    assert not (out / "result.json").exists() and not (out / "front.parquet").exists()


def test_a_message_table_of_another_cell_is_refused(tmp_path) -> None:
    frame, meta = synthetic_messages(tmp_path, cell="spring_2d_n4/standard/seed0")
    path = write_message_file(tmp_path, frame, meta, cell=CELL)
    with pytest.raises(
        IdentityError,
        match=rf"^{path}: holds cell spring_2d_n4/standard/seed0, but its path is cell "
        rf"{CELL} .*`-R messages`",
    ):
        read_messages(path)


def test_a_model_copied_into_another_cell_is_refused(tmp_path) -> None:
    """The standard model's model.pt in the bottleneck cell used to be processed with exit 0."""
    write_training(tmp_path, Cell("spring_2d_n4", "standard", 0), 0.1)
    copied = tmp_path / f"results/models/{CELL}/model.pt"
    copied.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "results/models/spring_2d_n4/standard/seed0/model.pt", copied)
    with pytest.raises(
        IdentityError,
        match=rf"holds cell spring_2d_n4/standard/seed0, but its path is cell {CELL}.*"
        r"`-R train`",
    ):
        load_model(copied)


# ---------------------------------------------------------------- outputs


def test_no_json_output_holds_nan_or_infinity(tmp_path) -> None:
    out = tmp_path / "fit.json"
    with pytest.raises(ValueError, match=rf"^{out}: refusing to write non-finite numbers .* at force.r2_mean, r2\[1\]"):
        write_json(out, {"force": {"r2_mean": float("nan")}, "r2": [0.5, float("inf")]})
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_midway_leaves_nothing(tmp_path) -> None:
    """An OSError half-way through (a full disk) removes the partial file; the target never appears."""
    target = tmp_path / "front.parquet"
    with pytest.raises(OSError, match=f"no space left on device while writing {target}"), atomic_output(target) as tmp:
        tmp.write_bytes(b"PAR1" + b"\0" * 1000)
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path) -> None:
    """A report killed while writing left a 0-byte .index.html.*.tmp that nothing removed."""
    stale = tmp_path / ".index.html.k2j4x.tmp"
    other = tmp_path / ".other.html.a1b2c.tmp"
    stale.touch()
    other.touch()
    write_json(tmp_path / "index.html", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "index.html"]


def test_a_full_disk_leaves_no_partial_output(tmp_path) -> None:
    """The same on a real full file system: a 64 KiB tmpfs (root only) and a dataset that does not fit."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("mounting a tmpfs needs root (the injected OSError above covers the same path)")
    try:
        with pytest.raises(OSError, match=f"no space left on device while writing {mount}/big.json"):
            write_json(mount / "big.json", {"values": list(range(100_000))})
        with pytest.raises(OSError, match=f"no space left on device while writing {mount}/model.pt"):
            save_record(mount / "model.pt", {"weights": torch.zeros(100_000)})  # torch said "unexpected pos"
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# ---------------------------------------------------------------- interrupted stages


def _kill_midway(code: str, args: list[str], midway: Callable[[], bool], seconds: float = 120) -> None:
    """Run ``code`` in a child Python and SIGKILL it as soon as ``midway()`` (the stage is half done)."""
    process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT)
    deadline = time.time() + seconds
    while not midway() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the stage finished before it could be killed"


SIMULATE = (
    "import sys, json; from symdistill.nbody.simulate import SimulationSpec, simulate_dataset;"
    "from symdistill.nbody.data import SplitFiles;"
    "simulate_dataset(SimulationSpec(**json.loads(sys.argv[1])), SplitFiles(sys.argv[2], sys.argv[3]))"
)


def test_a_killed_simulation_leaves_no_dataset_and_its_rerun_is_byte_identical(tmp_path) -> None:
    spec = small_spec("spring", train_sims=200, test_sims=50)
    done, killed = tmp_path / "done", tmp_path / "killed"
    subprocess.run(
        [
            sys.executable,
            "-c",
            SIMULATE,
            json.dumps(asdict(spec)),
            str(done / "train.parquet"),
            str(done / "test.parquet"),
        ],
        check=True,
        cwd=ROOT,
    )
    killed.mkdir()
    args = [json.dumps(asdict(spec)), str(killed / "train.parquet"), str(killed / "test.parquet")]
    _kill_midway(SIMULATE, args, lambda: any(killed.glob(".*.tmp")))  # killed while it writes a split
    assert not any(p.suffix == ".parquet" for p in killed.iterdir()), list(killed.iterdir())
    subprocess.run([sys.executable, "-c", SIMULATE, *args], check=True, cwd=ROOT)
    for name in ("train.parquet", "test.parquet"):
        assert (killed / name).read_bytes() == (done / name).read_bytes(), name


SYMBOLIC = (
    "import sys, json; from symdistill.engine.search import SearchSpec;"
    "from symdistill.nbody.symbolic import fit_symbolic;"
    "from symdistill.engine.search_files import SearchOutputs;"
    "fit_symbolic(sys.argv[1], SearchOutputs(sys.argv[2], sys.argv[3]), SearchSpec(**json.loads(sys.argv[4])),"
    " threads=2)"
)


def test_a_killed_search_leaves_no_result_and_its_rerun_is_byte_identical(tmp_path) -> None:
    frame, meta = synthetic_messages(tmp_path)
    path = write_message_file(tmp_path, frame, meta)
    spec = SearchSpec(
        backend="pyoperon",
        operators=("add", "sub", "mul", "div"),
        budget=SearchBudget(150, 120),
        max_length=20,
        population_size=200,
        optimizer_iterations=5,
        samples=1000,
        r_min=0.0,
        components=2,
        selection="best",
        loss="mae",
        seed=0,
    )
    outputs = {}
    for name in ("done", "killed"):
        out = tmp_path / name
        args = [str(path), str(out / "front.parquet"), str(out / "result.json"), json.dumps(asdict(spec))]
        if name == "killed":
            started = time.time()
            # killed inside the first of two searches
            _kill_midway(SYMBOLIC, args, lambda started=started: time.time() > started + 3)
            assert not out.exists() or list(out.iterdir()) == []
        subprocess.run([sys.executable, "-c", SYMBOLIC, *args], check=True, cwd=ROOT)
        result = json.loads((out / "result.json").read_text())
        outputs[name] = ((out / "front.parquet").read_bytes(), {k: v for k, v in result.items() if k != "run"})
    assert outputs["killed"] == outputs["done"]


# ---------------------------------------------------------------- the workflow


@pytest.mark.workflow
def test_two_runs_on_one_results_folder_cannot_overlap(tmp_path) -> None:
    """A second invocation that would write what the first is writing gets Snakemake's lock error. (Snakemake locks
    outputs, not the folder: runs with disjoint outputs may share it, safely.)"""
    first = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("snakemake")),
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--profile",
            "none",
            "--workflow-profile",
            "none",
            "--cores",
            "1",
            "--configfile",
            str(ROOT / "config.yaml"),
            str(ROOT / "presets" / "smoke.yaml"),
            "-p",
            "results/data/spring_2d_n4/train.parquet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        locks = tmp_path / ".snakemake" / "locks"
        deadline = time.time() + 120
        while not (locks.is_dir() and any(locks.iterdir())) and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second could start"
        second = snakemake(tmp_path, "-p", "results/data/spring_2d_n4/test.parquet", check=False)
        assert second.returncode != 0
        assert "cannot be locked" in second.stdout + second.stderr
    finally:
        first.kill()
        first.wait()


# ---------------------------------------------------------------- config fuzzing


def _paths(node, prefix=()):
    """Every (key path) of a nested config, leaves and inner nodes alike."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))


BASE = yaml.safe_load((ROOT / "config.yaml").read_text())
KEYS = [p for p in _paths(BASE) if p]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3), st.booleans())
def test_config_fuzzing_gives_only_config_errors(edits, delete) -> None:
    """Any value at any key (or the key removed): the config validates, or one ConfigError names a key."""
    config = json.loads(json.dumps(BASE))
    for path, value in edits:
        node = config
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            if isinstance(node, dict):
                if delete:
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = value
    try:
        validate_config(config, ROOT / "schemas" / "config.schema.yaml")
    except ConfigError as err:
        assert str(err).startswith("invalid config at '"), err
