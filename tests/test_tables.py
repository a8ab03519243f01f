"""Tables 1, 3 and 5 from per-cell files written by the stages' own writers: symbols, k/N, agreement, not-run cells."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cellfiles import write_energy_fit, write_forcefit, write_judge, write_training
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

from symdistill.core.names import Cell
from symdistill.core.vocabulary import JUDGE_OUTCOMES, LEGEND, NO_LAW, READINGS, SYMBOLS, TABLES, VERDICTS
from symdistill.reporting.agreement import Agreement, agreement, table1_agreement, table3_agreement
from symdistill.reporting.grid import COLOURS, NOT_RUN_COLOUR, cell_outcome, grid_figure
from symdistill.reporting.records import TableInputError
from symdistill.reporting.references import reference
from symdistill.reporting.tables import (
    SCHEMAS,
    TableInputs,
    TableSettings,
    build_tables,
    make_tables,
    read_table,
    render_table1,
    render_table3,
    render_table5,
    table1_frame,
    table3_frame,
)

SETTINGS = TableSettings(
    {"standard": "Std", "bottleneck": "Bottleneck", "l1": "L1", "kl": "KL"}, ("strict", "on_front")
)

# cell → (physical outcome, receiver-scaled outcome); every cell also gets training and force-fit files.
OUTCOMES = {
    Cell("spring_2d_n4", "bottleneck", 0): ("strict", "strict"),
    Cell("spring_2d_n4", "bottleneck", 1): ("on_front", "on_front"),
    Cell("spring_2d_n4", "bottleneck", 2): ("fail", "fail"),
    Cell("spring_2d_n4", "standard", 0): ("fail", "fail"),
    Cell("spring_2d_n4", "l1", 0): ("fail", "on_front"),
    Cell("spring_2d_n8", "bottleneck", 0): ("partial", "partial"),
    Cell("r1_2d_n4", "kl", 0): ("no_result", "no_result"),
    Cell("r1_2d_n4", "kl", 1): ("strict", "strict"),
    Cell("damped_2d_n4", "bottleneck", 0): ("strict", "strict"),
    Cell("spring_2d_n4", "l1_wide", 0): ("strict", "strict"),
}
NOISE = {0: 0.0, 1: 0.5, 2: 2.0}
TIMED_OUT = {Cell("spring_2d_n4", "bottleneck", 1)}  # its search stopped at the time limit; its front was judged


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cells")
    for cell, (physical, scaled) in OUTCOMES.items():
        write_training(root, cell, test_loss=0.05 * (cell.seed + 1))
        write_forcefit(root, cell, noise=NOISE[cell.seed])
        write_judge(
            root,
            cell,
            physical,
            scaled,
            law_r2=0.9 + 0.03 * cell.seed,
            symbolic_status="timeout" if cell in TIMED_OUT else "ok",
        )
    return root


def paths(root: Path, kind: str) -> list[Path]:
    pattern = {
        "metrics": "results/models/{}/metrics.json",
        "forcefit": "results/forcefit/{}.json",
        "judge": "results/judge/{}.json",
    }[kind]
    return [root / pattern.format(cell.path) for cell in OUTCOMES]


@pytest.fixture(scope="module")
def tables(run: Path) -> dict[str, pd.DataFrame]:
    return build_tables(TableInputs(paths(run, "metrics"), paths(run, "forcefit"), paths(run, "judge")), SETTINGS)


def slot(frame: pd.DataFrame, row: str, n: int | None, model: str) -> pd.Series:
    match = frame[
        (frame["row"] == row) & (frame["model"] == model) & (frame["n"].isna() if n is None else frame["n"] == n)
    ]
    assert len(match) == 1, match
    return match.iloc[0]


def test_table5_symbols_and_k_of_n(tables) -> None:
    frame = tables["table5_success"]
    bottleneck = slot(frame, "Spring-2", 4, "bottleneck")
    assert (bottleneck["seeds"], bottleneck["physical"], bottleneck["physical_successes"], bottleneck["runs"]) == (
        "0 1 2",
        "strict on_front fail",
        2,
        3,
    )
    assert bottleneck["physical_success"] and bottleneck["paper"] and bottleneck["cambridge"]
    assert slot(frame, "r⁻¹-2", 4, "kl")["physical_success"]  # ∅ then ✓: 1 of 2 is at least half
    assert not slot(frame, "Spring-2", 8, "bottleneck")["physical_success"]  # n = 8 compared with the Spring-2 row
    md = render_table5(frame, SETTINGS).markdown()
    spring4 = next(line for line in md.splitlines() if line.startswith("| Spring-2 | 4 |"))
    assert "| ✓⋆✗ 2/3 · law R² 0.93 · ⏱ 1/3 | ✓ | ✓ |" in spring4  # a seed failed: the law's R², mean; a timeout
    assert bottleneck["timeouts"] == 1 and frame["timeouts"].sum() == 1
    assert "⏱ k/N: k seeds' searches stopped at symbolic.budget.time_limit" in md
    assert "∅ no result: the symbolic search failed" in md and "no law" not in md  # Table 5 has no no_law cell
    assert "| ✗ 0/1 · receiver-scaled ⋆ 1/1 · law R² 0.90 | ✓ | ✓ |" in spring4  # l1: the readings differ, both shown
    assert bottleneck["law_r2"] == pytest.approx(0.93)
    assert slot(frame, "r⁻¹-2", 4, "kl")["law_r2"] == pytest.approx(0.93)  # the seed without result has none
    assert slot(frame, "Damped-2", 4, "bottleneck")["law_r2"] == pytest.approx(0.9)
    assert "| — | ✓ | ✗ |" in spring4  # kl on spring was not run
    assert "| ✓ 1/1 | n/a | n/a |" in spring4  # l1_wide: a variant the paper does not have
    assert "| Spring-2 | 8 | — | ✗ | ✓ | ◦ 0/1 · law R² 0.90 | ✓ | ✓ |" in md
    assert "| r⁻¹-2 | 4 | — | ✗ | ✓ | — | ✓ | ✓ | — | ✓ | ✓ | ∅✓ 1/2 · law R² 0.93 | ✓ | ✓ |" in md
    assert "| Damped-2 | 4 | — | n/a | n/a | ✓ 1/1 | n/a | n/a |" in md  # no paper row: shown, not compared;
    # recovered: no law R² to explain a failure


def test_cells_not_run_are_shown_as_not_run_and_never_counted(tables) -> None:
    frame = tables["table5_success"]
    charge = frame[frame["row"] == "Charge-2"]
    assert len(charge) == 5 and (charge["runs"] == 0).all() and charge["n"].isna().all()  # 4 paper models + l1_wide
    assert charge["physical_success"].isna().all() and charge["paper"].notna().sum() == 4
    md = render_table5(frame, SETTINGS).markdown()
    assert "| Charge-2 |  | — | ✗ | ✗ | — | ✓ | ✓ | — | ✗ | ✗ | — | ✗ | ✗ | — | n/a | n/a |" in md
    assert "✗ 0/" not in next(line for line in md.splitlines() if line.startswith("| Charge-2"))


def test_agreement_counts_only_cells_that_were_run(tables) -> None:
    frame = tables["table5_success"]
    # Compared with the paper: spring n4 standard ✗=✗, bottleneck ✓=✓, l1 ✗≠✓; spring n8 bottleneck ✗≠✓; r1 kl ✓=✓.
    paper = agreement(frame, "paper", "physical")
    assert (paper.matches, paper.compared) == (3, 5)
    assert paper.disagreements == (
        "Spring-2 n=4, l1: the paper ✓, ours ✗ 0/1",
        "Spring-2 n=8, bottleneck: the paper ✓, ours ◦ 0/1",
    )
    assert paper.sentence() == "matches the paper in 3/5 compared cells (physical reading)"
    scaled = agreement(frame, "paper", "receiver_scaled")  # l1 recovers on the receiver-scaled reading
    assert (scaled.matches, scaled.compared) == (4, 5)
    cambridge = agreement(frame, "cambridge", "physical")  # Cambridge: Spring-2 Std ✓, L1 ✓; r⁻¹-2 KL ✓
    assert (cambridge.matches, cambridge.compared) == (2, 5)
    wide = render_table5(frame, SETTINGS)
    notes = wide.note_lines()
    assert "Ours matches the paper in 3/5 compared cells (physical reading)." in notes
    assert "Disagrees with the paper (physical): Spring-2 n=8, bottleneck: the paper ✓, ours ◦ 0/1" in notes
    page = wide.html()  # the lists fold; their counts stay visible
    assert '<details class="notes"><summary>Disagrees with the paper (physical): 2 cells</summary><ul>' in page
    assert page.index("Ours matches the paper in 3/5") < page.index("<details")


def test_table1_mean_and_sd_over_seeds(run, tables) -> None:
    frame = tables["table1_r2"]
    fits = [json.loads((run / f"results/forcefit/spring_2d_n4/bottleneck/seed{s}.json").read_text()) for s in range(3)]
    force = [f["force"]["r2_mean"] for f in fits]
    row = slot(frame, "Spring-2", 4, "bottleneck")
    assert row["force_mean"] == pytest.approx(np.mean(force)) and row["force_sd"] == pytest.approx(
        np.std(force, ddof=1)
    )
    assert force[0] == pytest.approx(1.0) and force[2] < 0.5  # the writer's noise levels reach the table
    assert row["paper"] == 1.0 and row["runs"] == 3
    single = slot(frame, "Spring-2", 4, "standard")
    assert pd.isna(single["force_sd"]) and single["runs"] == 1


def test_table1_agreement_is_the_side_of_the_linear_threshold() -> None:
    fits = {
        Cell("spring_2d_n4", "standard", 0): (0.2, 0.3),  # the paper 0.032: both below 0.9
        Cell("spring_2d_n4", "bottleneck", 0): (0.5, 0.95),  # the paper 1.000: the F/m₁ basis counts
        Cell("spring_2d_n4", "kl", 0): (0.99, 0.9),  # the paper 0.883
        Cell("damped_2d_n4", "l1", 0): (0.99, 0.9),
    }  # no paper value: not compared
    frame = table1_frame(fits, SETTINGS)
    found = table1_agreement(frame)
    assert isinstance(found, Agreement)
    assert (found.matches, found.compared) == (2, 3)
    assert found.disagreements == ("Spring-2 n=4, kl: the paper 0.883, ours 0.990",)
    notes = render_table1(frame).note_lines()
    assert (
        "Ours matches the paper in 2/3 compared cells (the better of F and F/m₁ on the paper's side of R² = 0.9)."
        in notes
    )
    assert "Disagrees with the paper: Spring-2 n=4, kl: the paper 0.883, ours 0.990" in notes


def test_table3_agreement_is_the_lowest_loss_model_of_each_row() -> None:
    losses = {Cell("spring_2d_n4", m, 0): v for m, v in [("standard", 0.05), ("bottleneck", 0.04), ("l1", 0.06)]}
    losses |= {
        Cell("r2_2d_n4", m, 0): v for m, v in [("standard", 2.0), ("l1", 1.0)]
    }  # the paper: L1 1.184 < Std 1.613
    losses[Cell("r1_2d_n4", "kl", 0)] = 3.0  # alone in its row: nothing to rank
    frame = table3_frame(losses, SETTINGS)
    disagreement = "Spring-2 n=4: lowest loss here bottleneck, in the paper l1 (of standard, bottleneck, l1)"
    found = table3_agreement(frame)
    assert (found.matches, found.compared, found.unit, found.disagreements) == (1, 2, "rows", (disagreement,))
    assert f"Disagrees with the paper: {disagreement}" in render_table3(frame).note_lines()


def test_table3_shows_every_paper_column_and_our_extra_rows(tables) -> None:
    frame = tables["table3_loss"]
    flat = slot(frame, "Charge-2", None, "")
    assert flat["paper_model"] == "FlatHGN" and flat["paper"] == pytest.approx(54.962) and flat["runs"] == 0
    damped = slot(frame, "Damped-2", 4, "bottleneck")
    assert damped["test_loss_mean"] == pytest.approx(0.05) and damped["paper"] == pytest.approx(0.328)
    kl = slot(frame, "r⁻¹-2", 4, "kl")
    assert kl["test_loss_mean"] == pytest.approx(0.075) and kl["test_loss_sd"] == pytest.approx(
        np.std([0.05, 0.1], ddof=1)
    )


def test_flathgn_has_table3_and_its_own_table5_column_but_no_table1_column(tmp_path) -> None:
    """Its message is an energy: Table 1 (force fit) leaves it out, its potential fit is in the report."""
    cell = Cell("spring_2d_n4", "flathgn", 0)
    write_training(tmp_path, cell, test_loss=0.02)
    assert write_energy_fit(tmp_path, cell)["potential"]["r2_mean"] == pytest.approx(1.0)
    write_judge(tmp_path, cell, "strict", "strict")
    root = tmp_path / "results"
    settings = TableSettings({**SETTINGS.paper_models, "flathgn": "FlatHGN"}, SETTINGS.success)
    inputs = TableInputs(
        [root / f"models/{cell.path}/metrics.json"],
        [root / f"forcefit/{cell.path}.json"],
        [root / f"judge/{cell.path}.json"],
    )
    built = build_tables(inputs, settings)
    loss = slot(built["table3_loss"], "Spring-2", 4, "flathgn")
    assert loss["test_loss_mean"] == pytest.approx(0.02) and loss["paper"] == pytest.approx(0.016)
    recovery = slot(built["table5_success"], "Spring-2", 4, "flathgn")
    assert recovery["physical_success"] and recovery["paper_model"] == ""
    assert "flathgn" not in set(built["table1_r2"]["model"])


def test_written_files_round_trip_and_render(run, tables, tmp_path) -> None:
    outputs = {f"{name}_{ext}": tmp_path / f"{name}.{ext}" for name in TABLES for ext in ("csv", "md", "html")}
    outputs |= {f"table5_grid_{ext}": tmp_path / f"table5_grid.{ext}" for ext in ("png", "svg")}
    make_tables(TableInputs(paths(run, "metrics"), paths(run, "forcefit"), paths(run, "judge")), outputs, SETTINGS)
    for name in TABLES:
        back = read_table(outputs[f"{name}_csv"], name)
        pd.testing.assert_frame_equal(back, tables[name])
        assert outputs[f"{name}_html"].read_text().startswith("<!DOCTYPE html>")
    table5 = outputs["table5_success_html"].read_text()
    assert '<td class="agree">✓⋆✗ 2/3 · law R² 0.93 · ⏱ 1/3</td>' in table5
    assert '<td class="disagree">◦ 0/1 · law R² 0.90</td>' in table5
    assert '<td class="notrun">—</td>' in table5
    mean, sd = slot(tables["table1_r2"], "Spring-2", 4, "bottleneck")[["force_mean", "force_sd"]]
    assert "| Spring-2 | 4 | 1.000 | " in outputs["table1_r2_md"].read_text()  # standard: one seed, noise 0
    assert f"{mean:.3f} ± {sd:.3f}" in outputs["table1_r2_md"].read_text()
    assert "| Spring-2 | 4 | 0.050 | 0.047 |" in outputs["table3_loss_md"].read_text()  # standard: one seed
    assert outputs["table5_grid_png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert outputs["table5_grid_svg"].read_text().startswith("<?xml")
    again = {key: tmp_path / "again" / Path(path).name for key, path in outputs.items()}
    make_tables(TableInputs(paths(run, "metrics"), paths(run, "forcefit"), paths(run, "judge")), again, SETTINGS)
    for key in ("table5_grid_png", "table5_grid_svg"):  # byte-reproducible: no date, no random ids
        assert again[key].read_bytes() == outputs[key].read_bytes(), key


def test_the_grid_colours_each_cell_by_its_outcome_and_outlines_disagreements(tables) -> None:
    frame = tables["table5_success"]
    patches = [p for p in grid_figure(frame).axes[0].patches if isinstance(p, Rectangle)]
    assert len(patches) == len(frame)
    outlined = [p for p in patches if p.get_linewidth() == 2.5]
    assert len(outlined) == len(agreement(frame).disagreements) > 0
    ran = frame[frame["runs"] > 0]
    expected = sorted(COLOURS[cell_outcome(results)] for results in ran["physical"])
    assert sorted(to_hex(p.get_facecolor()) for p in patches if to_hex(p.get_facecolor()) != NOT_RUN_COLOUR) == expected


def test_a_cells_colour_is_the_outcome_half_its_seeds_reach() -> None:
    assert cell_outcome("strict") == "strict"
    assert cell_outcome("strict on_front fail") == "on_front"
    assert cell_outcome("fail strict") == "strict"  # one of two: at least half
    assert cell_outcome("no_result fail partial") == "fail"
    assert cell_outcome("") is None


def test_partial_model_mapping_keeps_unmapped_paper_columns(run) -> None:
    settings = TableSettings({"bottleneck": "Bottleneck"}, ("strict",))
    frame = build_tables(TableInputs([], [], paths(run, "judge")), settings)["table5_success"]
    columns = list(dict.fromkeys(zip(frame["model"], frame["paper_model"], strict=True)))
    assert columns[:4] == [("", "Std"), ("bottleneck", "Bottleneck"), ("", "L1"), ("", "KL")]
    assert {"kl", "l1", "l1_wide", "standard"} <= {m for m, p in columns if p == ""}
    # strict only: the on_front seed no longer counts, so 1/3 seeds recover and the cell does not.
    row = slot(frame, "Spring-2", 4, "bottleneck")
    assert row["physical_successes"] == 1 and not row["physical_success"]


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        (
            "judge",
            {"cell": "spring_2d_n4/kl/seed0", "outcome": {"physical": "maybe", "receiver_scaled": "fail"}},
            "a judge JSON .* unknown outcome 'maybe'",
        ),
        ("judge", {"cell": "spring_2d_n4/kl/seed0", "outcome": {"physical": "fail"}}, "KeyError: 'receiver_scaled'"),
        (
            "judge",
            {"cell": "spring_2d_n4/kl/seed0", "outcome": {"physical": "fail", "receiver_scaled": "fail"}},
            r"numeric 'law_r2.physical' .* \(KeyError: 'law_r2'\)",
        ),
        (
            "metrics",
            {"cell": "spring_2d_n4/kl/seed0", "test_loss": "low"},
            "numeric 'test_loss' .* 'low' is not a number",
        ),
        (
            "forcefit",
            {"cell": "spring-2d/kl/seed0", "force": {"r2_mean": 1}, "acceleration": {"r2_mean": 1}},
            "ConfigError: dataset name 'spring-2d' is not of the form",
        ),
    ],
)
def test_a_bad_file_is_named_with_what_was_expected(tmp_path, kind, content, message) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(content))
    lists = {"metrics": [], "forcefit": [], "judge": [], kind: [bad]}
    with pytest.raises(TableInputError, match=f"^{re.escape(str(bad))}: expected .*" + message):
        build_tables(TableInputs(lists["metrics"], lists["forcefit"], lists["judge"]), SETTINGS)


def test_a_cell_recorded_twice_is_an_error(run, tmp_path) -> None:
    copy = tmp_path / "copy.json"
    first = paths(run, "judge")[0]
    copy.write_text(first.read_text())
    with pytest.raises(
        TableInputError, match=re.escape(f"{copy}: cell spring_2d_n4/bottleneck/seed0 is also recorded by {first}")
    ):
        build_tables(TableInputs([], [], [first, copy]), SETTINGS)


def test_a_foreign_csv_is_refused_by_name(tmp_path) -> None:
    foreign = tmp_path / "t.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(
        TableInputError, match=re.escape(f"{foreign}: columns ['a', 'b'], expected the table1_r2 columns")
    ):
        read_table(foreign, "table1_r2")


def test_reference_tables_are_complete_and_consistent() -> None:
    sizes = {"table1_r2": 8, "table3_loss": 12, "table5_success": 16}
    for name in TABLES:
        ref = reference(name)
        assert len(ref) == sizes[name] and ref.notna().all().all()
        assert (ref["row"].str.split("-").str[-1] == ref["dim"]).all()  # Charge-2 is 2D, r⁻¹-3 is 3D, …
    marks = reference("table5_success")[["Std", "Bottleneck", "L1", "KL"]].to_numpy()
    assert set(marks.ravel()) == {"✓", "✗"}
    # The paper's bold Table 3 entries are each row's minimum; spot-check transcribed values.
    table3 = reference("table3_loss").set_index("row")
    assert table3.loc["Charge-2", "Std"] == "48.688" and table3.loc["Spring-3", "FlatHGN"] == "0.010"


def test_every_outcome_has_a_symbol_and_every_reading_a_column() -> None:
    assert tuple(SYMBOLS) == JUDGE_OUTCOMES == (*VERDICTS, NO_LAW) and tuple(LEGEND) == JUDGE_OUTCOMES
    assert set(SCHEMAS["table5_success"]) >= {*READINGS, *(f"{r}_success" for r in READINGS)}


def test_settings_refuse_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match=r"unknown judge outcome\(s\) \['recovered'\]"):
        TableSettings({}, ("recovered",))
