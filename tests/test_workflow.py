"""The workflow as users run it: lint, dry runs per preset, and the smoke preset for real."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from browser import render
from conftest import copied_run
from workflow import ROOT, SMOKE_CELLS, job_counts, snakemake

from symdistill.core.io import InputError
from symdistill.core.vocabulary import HALO_FIGURES
from symdistill.cosmology.catalogue import HaloUnits
from symdistill.cosmology.figures import HaloFigureInputs, halo_figures
from symdistill.nbody.data import read_split

pytestmark = pytest.mark.workflow


def test_lint_is_clean(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "--lint", preset=None)
    assert "Congratulations" in result.stdout + result.stderr


# demo: 8 datasets × 5 variants (FlatHGN on spring and charge only: 4 fewer) and pruned; the paper's: 12 × 6.
# Closed variants (framework.models): bottleneck and L1; the demo's bottleneck only.
@pytest.mark.parametrize(
    ("preset", "datasets", "cells", "closed_variants"),
    [("smoke", 2, SMOKE_CELLS, 2), ("demo", 8, 44, 1), (None, 12, 72, 2)],
)
def test_dry_run_builds_the_dag_for_each_preset(
    tmp_path: Path, preset: str | None, datasets: int, cells: int, closed_variants: int
) -> None:
    counts = job_counts(snakemake(tmp_path, "-n", preset=preset).stdout)
    assert counts["simulate"] == datasets and counts["train"] == cells
    assert counts["messages"] == counts["forcefit"] == counts["symbolic"] == counts["judge"] == cells
    assert counts["generalisation"] == cells and counts["ood"] == datasets * (2 if preset == "smoke" else 4)
    closed = closed_variants * datasets
    assert counts["symbolic_rest"] == counts["judge_rest"] == counts["replace"] == counts["distil"] == closed
    # the cosmology experiment: one synthetic catalogue, a network per split (random, ood), Table 6
    assert counts["halos_synthetic"] == counts["table6"] == 1
    halo_rules = ("halos_train", "halos_messages", "halos_symbolic", "halos_evaluate", "halos_figures")
    assert [counts[rule] for rule in halo_rules] == [2] * len(halo_rules)


def test_seeds_fan_out_into_replicate_cells(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("experiment:\n  seeds: [0, 1, 2]\n")
    counts = job_counts(
        snakemake(
            tmp_path,
            "-n",
            "--configfile",
            str(ROOT / "config.yaml"),
            str(ROOT / "presets" / "demo.yaml"),
            str(seeds),
            preset=None,
        ).stdout
    )
    assert counts["simulate"] == 8  # seeds replicate training on the same data
    assert counts["train"] == counts["judge"] == counts["figures"] == 3 * 44


def test_bad_config_stops_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment:\n  sims: [sprong]\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(ROOT / "config.yaml"), str(bad), preset=None, check=False)
    assert result.returncode != 0
    assert "invalid config at 'experiment.sims': 'sprong' is neither a built-in system" in result.stdout + result.stderr


def test_smoke_simulate_stage_runs_for_real(smoke_run: Path) -> None:
    for dataset in ("spring_2d_n4", "r2_2d_n4"):
        train = read_split(smoke_run / f"results/data/{dataset}/train.parquet")
        test = read_split(smoke_run / f"results/data/{dataset}/test.parquet")
        assert train.x.shape == (40 * 20, 4, 6) and test.x.shape == (10 * 20, 4, 6)
        assert (smoke_run / f"results/logs/simulate/{dataset}.log").stat().st_size > 0
        assert (smoke_run / f"results/benchmarks/simulate/{dataset}.tsv").read_text().startswith("s\t")


SMOKE_MODELS = ("standard", "bottleneck", "l1", "kl", "pm", "cust", "flathgn")


def test_smoke_training_stage_runs_for_real(smoke_run: Path) -> None:
    for model in SMOKE_MODELS:
        cell = smoke_run / f"results/models/spring_2d_n4/{model}/seed0"
        metrics = json.loads((cell / "metrics.json").read_text())
        assert metrics["graphs_seen"] == 2 * (2000 // 64) * 64 and metrics["test_loss"] > 0
        assert metrics["device"] == "cpu" and metrics["torch"] == torch.__version__ and "cuda" in metrics
        assert len(pd.read_parquet(cell / "history.parquet")) == 2
    # every model file the DAG writes (trained, replaced, the cosmology networks) is weights and plain values
    saved = sorted(smoke_run.glob("results/**/*.pt"))
    assert len(saved) >= len(SMOKE_MODELS) + 2
    for path in saved:
        assert isinstance(torch.load(path, weights_only=True), dict), path


def test_smoke_symbolic_stages_run_for_real(smoke_run: Path) -> None:
    for model in SMOKE_MODELS:
        cell = f"spring_2d_n4/{model}/seed0"
        frame = pd.read_parquet(smoke_run / f"results/messages/{cell}.parquet")
        assert len(frame) == 100 * 12 and {"dx", "dy", "r", "fx", "fy", "u", "e0"} <= set(frame.columns)
        forcefit = json.loads((smoke_run / f"results/forcefit/{cell}.json").read_text())
        assert 0 <= forcefit["potential" if model == "flathgn" else "force"]["r2_mean"] <= 1
        result = json.loads((smoke_run / f"results/symbolic/{cell}/result.json").read_text())
        assert result["status"] == "ok" and result["backend"] == "pyoperon"
        assert not pd.read_parquet(smoke_run / f"results/symbolic/{cell}/front.parquet").empty
        verdict = json.loads((smoke_run / f"results/judge/{cell}.json").read_text())
        assert set(verdict["outcome"].values()) <= {"strict", "on_front", "partial", "fail"}
        ceilings = [max(c["ceiling_r2"][b] for b in verdict["readings"]["physical"]) for c in verdict["components"]]
        assert verdict["law_r2"]["physical"] == min(ceilings) <= 1


def test_smoke_generalisation_stage_runs_for_real(smoke_run: Path) -> None:
    for dataset in ("spring_2d_n4", "r2_2d_n4"):
        bodies8 = read_split(smoke_run / f"results/data/{dataset}/ood/bodies8.parquet")
        assert bodies8.x.shape == (10 * 20, 8, 6) and bodies8.metadata["ood"]["dataset"] == dataset
    for model in SMOKE_MODELS:
        record = json.loads((smoke_run / f"results/generalisation/spring_2d_n4/{model}/seed0.json").read_text())
        assert set(record["sets"]) == {"test", "bodies8", "fast"}
        assert record["sets"]["bodies8"]["n_bodies"] == 8 and record["sets"]["fast"]["shift"]["velocity_scale"] == 3
        closed = model in ("bottleneck", "l1")  # config.yaml's framework.models
        assert record["models"] == (["gn", "symbolic_edge", "symbolic"] if closed else ["gn"])
        for scores in (s[m] for s in record["sets"].values() for m in record["models"]):
            assert scores["loss"] > 0 and scores["relative"] == pytest.approx(scores["loss"] / scores["zero_loss"])
    for model in ("bottleneck", "l1"):
        cell = f"r2_2d_n4/{model}/seed0"
        replaced = json.loads((smoke_run / f"results/replaced/{cell}/metrics.json").read_text())
        assert replaced["cell"] == cell and replaced["test_loss"] > 0 and replaced["equations"]
        distilled = json.loads((smoke_run / f"results/distilled/{cell}/result.json").read_text())
        assert distilled["outcome"] in ("strict", "on_front", "fail") and len(distilled["components"]) == 2
        symbolic = json.loads((smoke_run / f"results/distilled/{cell}/model.json").read_text())
        assert set(symbolic["node"]) == {"ax", "ay"} and set(symbolic["edge"]) == set(replaced["equations"])


def test_a_rerun_of_one_cells_search_and_judge_is_byte_identical(smoke_run: Path, tmp_path: Path) -> None:
    """Rerunning one cell's search (here with 1 thread instead of 2) and judge gives the same files: the search
    stops after its generations, so the verdict does not depend on the machine, its load or the thread count."""
    smoke_run = copied_run(smoke_run, tmp_path / "run")  # the shared run stays as it was
    cell = "spring_2d_n4/bottleneck/seed0"
    front, result, verdict = (
        smoke_run / f"results/symbolic/{cell}/front.parquet",
        smoke_run / f"results/symbolic/{cell}/result.json",
        smoke_run / f"results/judge/{cell}.json",
    )
    before = {path: path.read_bytes() for path in (front, verdict)}
    first = json.loads(result.read_text())
    snakemake(smoke_run, "--set-threads", "symbolic=1", "--forcerun", "symbolic", "-p", f"results/judge/{cell}.json")
    again = json.loads(result.read_text())
    assert (first["run"]["threads"], again["run"]["threads"]) == (2, 1)  # it did rerun, with another thread count
    assert {path: path.read_bytes() for path in before} == before
    assert {k: v for k, v in again.items() if k != "run"} == {k: v for k, v in first.items() if k != "run"}


def test_smoke_cosmology_branch_runs_for_real(smoke_run: Path) -> None:
    """The whole cosmology branch on the smoke preset's 5,000 synthetic halos: both networks, their distillation,
    Table 6 beside the paper's values, the planted law judged, the figures and the report's section."""
    for split in ("random", "ood"):
        cell = smoke_run / f"results/cosmology/synthetic/{split}"
        metrics = json.loads((cell / "metrics.json").read_text())
        assert metrics["cell"] == f"synthetic/{split}" and metrics["train_halos"] + metrics["test_halos"] == 5000
        evaluation = json.loads((cell / "evaluation.json").read_text())
        assert set(evaluation["formulas"]) == {"constant", "simple", "without_mass", "with_mass"}  # JSON keys sorted
        assert evaluation["planted"]["outcome"] in ("strict", "on_front", "partial", "fail")
        assert set(evaluation["planted"]["parts"]) == {
            *json.loads((cell / "result.json").read_text())["summed"].values(),
            "gn",
        }
        # the planted law itself is the noise floor: N(0, 0.05) noise has mean |noise| 0.04
        assert evaluation["planted"]["law"]["test"] == pytest.approx(0.04, abs=0.005)
        assert evaluation["formulas"]["with_mass"]["refit"]["test"] < 1.1 * evaluation["planted"]["law"]["test"]
        for name in ("halo_sparsity", "halo_kernel", "halo_prediction"):
            assert (smoke_run / f"results/figures/cosmology/synthetic/{split}/{name}.png").stat().st_size > 1000
    table = (smoke_run / "results/tables/table6.md").read_text()
    assert "| Best with mass | — | 0.0882 |" in table and "| GN | 0.0634 | 0.1420 |" in table
    report = (smoke_run / "results/report/index.html").read_text()
    section = report.split('<section id="cosmology">')[1].split("</section>")[0]
    assert "Table 6" in section and section.count("<img") == 6
    # in a browser: no page error, and every figure of the section decoded and drawn
    figures = (
        "[...document.querySelectorAll('#cosmology img')].map(i => [i.naturalWidth, i.getBoundingClientRect().height])"
    )
    _, errors, sizes = render(smoke_run / "results/report/index.html", evaluate=figures)
    assert errors == [] and len(sizes) == 6 and all(w > 300 and h > 100 for w, h in sizes), (errors, sizes)


def test_an_updated_script_reruns_its_jobs_until_the_documented_touch(smoke_run: Path, tmp_path: Path) -> None:
    """docs/cluster.md, "After updating the workflow": the code trigger reruns the jobs of a rule whose script is
    newer than their outputs (as after a checkout that rewrote the scripts' imports, issue 38); without the code
    trigger nothing is due, so continuing the run recomputes nothing; then `--touch --rerun-triggers code` marks
    the finished outputs up to date, after which a plain dry run schedules nothing. Dry runs and a touch only.

    The script's time is changed in place (the Snakefile must be this checkout's: its params name the commit and
    the config files) and restored, whatever happens."""
    run = copied_run(smoke_run, tmp_path / "run")
    assert "Nothing to be done" in snakemake(run, "-n").stdout  # a finished run
    (tmp_path / "empty").mkdir()
    cells = job_counts(snakemake(tmp_path / "empty", "-n").stdout)["judge"]
    script = ROOT / "workflow_scripts" / "judge.py"
    before = script.stat()
    try:
        later = time.time() + 5  # newer than every output, whatever the file system's time resolution
        os.utime(script, (later, later))  # as a checkout that changed the script leaves it
        scheduled = job_counts(snakemake(run, "-n").stdout)
        assert scheduled["judge"] == cells and "train" not in scheduled and "simulate" not in scheduled, scheduled
        without_code = snakemake(run, "-n", "--rerun-triggers", "mtime", "params", "input", "software-env")
        assert "Nothing to be done" in without_code.stdout  # params and inputs are what they were
        snakemake(run, "--touch", "--rerun-triggers", "code")
        assert "Nothing to be done" in snakemake(run, "-n").stdout
    finally:
        os.utime(script, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_halo_figures_refuse_a_selected_equation_that_would_run_code(smoke_run: Path, tmp_path: Path) -> None:
    """A tampered evaluation.json (the selected φe is code): one error naming the file, the token and the rule that
    rebuilds it; no figure written, nothing run."""
    split = smoke_run / "results/cosmology/synthetic/random"
    evaluation = json.loads((split / "evaluation.json").read_text())
    edge = evaluation["symbolic"]["searched"]["edge"]
    edge[next(iter(edge))] = f"__import__('os').system('touch {tmp_path}/ran') + r"
    tampered = tmp_path / "evaluation.json"
    tampered.write_text(json.dumps(evaluation))
    catalogue = smoke_run / "results/cosmology/synthetic.parquet"
    files = (split / "history.parquet", split / "messages.parquet", tampered, split / "predictions.parquet", catalogue)
    outputs = [tmp_path / f"{name}.png" for name in HALO_FIGURES]
    says = rf"^{re.escape(str(tampered))}: the selected φe: .*__import__.*-R halos_evaluate"
    with pytest.raises(InputError, match=says):
        halo_figures("synthetic/random", HaloFigureInputs(*files), outputs, HaloUnits())
    assert not any(path.exists() for path in outputs) and not (tmp_path / "ran").exists()
