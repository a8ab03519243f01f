"""A researcher's own pair potential, written in config, through the whole DAG (issue 21), at smoke scale."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from workflow import ROOT, job_counts, snakemake

from symdistill.nbody.data import read_metadata

pytestmark = pytest.mark.workflow

EXAMPLE = ROOT / "examples" / "linear_potential.yaml"
CELL = "linear_2d_n4/bottleneck/seed0"


def test_a_law_the_search_cannot_write_is_named_by_the_dry_run(tmp_path: Path) -> None:
    overlay = tmp_path / "yukawa.yaml"
    overlay.write_text(
        "systems:\n  yukawa: {potential: '-m1*m2*exp(-r)/r', dt: 1.0e-3}\n"
        "experiment: {sims: [yukawa, r2], models: [bottleneck]}\n"
    )
    result = snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config.yaml"), str(overlay), preset=None)
    assert job_counts(result.stdout)["simulate"] == 4  # yukawa and r2 in 2D and 3D
    assert "symdistill: the law of 'yukawa'" in result.stderr and "needs exp() (exp)" in result.stderr
    assert "the law of 'r2'" not in result.stderr


def test_a_bad_potential_stops_before_any_job(tmp_path: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("systems:\n  mine: {potential: 'open(\"x\").read()', dt: 1.0e-3}\nexperiment: {sims: [mine]}\n")
    result = snakemake(
        tmp_path, "-n", "--configfile", str(ROOT / "config.yaml"), str(overlay), preset=None, check=False
    )
    assert result.returncode != 0
    assert "invalid config at 'systems.mine.potential': " in result.stderr + result.stdout
    assert not (tmp_path / "x").exists() and not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def own_run(tmp_path_factory) -> Path:
    """The worked example at smoke scale, without what the smoke run covers and the law does not change: the
    cosmology branch, the framework's closing (replace, distil, symbolic_rest) and a second OOD set (the one kept,
    ``fast``, is simulated under the config's law)."""
    workdir = tmp_path_factory.mktemp("own_system")
    (workdir / "trimmed.yaml").write_text("cosmology: {enabled: false}\nframework: {models: []}\nood: {sets: [fast]}\n")
    configs = (ROOT / "config.yaml", ROOT / "presets" / "smoke.yaml", EXAMPLE, workdir / "trimmed.yaml")
    snakemake(workdir, "--configfile", *map(str, configs))
    return workdir


def test_the_example_overlay_runs_the_whole_dag(own_run: Path) -> None:
    meta = read_metadata(own_run / "results/data/linear_2d_n4/train.parquet")
    assert meta["law"] == {"name": "linear", "potential": "m1*m2*r", "softening": 0.01}
    messages = pd.read_parquet(own_run / f"results/messages/{CELL}.parquet")
    # the message table's true force is the config's law, derived from U = m1 m2 r: F = -m1 m2 Δ/r, |F| = m1 m2
    magnitude = (messages["fx"] ** 2 + messages["fy"] ** 2) ** 0.5
    assert magnitude.to_numpy() == pytest.approx((messages["m1"] * messages["m2"]).to_numpy(), rel=1e-9)
    verdict = json.loads((own_run / f"results/judge/{CELL}.json").read_text())
    assert set(verdict["outcome"].values()) <= {"strict", "on_front", "partial", "fail"}
    table = pd.read_csv(own_run / "results/tables/table5_success.csv")
    assert "linear-2 (not in the paper)" in set(table.iloc[:, 0])
    report = (own_run / "results/report/index.html").read_text()
    assert "linear-2 (not in the paper) · n = 4" in report
