"""A system given as data (issue 41): the trajectory file read strictly, its missing columns made by finite
differences, its splits by simulation; a bad file is one error naming the file and the column or row; the worked
example (Morse trajectories from SciPy, noisy, velocities only) through the whole DAG at smoke scale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow import ROOT, snakemake

from symdistill.config.params import cells, has_law, law_cells
from symdistill.config.validation import operator_warnings, validate_config
from symdistill.core.io import InputError
from symdistill.core.names import ConfigError, parse_cell
from symdistill.nbody.data import SplitFiles, read_metadata, read_split
from symdistill.nbody.forcefit import fit_forces
from symdistill.nbody.hypothesis_ood import HypothesisInputs, Tolerances, simulate_hypothesis_ood
from symdistill.nbody.judge import JudgeInputs, JudgeSpec, judge_cell
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.messages import read_messages
from symdistill.nbody.simulate import Shift
from symdistill.nbody.trajectories import TrajectoryError, TrajectorySpec, import_trajectories, read_trajectories
from symdistill.reporting.compare import compare_runs
from symdistill.reporting.distilled import distilled_frame
from symdistill.reporting.runrecords import read_run

sys.path.insert(0, str(ROOT / "examples"))
from morse_trajectories import accelerations, trajectories  # noqa: E402

LAW = {"name": "morse", "potential": "(1 - exp(-(r - 1)))**2", "softening": 0.01}


def _circles(sims: int = 3, steps: int = 40, n: int = 2, h: float = 0.05) -> pd.DataFrame:
    """Bodies on circles of radius 1 + particle at unit angular speed: v and a known exactly."""
    rows = []
    for sim in range(sims):
        for step in range(steps):
            t = step * h
            for p in range(n):
                radius, phase = 1.0 + p, sim + p
                rows.append(
                    {"sim": sim, "step": step, "time": t, "particle": p,
                     "x": radius * np.cos(t + phase), "y": radius * np.sin(t + phase)}
                )  # fmt: skip
    return pd.DataFrame(rows)


def _write(frame: pd.DataFrame, tmp: Path, name: str = "t.parquet") -> Path:
    path = tmp / name
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return path


def test_missing_velocities_and_accelerations_come_from_central_differences(tmp_path: Path) -> None:
    data = read_trajectories(_write(_circles(), tmp_path))
    t = data.times[0]
    for p in range(2):
        radius, phase = 1.0 + p, p
        v_exact = radius * np.stack([-np.sin(t + phase), np.cos(t + phase)], -1)
        a_exact = -radius * np.stack([np.cos(t + phase), np.sin(t + phase)], -1)
        # second order: h²/6 · |x'''| inside (2e-4 here), a few times that at the one-sided ends
        assert np.abs(data.states[0, 1:-1, p, 2:4] - v_exact[1:-1]).max() < 1e-3 * radius
        assert np.abs(data.states[0, :, p, 2:4] - v_exact).max() < 3e-3 * radius
        assert np.abs(data.accelerations[0, 2:-2, p] - a_exact[2:-2]).max() < 3e-3 * radius
    np.testing.assert_array_equal(data.states[..., 4], 0.0)  # q absent: 0
    np.testing.assert_array_equal(data.states[..., 5], 1.0)  # m absent: 1
    assert data.made["velocities"].startswith("second-order central difference of the positions")


def test_rows_in_any_order_give_the_same_arrays(tmp_path: Path) -> None:
    frame = _circles()
    shuffled = frame.sample(frac=1.0, random_state=0)
    a, b = read_trajectories(_write(frame, tmp_path)), read_trajectories(_write(shuffled, tmp_path, "s.csv"))
    np.testing.assert_allclose(a.states, b.states, rtol=1e-12)
    np.testing.assert_array_equal(a.sims, b.sims)


BAD_FILES = [
    ("missing column", lambda f: f.drop(columns="y"), r"lacks the column\(s\) y; expected sim step time particle x y"),
    ("partial velocities", lambda f: f.assign(vx=0.0), r"has some velocities but not vy: give all of \['vx', 'vy'\]"),
    ("foreign column", lambda f: f.assign(energy=1.0), r"unknown column\(s\) energy; a 2D trajectory file has"),
    (
        "NaN",
        lambda f: f.assign(x=f["x"].where(f.index != 7)),
        r"row 7 \(data rows counted from 0\): column x is empty; expected a finite number",
    ),
    ("inf", lambda f: f.assign(y=f["y"].where(f.index != 9, np.inf)), r"row 9 .*column y is inf; expected a finite"),
    ("text", lambda f: f.assign(x=f["x"].astype(object).where(f.index != 3, "n/a")), r"row 3 .*column x is 'n/a'"),
    ("fractional step", lambda f: f.assign(step=f["step"].where(f.index != 4, 1.5)), r"row 4: column step is 1\.5"),
    ("mass", lambda f: f.assign(m=np.where(f.index == 5, -1.0, 1.0)), r"row 5: column m is -1\.0; expected a positive"),
    (
        "duplicate",
        lambda f: pd.concat([f, f.iloc[[10]]], ignore_index=True),
        r"row 240 repeats \(sim, step, particle\) = \(0, 5, 0\); expected one row per body per step",
    ),
    (
        "body leaves",
        lambda f: f.drop(index=f.index[(f["sim"] == 1) & (f["step"] == 7) & (f["particle"] == 1)]),
        r"simulation 1 has 2 particles at step 0 but 1 at step 7; expected the same bodies throughout",
    ),
    (
        "bodies renamed",
        lambda f: f.assign(
            particle=np.where((f["sim"] == 2) & (f["step"] == 3) & (f["particle"] == 1), 5, f["particle"])
        ),
        r"simulation 2 step 3 has particles \[0, 5\], expected \[0, 1\] as at its first step",
    ),
    (
        "fewer steps",
        lambda f: f[~((f["sim"] == 2) & (f["step"] == 39))],
        r"simulation 0 has 40 steps but simulation 2 has 39; expected every simulation to have as many",
    ),
    (
        "time backwards",
        lambda f: f.assign(time=np.where((f["sim"] == 1) & (f["step"] == 6), 0.0, f["time"])),
        r"simulation 1: time does not rise with step at its step number 6 .*expected steps in time order",
    ),
    (
        "irregular",
        lambda f: f.assign(time=np.where(f["step"] >= 20, f["time"] + 0.01, f["time"])),
        r"simulation 0: irregular time steps \(step 20 follows a gap of 0\.06.*need regular steps",
    ),
    (
        "bodies out of step",
        lambda f: f.assign(time=np.where((f["step"] == 3) & (f["particle"] == 1), f["time"] + 1e-3, f["time"])),
        r"simulation 0 step 3: its bodies have different times",
    ),
]


@pytest.mark.parametrize(("case", "edit", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_file_is_one_error_naming_the_file_and_the_place(tmp_path: Path, case: str, edit, message: str) -> None:
    path = _write(edit(_circles()), tmp_path, "t.csv")  # as a file edited by hand would be
    with pytest.raises(TrajectoryError, match=rf"^{path}: {message}"):
        read_trajectories(path)


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrajectoryError, match=r"no such trajectory file"):
        read_trajectories(tmp_path / "nothing.parquet")
    (tmp_path / "cut.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TrajectoryError, match=r"cut\.parquet: not a readable Parquet file"):
        read_trajectories(tmp_path / "cut.parquet")
    with pytest.raises(TrajectoryError, match=r"t\.parquet: row 7 .*column x is nan; expected a finite number"):
        read_trajectories(_write(_circles().assign(x=lambda f: f["x"].where(f.index != 7)), tmp_path))


def test_irregular_steps_are_fine_where_nothing_is_differentiated(tmp_path: Path) -> None:
    frame = _circles().assign(vx=0.0, vy=0.0, ax=0.0, ay=0.0)
    frame["time"] = frame["time"] ** 1.5  # uneven, still rising
    assert read_trajectories(_write(frame, tmp_path)).made["accelerations"] == "given"


def _spec(path: Path, dataset: str = "morse_2d_n2", law: dict | None = LAW) -> TrajectorySpec:
    return TrajectorySpec(path=str(path), dataset=dataset, test_fraction=0.34, split_seed=3, law=law)


def test_the_splits_are_whole_simulations_chosen_by_a_recorded_seed(tmp_path: Path, caplog) -> None:
    path = _write(_circles(sims=6), tmp_path)
    files = SplitFiles(
        tmp_path / "results/data/morse_2d_n2/train.parquet", tmp_path / "results/data/morse_2d_n2/test.parquet"
    )
    with caplog.at_level("INFO", logger="symdistill"):
        import_trajectories(_spec(path), files)
    assert "6 simulations × 40 steps × 2 bodies in 2D; velocities second-order central difference" in caplog.text
    train, test = read_split(files.train), read_split(files.test)
    record = test.metadata["trajectories"]
    assert sorted({*train.sim, *test.sim}) == list(range(6)) and not {*train.sim} & {*test.sim}
    assert sorted({*test.sim}) == record["test_sims"] and len(record["test_sims"]) == 2  # round(0.34 · 6)
    assert record["sha256"] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert record["split_seed"] == 3 and train.metadata["law"] == LAW and train.metadata["n_steps"] == 40
    np.testing.assert_allclose(train.x[0, :, :2], _circles().query("sim == 0 and step == 0")[["x", "y"]], rtol=1e-6)


def test_a_file_that_is_not_the_cells_dataset_is_refused(tmp_path: Path) -> None:
    path = _write(_circles(), tmp_path)
    files = SplitFiles(
        tmp_path / "results/data/morse_3d_n4/train.parquet", tmp_path / "results/data/morse_3d_n4/test.parquet"
    )
    with pytest.raises(TrajectoryError, match=r"2D with 2 particles per simulation, but the dataset it is read for, "
                       r"morse_3d_n4, is 3D with n = 4"):  # fmt: skip
        import_trajectories(_spec(path, "morse_3d_n4"), files)
    assert not files.train.exists()


def test_a_data_system_without_a_law_is_valid_and_has_no_force_fit(tmp_path: Path, monkeypatch) -> None:
    """Distilling a law nobody states is the point of the method: no law, no judge verdict, no force fit."""
    monkeypatch.chdir(tmp_path)
    _write(_circles(), tmp_path, "FILE")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["systems"] = {"morse": {"trajectories": "FILE"}}
    config["experiment"] |= {"sims": ["morse", "spring"], "dims": [2], "n_bodies": [2]}
    validate_config(config, ROOT / "schemas" / "config.schema.yaml")
    assert not has_law(config, "morse") and has_law(config, "spring")
    assert operator_warnings(config) == []  # no law: nothing the operators could miss
    assert {c.dataset for c in law_cells(config)} == {"spring_2d_n2"}
    assert {c.dataset for c in cells(config)} == {"spring_2d_n2", "morse_2d_n2"}


@pytest.mark.parametrize(
    ("system", "message"),
    [
        ({"trajectories": "FILE", "law": "r", "dt": 0.1}, r"'systems\.morse': dt with trajectories"),
        ({"potential": "r", "dt": 0.1, "split_seed": 1}, r"'systems\.morse': split_seed belong\(s\) to a system given"),
        ({"potential": "r"}, r"'systems\.morse': dt missing; a system of your own has potential and dt"),
        (
            {"trajectories": "nowhere.parquet", "law": "r"},
            r"'systems\.morse\.trajectories': 'nowhere\.parquet': no such",
        ),
        ({"trajectories": "FILE", "law": "open('x')"}, r"'systems\.morse\.law': "),
        ({"trajectories": "FILE", "softening": 0.1}, r"'systems\.morse': softening without law"),
    ],
)
def test_a_data_system_is_checked_before_any_job(tmp_path: Path, monkeypatch, system: dict, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    _write(_circles(), tmp_path, "FILE")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["systems"] = {"morse": system}
    with pytest.raises(ConfigError, match=message):
        validate_config(config, ROOT / "schemas" / "config.schema.yaml")


def test_the_example_writes_scipys_morse_trajectories_with_noise_and_no_accelerations(tmp_path: Path) -> None:
    frame = trajectories(sims=3, n=4, dim=2, steps=60, dt=0.02, noise=0.0, seed=0)
    assert list(frame.columns) == ["sim", "step", "time", "particle", "x", "vx", "y", "vy"]
    data = read_trajectories(_write(frame, tmp_path))
    exact = np.array([[accelerations(s[:, :2], np.ones(4)) for s in sim] for sim in data.states])
    assert np.median(np.abs(data.accelerations - exact)) < 1e-4


@pytest.fixture(scope="module")
def morse_run(tmp_path_factory) -> Path:
    """The worked example at smoke scale: 16 noisy simulations, the bottleneck cell through the whole DAG; beside
    it the same file as a system without a law (``blind``), as a researcher who does not know it would give it."""
    workdir = tmp_path_factory.mktemp("morse")
    trajectories(sims=16, n=4, dim=2, steps=40, dt=0.02, noise=1e-4, seed=0).to_parquet(workdir / "morse.parquet")
    overlay = yaml.safe_load((ROOT / "examples" / "morse.yaml").read_text())
    overlay["systems"]["morse"]["trajectories"] = "morse.parquet"
    overlay["systems"]["blind"] = {k: v for k, v in overlay["systems"]["morse"].items() if k != "law"}
    overlay["experiment"] |= {"models": ["bottleneck"], "sims": ["morse", "blind"]}
    overlay["framework"] = {"models": []}  # closing runs as for a built-in (test_replacement has the no-law choice)
    overlay["cosmology"] = {"enabled": False}
    (workdir / "morse.yaml").write_text(yaml.safe_dump(overlay))
    configs = (ROOT / "config.yaml", ROOT / "presets" / "smoke.yaml", workdir / "morse.yaml")
    snakemake(workdir, "--configfile", *map(str, configs), preset=None)
    return workdir


def test_the_example_runs_the_whole_dag_without_a_simulator(morse_run: Path) -> None:
    meta = read_metadata(morse_run / "results/data/morse_2d_n4/train.parquet")
    assert meta["trajectories"]["columns"]["accelerations"].startswith("second-order central difference")
    assert meta["law"] == LAW and meta["trajectories"]["path"] == "morse.parquet"
    assert [p.name for p in (morse_run / "results/data/morse_2d_n4/ood").iterdir()] == ["fast.parquet"]  # law's
    judge = json.loads((morse_run / "results/judge/morse_2d_n4/bottleneck/seed0.json").read_text())
    assert judge["cell"] == "morse_2d_n4/bottleneck/seed0"
    record = json.loads((morse_run / "results/generalisation/morse_2d_n4/bottleneck/seed0.json").read_text())
    assert sorted(record["sets"]) == ["fast", "test"]  # smoke's bodies8 changes the bodies: left out, and said
    ood = read_split(morse_run / "results/data/morse_2d_n4/ood/fast.parquet")  # read_split checks its law
    assert ood.metadata["ood"]["velocity_scale"] == 3.0 and "trajectories" not in ood.metadata
    assert "morse" in (morse_run / "results/report/index.html").read_text()
    assert (morse_run / "results/logs/trajectories/morse_2d_n4.log").exists()


def test_a_system_without_a_law_is_distilled_and_reported_not_judged(morse_run: Path) -> None:
    results = morse_run / "results"
    cell = "blind_2d_n4/bottleneck/seed0"
    assert "law" not in read_metadata(results / "data/blind_2d_n4/train.parquet")
    frame, meta = read_messages(results / f"messages/{cell}.parquet")
    assert meta["law"] is False and not {"fx", "fy", "u"} & set(frame.columns)
    assert not (results / f"forcefit/{cell}.json").exists()  # Table 1 needs the true force
    judge = json.loads((results / f"judge/{cell}.json").read_text())
    assert judge["outcome"] == {"physical": "no_law", "receiver_scaled": "no_law"} and "law_r2" not in judge
    (selected,) = [m for c in judge["components"] for m in c["members"] if m["selected"] and c["component"] == "e0"]
    assert -1 <= selected["heldout_fit_r2"] <= 1 and "passes" not in selected
    table5 = pd.read_csv(results / "tables/table5_success.csv")
    assert "blind" not in set(table5["sim"]) and "morse" in set(table5["sim"])
    distilled = pd.read_csv(results / "tables/distilled.csv")
    assert set(distilled["system"]) == {"blind"} and set(distilled["component"]) == {
        c["component"] for c in judge["components"]
    }
    assert distilled.loc[distilled["component"] == "e0", "heldout_fit_r2"].item() == pytest.approx(
        selected["heldout_fit_r2"]
    )
    record = json.loads((results / f"generalisation/{cell}.json").read_text())
    assert list(record["sets"]) == ["test"] and not (results / "data/blind_2d_n4/ood").exists()
    rollout = record["rollout"]
    assert rollout["energy"] is None and "no pair law" in rollout["energy_not_measured"]
    page = (results / "report/index.html").read_text()
    assert 'id="data-systems"' in page and page.index('id="data-systems"') < page.index('id="blind_2d_n4"')
    runs = read_run(results)  # a run with a system without a law compares with itself
    assert runs.cells[parse_cell(cell)].records["forcefit"] is None
    assert {c["class"] for c in compare_runs(runs, runs)["cells"].values()} == {"identical"}
    with pytest.raises(InputError, match="a system without a law .* has no true force to fit"):
        fit_forces(results / f"messages/{cell}.parquet", morse_run / "asked_by_path.json", 0.9)


def test_a_failed_search_of_a_system_without_a_law_is_no_law_with_its_reason(morse_run: Path, tmp_path: Path) -> None:
    """Not no_result, which would put the cell in Table 5 and send the report looking for its force fit."""
    results, cell = morse_run / "results", "blind_2d_n4/bottleneck/seed0"
    failed = json.loads((results / f"symbolic/{cell}/result.json").read_text())
    failed["status"] = "error"
    failed["components"] = [{"component": "e0", "status": "error", "message": "the search ran out of memory"}]
    result = tmp_path / f"symbolic/{cell}/result.json"
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps(failed))
    settings = json.loads((results / f"judge/{cell}.json").read_text())["settings"]
    inputs = JudgeInputs(
        model=results / f"models/{cell}/model.pt",
        test=results / "data/blind_2d_n4/test.parquet",
        messages=results / f"messages/{cell}.parquet",
        front=results / f"symbolic/{cell}/front.parquet",
        result=result,
    )
    out = tmp_path / f"judge/{cell}.json"
    judge_cell(inputs, out, JudgeSpec(**settings))
    verdict = json.loads(out.read_text())
    assert verdict["outcome"]["physical"] == "no_law" and verdict["components"] == []
    assert "ran out of memory" in verdict["reason"]
    frame = distilled_frame({parse_cell(cell): verdict}, {})
    assert frame[["system", "component", "equation"]].values.tolist() == [["blind", "—", "—"]]  # listed, not dropped


def test_an_ood_set_of_a_system_given_as_data_is_its_test_states_shifted_under_the_law(tmp_path: Path) -> None:
    """Unshifted, the set is the test split again (the file was written under that law by SciPy, without noise);
    shifted, it starts from the test split's first states shifted as declared, at the stored times."""
    path = _write(trajectories(sims=6, n=4, dim=2, steps=30, dt=0.02, noise=0.0, seed=1), tmp_path)
    files = SplitFiles(tmp_path / "data/morse_2d_n4/train.parquet", tmp_path / "data/morse_2d_n4/test.parquet")
    import_trajectories(_spec(path, "morse_2d_n4"), files)
    tolerances, law = Tolerances(rtol=1e-10, atol=1e-10, mxstep=10_000), PairLaw(**LAW)
    test = read_split(files.test)
    for shift in (Shift("same"), Shift("fast", velocity_scale=2.0)):
        out = tmp_path / f"data/morse_2d_n4/ood/{shift.name}.parquet"
        simulate_hypothesis_ood(HypothesisInputs(files.test), shift, tolerances, law, out)
        ood = read_split(out)  # its accelerations are checked against the law on reading
        assert ood.x.shape == test.x.shape and ood.metadata["ood"]["name"] == shift.name
        first = ood.step == 0
        np.testing.assert_allclose(ood.x[first][..., 2:4], 2.0 ** (shift.name == "fast") * test.x[first][..., 2:4])
        if shift.name == "same":
            np.testing.assert_allclose(ood.x, test.x, atol=1e-5)  # our integrator agrees with SciPy's DOP853
    with pytest.raises(ValueError, match="changes the number of bodies"):
        simulate_hypothesis_ood(
            HypothesisInputs(files.test), Shift("more", n_bodies=8), tolerances, law, tmp_path / "more.parquet"
        )


