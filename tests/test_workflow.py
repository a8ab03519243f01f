"""The workflow as users run it: lint, dry runs per preset, and the smoke preset for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from symdistill.data import read_split
from workflow import ROOT, job_counts, snakemake

pytestmark = pytest.mark.workflow


def test_lint_is_clean(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "--lint", preset=None)
    assert "Congratulations" in result.stdout + result.stderr


@pytest.mark.parametrize(("preset", "datasets"), [("smoke", 2), ("demo", 8), (None, 12)])
def test_dry_run_builds_the_dag_for_each_preset(tmp_path: Path, preset: str | None, datasets: int) -> None:
    counts = job_counts(snakemake(tmp_path, "-n", preset=preset).stdout)
    assert counts["simulate"] == datasets


def test_bad_config_stops_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment:\n  sims: [sprong]\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config.yaml"), str(bad), preset=None, check=False)
    assert result.returncode != 0
    assert "invalid config at 'experiment.sims.0': 'sprong' is not allowed" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("smoke")
    snakemake(workdir)
    return workdir


def test_smoke_simulate_stage_runs_for_real(smoke_run: Path) -> None:
    for dataset in ("spring_2d_n4", "r2_2d_n4"):
        train = read_split(smoke_run / f"results/data/{dataset}/train.parquet")
        test = read_split(smoke_run / f"results/data/{dataset}/test.parquet")
        assert train.x.shape == (40 * 20, 4, 6) and test.x.shape == (10 * 20, 4, 6)
        assert (smoke_run / f"results/logs/simulate/{dataset}.log").stat().st_size > 0
        assert (smoke_run / f"results/benchmarks/simulate/{dataset}.tsv").read_text().startswith("s\t")
