"""The report from per-cell files written by the stages' own writers: content, completeness checks, benchmarks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cellfiles import (
    figure_paths,
    write_dataset,
    write_figures,
    write_forcefit,
    write_judge,
    write_symbolic,
    write_training,
)

from symdistill.core.names import Cell
from symdistill.core.vocabulary import FIGURES, TABLES
from symdistill.reporting.records import TableInputError
from symdistill.reporting.report import build_report, read_benchmarks, recorded
from symdistill.reporting.tables import TableInputs, TableSettings, make_tables

SETTINGS = TableSettings(
    {"standard": "Std", "bottleneck": "Bottleneck", "l1": "L1", "kl": "KL"}, ("strict", "on_front")
)
CELLS = {
    Cell("spring_2d_n4", "bottleneck", 0): "strict",
    Cell("spring_2d_n4", "kl", 0): "fail",
    Cell("r2_2d_n4", "l1", 0): "no_result",
}
CONFIG = {
    "experiment": {
        "sims": ["spring", "r2"],
        "dims": [2],
        "n_bodies": [4],
        "models": ["bottleneck", "kl", "l1"],
        "seeds": [0],
    },
    "training": {"epochs": 2, "graphs_per_epoch": 2000},
    "simulation": {"train_sims": 40, "nt": 100, "keep_every": 5},
    "symbolic": {"backend": "pyoperon", "budget": {"generations": 60, "time_limit": 4}},
    "models": {"bottleneck": {"architecture": "gn"}, "kl": {"architecture": "vargn"}, "l1": {"architecture": "gn"}},
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("report")
    for cell, verdict in CELLS.items():
        write_training(root, cell, 0.1)
        write_forcefit(root, cell, 0.1)
        write_judge(root, cell, verdict)
        write_symbolic(root, cell, "error" if verdict == "no_result" else "ok")
        write_figures(root, cell)
    lists = {
        "metrics": [root / f"results/models/{c.path}/metrics.json" for c in CELLS],
        "forcefit": [root / f"results/forcefit/{c.path}.json" for c in CELLS],
        "judge": [root / f"results/judge/{c.path}.json" for c in CELLS],
        "symbolic": [root / f"results/symbolic/{c.path}/result.json" for c in CELLS],
        "figures": [p for c in CELLS for p in figure_paths(root, c)],
        "datasets": [write_dataset(root, d, sims=40) for d in sorted({c.dataset for c in CELLS})],
    }
    outputs = {
        f"{name}_{ext}": root / f"results/tables/{name}.{ext}" for name in TABLES for ext in ("csv", "md", "html")
    } | {f"table5_grid_{ext}": root / f"results/tables/table5_grid.{ext}" for ext in ("png", "svg")}
    make_tables(TableInputs(lists["metrics"], lists["forcefit"], lists["judge"]), outputs, SETTINGS)
    bench = root / "results/benchmarks"
    (bench / "train/spring_2d_n4/kl").mkdir(parents=True)
    (bench / "train/spring_2d_n4/kl/seed0.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t512.0\n")
    (bench / "simulate").mkdir()
    (bench / "simulate/r2_2d_n4.tsv").write_text("s\th:m:s\tmax_rss\n3.0\t0:00:03\t-\n")
    (bench / "simulate/charge_2d_n4.tsv").write_text("s\th:m:s\tmax_rss\n9.0\t0:00:09\t100\n")  # not this config's
    (bench / "tables.tsv").write_text("s\th:m:s\tmax_rss\n1.5\t0:00:01\t80\n")
    (bench / "report.tsv").write_text("s\th:m:s\tmax_rss\n2.5\t0:00:02\t90\n")  # an earlier rendering's
    return {
        "root": root,
        **lists,
        **{name: outputs[f"{name}_csv"] for name in TABLES},
        "grid": outputs["table5_grid_png"],
    }


def test_the_report_holds_summary_tables_cells_figures_and_provenance(inputs) -> None:
    out = inputs["root"] / "results/report/index.html"
    build_report(
        inputs,
        out,
        SETTINGS,
        CONFIG,
        "abc123",
        inputs["root"] / "results/benchmarks",
        ["config.yaml", "presets/smoke.yaml"],
    )
    page = out.read_text()
    summary = page.index('id="summary"')
    assert page.index("Table 5 matches the paper in 1/3 compared cells (physical reading).") > summary
    assert (
        summary < page.index("Table 5: force-law recovery") < page.index('id="systems"') < page.index('id="provenance"')
    )
    assert page.count("data:image/png;base64,") == 3 * len(FIGURES) + 1  # every cell's figures and Table 5's grid
    assert page.index('<figure class="grid">') < page.index("Table 5: force-law recovery")
    assert "r⁻²-2 · n = 4" in page and "Spring-2 · n = 4" in page
    # equations as mathematics (rounded, simplified, MathML), the backend's string one click away
    assert '<math display="inline"><mrow><mfrac><mrow><mn>7</mn><mo>&InvisibleTimes;</mo><mi>dx</mi>' in page
    assert "<code>7*dx/r</code>" in page and "<code>e0: error</code>" in page
    # where the judge matched the law, the law in the paper's notation with the judge's weights: −2(r − 1)/r · w·Δ
    law = '≈ <math display="inline"><mrow><mo>-</mo><mfrac><mrow><mn>2</mn><mo>&InvisibleTimes;</mo><mrow><mo>(</mo>'
    assert page.count(law) == 1 and "<mn>0.25</mn><mo>&InvisibleTimes;</mo><mi>&#916;y</mi>" in page  # bottleneck
    # why a cell failed, in one line: the judge's law R² tells the network's failure from the search's
    assert "the network learned it, the search missed it (law R² 0.95, no front member passes)" in page  # kl: fail
    assert "the symbolic search failed (error): killed after 128 s" in page
    assert "ok, 60 generations, 4 s" in page and "error, generations unknown, 4 s" in page
    assert "∅ no_result" in page and "✓ strict" in page
    assert "Git commit <code>abc123</code>" in page
    assert "<code>config.yaml</code>, then <code>presets/smoke.yaml</code>" in page
    assert re.search(r"<td>train</td><td class=\"num\">1</td><td class=\"num\">12.5</td>", page)
    assert re.search(r"<td>tables</td><td class=\"num\">1</td><td class=\"num\">1.5</td>", page)
    assert "<td>report</td>" not in page
    assert "1 benchmark file(s) of datasets or cells outside this config" in page
    assert "time_limit: 4" in page  # the resolved config
    # the run's scale as its files record it, not as the config says
    assert "on 40 simulations\n(100 snapshots, every 5th kept)" in page
    assert "pyoperon,\n60 generations per component (ceiling 4 s;" in page
    assert "systems r2 / spring in 2D" in page and "models bottleneck / kl / l1" in page


def test_a_setting_shows_every_value_the_cells_recorded() -> None:
    assert recorded([1000, 1000, 150]) == "1,000 / 150"
    assert recorded(["pyoperon"] * 3) == "pyoperon"


def test_a_cell_missing_from_one_stage_is_an_error(inputs, tmp_path) -> None:
    partial = {**inputs, "figures": inputs["figures"][: -len(FIGURES)]}  # the last cell's
    with pytest.raises(TableInputError, match="the report's figures inputs lack the cells r2_2d_n4/l1/seed0"):
        build_report(partial, tmp_path / "index.html", SETTINGS, CONFIG, "abc", tmp_path, ["config.yaml"])


def test_a_figure_that_is_not_a_png_is_named(inputs, tmp_path) -> None:
    fake = tmp_path / "results/figures/spring_2d_n4/kl/seed0/pareto.png"
    fake.parent.mkdir(parents=True)
    fake.write_text("<svg/>")
    figures = [fake if p.match("*/spring_2d_n4/kl/seed0/pareto.png") else p for p in inputs["figures"]]
    with pytest.raises(TableInputError, match=f"{fake}: expected a PNG figure"):
        build_report(
            {**inputs, "figures": figures}, tmp_path / "index.html", SETTINGS, CONFIG, "abc", tmp_path, ["config.yaml"]
        )


def test_benchmarks_of_other_configs_are_counted_not_shown(inputs) -> None:
    jobs, others = read_benchmarks(inputs["root"] / "results/benchmarks", {"r2_2d_n4", "spring_2d_n4/kl/seed0"})
    assert others == 1 and sorted(jobs["rule"]) == ["simulate", "tables", "train"]
    assert pd.isna(jobs.set_index("rule").loc["simulate", "max_rss_mb"])  # "-": not measured, shown as nan


def test_the_report_module_stays_light() -> None:
    code = "import sys, symdistill.reporting.report; print(sorted({'torch', 'jax'} & set(sys.modules)))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_the_vocabulary_and_the_tables_stay_light() -> None:
    """The shared words and the tables rule are read by the Snakefile and the light rules: no PyTorch, no JAX."""
    code = (
        "import sys, symdistill.core.vocabulary, symdistill.reporting.tables;"
        "print(sorted({'torch', 'jax'} & set(sys.modules)))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_every_figure_has_its_caption_in_snakemakes_report() -> None:
    """The figures rule's outputs are generated from FIGURES; each names report/{name}.rst as its caption."""
    root = Path(__file__).resolve().parents[1]
    assert sorted(p.stem for p in (root / "report").glob("*.rst") if p.stem in FIGURES) == sorted(FIGURES)