def test_an_ood_set_a_system_given_as_data_cannot_have_is_one_clear_error(tmp_path: Path) -> None:
    """Asked for by path, a set that changes the bodies (or any set, without a law) is refused with the reason."""
    _write(_circles(), tmp_path, "morse.parquet")
    (tmp_path / "morse.yaml").write_text(
        "systems:\n  morse: {trajectories: morse.parquet, law: '(1 - exp(-(r - 1)))**2'}\n  blind: {trajectories: "
        "morse.parquet}\nexperiment: {sims: [morse, blind], dims: [2], n_bodies: [2], models: [bottleneck]}\n"
    )
    configs = (ROOT / "config.yaml", ROOT / "presets" / "smoke.yaml", tmp_path / "morse.yaml")
    for target, why in (
        ("morse_2d_n2/ood/bodies8", "it changes the number of bodies, which the stored states cannot"),
        ("blind_2d_n2/ood/fast", "no law to simulate it with"),
    ):
        result = snakemake(
            tmp_path,
            "-n",
            "--configfile",
            *map(str, configs),
            "--",
            f"results/data/{target}.parquet",
            preset=None,
            check=False,
        )
        out = result.stderr + result.stdout
        assert result.returncode != 0 and "KeyError" not in out
        assert f"is given as data, and has no out-of-distribution set '{target.rsplit('/', 1)[1]}': {why}" in out
    target = "results/data/morse_2d_n2/ood/fast.parquet"
    dry = snakemake(tmp_path, "-n", "--configfile", *map(str, configs), "--", target, preset=None)
    assert (
        "hypothesis_ood" in dry.stdout
        and "symdistill: 'morse' is given as data: no out-of-distribution set 'bodies8'" in dry.stderr
    )
