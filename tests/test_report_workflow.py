"""Tables, figures and the report as users get them: a partial smoke run (one system, two models) for real,
Snakemake's own `--report`, and the HTML report opened from disk in headless Chromium."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from browser import render
from conftest import copied_run
from PIL import Image
from workflow import ROOT, snakemake

from symdistill.core.vocabulary import FIGURES
from symdistill.reporting.tables import read_table

pytestmark = pytest.mark.workflow

PARTIAL = "experiment:\n  sims: [spring]\n  models: [bottleneck, kl]\ncosmology:\n  enabled: false\n"
CELLS = ("spring_2d_n4/bottleneck/seed0", "spring_2d_n4/kl/seed0")


def run(workdir: Path, *args: str):
    """The smoke preset narrowed to spring with two models (a partial run of the paper's tables)."""
    configs = [str(ROOT / "config.yaml"), str(ROOT / "presets" / "smoke.yaml"), str(workdir / "partial.yaml")]
    return snakemake(workdir, "--configfile", *configs, *args, preset=None)


@pytest.fixture(scope="module")
def partial_run(smoke_run: Path, tmp_path_factory) -> Path:
    """The README's "tables and the report from the cells you have": the session's smoke run (conftest), narrowed
    by an overlay to two of its cells; only the tables and the report are built again."""
    workdir = copied_run(smoke_run, tmp_path_factory.mktemp("partial") / "run")
    (workdir / "partial.yaml").write_text(PARTIAL)
    run(workdir)
    return workdir


def test_partial_run_tables_show_what_ran_and_nothing_else(partial_run: Path) -> None:
    table5 = read_table(partial_run / "results/tables/table5_success.csv", "table5_success")
    ran = table5[table5["runs"] > 0]
    assert sorted(zip(ran["row"], ran["n"], ran["model"], strict=True)) == [
        ("Spring-2", 4, "bottleneck"),
        ("Spring-2", 4, "kl"),
    ]
    assert (
        table5[(table5["row"] == "Spring-2") & table5["model"].isin(["standard", "l1"])]["physical_success"]
        .isna()
        .all()
    )
    md = (partial_run / "results/tables/table5_success.md").read_text()
    assert len(re.findall(r" \d/1( · law R² -?\d\.\d\d)? \|", md)) == 2  # a k/N per cell that ran; the others show —
    assert "compared cells (physical reading)" in md and "/2 compared cells" in md
    table3 = read_table(partial_run / "results/tables/table3_loss.csv", "table3_loss")
    assert (table3["runs"] > 0).sum() == 2


def test_every_cell_has_its_figures(partial_run: Path) -> None:
    for cell in CELLS:
        for name in FIGURES:
            with Image.open(partial_run / f"results/figures/{cell}/{name}.png") as image:
                assert image.format == "PNG" and min(image.size) > 100


def test_the_report_renders_in_headless_chromium(partial_run: Path) -> None:
    page = partial_run / "results/report/index.html"
    assert page.read_text().count("data:image/png;base64,") == len(CELLS) * len(FIGURES) + 1  # and the grid
    # the framework closed: bottleneck is (config.yaml's framework.models), KL is not
    section = page.read_text().split('<section id="generalisation">')[1].split("</section>")[0]
    assert "Spring-2 · bottleneck · seed 0" in section and "Spring-2 · kl · seed 0" in section
    # every MathML equation is laid out by the browser (MathML Core: no script), with a non-zero size
    # and Table 5's grid, at the top of the page, is a decoded image drawn on screen
    sizes = (
        "({math: [...document.querySelectorAll('math')]"
        ".map(m => [m.getBoundingClientRect().width, m.getBoundingClientRect().height]),"
        " grid: (g => [g.naturalWidth, g.getBoundingClientRect().top, g.getBoundingClientRect().height])"
        "(document.querySelector('figure.grid img'))})"
    )
    screenshot, errors, found = render(page, evaluate=sizes)
    assert errors == []
    boxes = found["math"]
    assert len(boxes) >= len(CELLS) and all(w > 5 and h > 5 for w, h in boxes), boxes
    width, top, height = found["grid"]
    assert width > 300 and height > 100 and top < 1200, found["grid"]  # loaded, and within the first screen
    pixels = np.asarray(Image.open(io.BytesIO(screenshot)).convert("L"), dtype=float)
    assert pixels.shape == (1200, 1400)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01  # text and tables drawn, not a blank page


def test_chromium_reports_a_pages_errors(tmp_path: Path) -> None:
    """The check above means something: a broken page's console error, exception and missing file are all seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="missing.png">'
        '<script>console.error("boom"); undefinedFunction();</script></body></html>'
    )
    _, errors, _ = render(page)
    assert len(errors) == 3, errors
    assert {e.split(":")[0] for e in errors} == {"console", "exception", "log"}
    assert any("missing.png" in e for e in errors) and any("undefinedFunction" in e for e in errors)


def test_snakemake_report_collects_tables_figures_and_the_page(partial_run: Path) -> None:
    run(partial_run, "--report", str(partial_run / "report.zip"))
    names = zipfile.ZipFile(partial_run / "report.zip").namelist()
    files = [Path(n).name for n in names if "/data/raw/" in n]
    assert sorted(set(files)) == sorted(
        {
            "index.html",
            "table5_success.html",
            "table1_r2.html",
            "table3_loss.html",
            "table5_grid.png",
            *(f"{name}.png" for name in FIGURES),
        }
    )
    assert files.count("pareto.png") == len(CELLS)


def test_a_finished_run_has_nothing_left_to_do(partial_run: Path) -> None:
    assert "Nothing to be done" in run(partial_run, "-n").stdout
