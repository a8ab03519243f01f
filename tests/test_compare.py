"""Did it reproduce? Two real smoke runs compared (issue 40): identical; one cell's search rerun with another seed;
one cell retrained with a changed setting; and the folders a comparison refuses, each by name.

The runs are copies of the session's smoke run (conftest), changed as a second run on another day would be."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, copied_run
from workflow import SMOKE_CELLS, snakemake

from symdistill.core.names import IdentityError
from symdistill.engine.search import SearchSpec
from symdistill.engine.search_files import SearchOutputs
from symdistill.nbody.judge import JudgeInputs, JudgeSpec, judge_cell
from symdistill.nbody.symbolic import fit_symbolic
from symdistill.reporting.compare import ComparisonFiles, compare_runs, write_comparison
from symdistill.reporting.runrecords import CompareError, publish_records, read_run

pytestmark = pytest.mark.workflow

CELL = "spring_2d_n4/bottleneck/seed0"


def _cells(run: Path) -> list[str]:
    return sorted("/".join(p.with_suffix("").parts[-3:]) for p in (run / "results").glob("judge/*/*/seed*.json"))


def test_a_run_compared_with_its_copy_is_identical_cell_by_cell(smoke_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    outputs = ComparisonFiles(out / "summary.json", out / "index.html")
    verdict = write_comparison(smoke_run / "results", _cells(smoke_run), smoke_run / "results", outputs)
    assert (
        verdict == f"{SMOKE_CELLS} of {SMOKE_CELLS} cells give the same verdict ({SMOKE_CELLS} identical to the byte)"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert {c["class"] for c in summary["cells"].values()} == {"identical"} and summary["provenance"] == {}
    assert "identical to the byte" in (out / "index.html").read_text()


def test_a_search_rerun_with_another_seed_is_named_with_its_files_and_setting(smoke_run: Path, tmp_path: Path) -> None:
    """The same network, the search of one cell rerun with seed 1: its front's bytes differ, the verdict may or may
    not, and the setting that explains it is named."""
    theirs = copied_run(smoke_run, tmp_path / "theirs") / "results"
    result = json.loads((theirs / f"symbolic/{CELL}/result.json").read_text())
    spec = SearchSpec.from_params({**result["settings"], "seed": 1})
    out = theirs / f"symbolic/{CELL}"
    outputs = SearchOutputs(out / "front.parquet", out / "result.json")
    fit_symbolic(theirs / f"messages/{CELL}.parquet", outputs, spec, threads=2)
    settings = json.loads((theirs / f"judge/{CELL}.json").read_text())["settings"]
    inputs = JudgeInputs(
        theirs / f"models/{CELL}/model.pt",
        theirs / "data/spring_2d_n4/test.parquet",
        theirs / f"messages/{CELL}.parquet",
        out / "front.parquet",
        out / "result.json",
    )
    judge_cell(inputs, theirs / f"judge/{CELL}.json", JudgeSpec.from_params(settings))
    summary = compare_runs(read_run(smoke_run / "results"), read_run(theirs))
    cell = summary["cells"][CELL]
    assert cell["class"] in ("same verdict", "verdict differs") and cell["bytes_differ"] == ["front"]
    assert summary["provenance"]["search settings: seed"][0] | {"cells": None} == {
        "ours": 0,
        "theirs": 1,
        "cells": None,
    }
    others = [c for path, c in summary["cells"].items() if path != CELL]
    assert len(others) == SMOKE_CELLS - 1 and {c["class"] for c in others} == {"identical"}


def test_a_cell_retrained_with_a_changed_setting_through_snakemake(smoke_run: Path, tmp_path: Path) -> None:
    """`snakemake compare --config "compare={with: PATH}"` as a user types it, after retraining the l1 cells with
    hidden 64: the verdict line is printed, the l1 cells' model bytes differ, and the config key is named."""
    ours = copied_run(smoke_run, tmp_path / "ours")
    (ours / "l1_hidden.yaml").write_text("models:\n  l1:\n    hidden: 64\n")
    configs = (str(ROOT / "config.yaml"), str(ROOT / "presets" / "smoke.yaml"), str(ours / "l1_hidden.yaml"))
    other = smoke_run / "results"
    done = snakemake(ours, "--configfile", *configs, "--config", f"compare={{with: {other}}}", "--", "compare")
    line = next(x for x in done.stdout.splitlines() if x.startswith("symdistill compare: "))
    assert f"of {SMOKE_CELLS} cells give the same verdict" in line, line
    summary = json.loads((ours / "results/compare/summary.json").read_text())
    for path, cell in summary["cells"].items():
        assert ("model" in cell["bytes_differ"]) == (path.split("/")[1] == "l1"), (path, cell)
    assert summary["provenance"]["config: models.l1.hidden"] == {"ours": 64, "theirs": 300}


def test_a_published_run_compares_as_its_results_do(smoke_run: Path, tmp_path: Path) -> None:
    """Rule records' folder (small records and the hashes of models, fronts and datasets) stands in for a run."""
    records = tmp_path / "records"
    datasets = sorted({c.split("/")[0] for c in _cells(smoke_run)})
    publish_records(smoke_run / "results", _cells(smoke_run), datasets, records)
    assert not list(records.rglob("*.pt")) and not list(records.rglob("*.parquet"))
    summary = compare_runs(read_run(smoke_run / "results"), read_run(records))
    assert {c["class"] for c in summary["cells"].values()} == {"identical"}


def test_a_folder_that_is_no_run_is_refused_by_name(smoke_run: Path, tmp_path: Path) -> None:
    ours = read_run(smoke_run / "results")
    with pytest.raises(CompareError, match=rf"^{tmp_path / 'missing'}: no such folder"):
        read_run(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("not a run")
    with pytest.raises(CompareError, match=rf"^{tmp_path / 'foreign'}: not a symdistill run"):
        read_run(tmp_path / "foreign")
    moved = copied_run(smoke_run, tmp_path / "moved") / "results"
    shutil.copy(moved / f"judge/{CELL}.json", moved / "judge/spring_2d_n4/kl/seed0.json")
    with pytest.raises(IdentityError, match=r"judge/spring_2d_n4/kl/seed0.json: holds cell spring_2d_n4/bottleneck"):
        read_run(moved)
    other = copied_run(smoke_run, tmp_path / "other") / "results"
    path = other / f"symbolic/{CELL}/result.json"
    record = json.loads(path.read_text())
    record["settings"]["budget"] = {**record["settings"]["budget"], "generations": 150}  # the demo's
    path.write_text(json.dumps(record))
    with pytest.raises(CompareError, match=rf"^{path}: a run of another configuration"):
        compare_runs(ours, read_run(other))
