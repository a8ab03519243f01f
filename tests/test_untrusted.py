"""A results folder from someone else is data (issue 37): nothing in a file runs, and a file that is not what its
stage writes is one error naming it, never a table value or a traceback.

Each hostile file is a real one (a real search's front and result, a real model record) with one thing changed;
the command such a file would run touches a marker file, which must never appear.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sympy
import torch
from cellfiles import CELL, synthetic_messages, write_message_file, write_training

from symdistill.core.io import InputError, read_rows, write_json
from symdistill.core.names import parse_cell
from symdistill.engine.budget import SearchBudget
from symdistill.engine.search import SearchSpec
from symdistill.engine.search_files import SearchFileError, SearchOutputs, read_front, read_result
from symdistill.nbody.messages import read_messages
from symdistill.nbody.replacement import check_judged
from symdistill.nbody.symbolic import fit_symbolic, input_names
from symdistill.nbody.train import HISTORY_COLUMNS, load_model
from symdistill.reporting.cell_reports import mathml, read_records
from symdistill.reporting.records import TableInputError, read_cells, recorded_test_loss

NAMES = input_names(2)


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> Path:
    """A real two-component pyoperon search of a spring message table: results/symbolic/{CELL}/front + result."""
    root = tmp_path_factory.mktemp("search")
    frame, meta = synthetic_messages(root)
    spec = SearchSpec(
        backend="pyoperon",
        operators=("add", "sub", "mul", "div"),
        budget=SearchBudget(5, 60),
        max_length=15,
        population_size=30,
        optimizer_iterations=2,
        samples=200,
        r_min=0.3,
        components=2,
        selection="best",
        loss="mae",
        seed=0,
    )
    out = root / f"results/symbolic/{CELL}"
    fit_symbolic(write_message_file(root, frame, meta), SearchOutputs(out / "front.parquet", out / "result.json"), spec)
    return out


def _copy(search: Path, tmp_path: Path, front=None, result=None) -> tuple[Path, Path]:
    """The search's two files under ``tmp_path`` (same cell path), ``front``/``result`` applied to them."""
    out = tmp_path / f"results/symbolic/{CELL}"
    out.mkdir(parents=True)
    frame = pd.read_parquet(search / "front.parquet")
    (front or (lambda f: f))(frame).to_parquet(out / "front.parquet", index=False)
    record = json.loads((search / "result.json").read_text())
    write_json(out / "result.json", (result or (lambda r: r))(record))
    return out / "front.parquet", out / "result.json"


def _marker_command(tmp_path: Path) -> tuple[Path, str]:
    marker = tmp_path / "ran"
    return marker, f"__import__('os').system('touch {marker}')"


def test_the_real_search_files_read_back(search: Path) -> None:
    result = read_result(search / "result.json", NAMES)
    front = read_front(search / "front.parquet", NAMES, result)
    assert set(front["component"]) == {"e0", "e1"} and front["selected"].sum() == 2


@pytest.mark.parametrize("column", ["sympy", "equation"])
def test_an_equation_that_would_run_code_is_refused_naming_the_file_row_and_token(
    search: Path, tmp_path: Path, column: str
) -> None:
    """Used to run: parse_expr calls eval, in judge, replace, distil, figures and the report."""
    marker, command = _marker_command(tmp_path)

    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[1, column] = f"{command} + dx"
        return frame

    front, result = _copy(search, tmp_path, front=plant)
    with pytest.raises(SearchFileError, match=rf"^{front}: row 1 \(e\d, complexity \d+\), {column}: .*__import__"):
        read_front(front, NAMES, read_result(result, NAMES))
    assert not marker.exists()


def test_a_result_whose_selected_equation_would_run_code_is_refused(search: Path, tmp_path: Path) -> None:
    marker, command = _marker_command(tmp_path)

    def plant(record: dict) -> dict:
        record["components"][0]["selected"]["sympy"] = command
        return record

    _, result = _copy(search, tmp_path, result=plant)
    with pytest.raises(SearchFileError, match=rf"^{result}: not a search result: components\[0\].selected.sympy: "):
        read_result(result, NAMES)
    assert not marker.exists()


def test_the_report_refuses_a_hostile_result_by_file_and_escapes_symbol_names(search: Path, tmp_path: Path) -> None:
    """The report read result.json's equations with parse_expr, and wrote SymPy's MathML (which does not escape a
    symbol's name) with |safe."""
    marker, command = _marker_command(tmp_path)
    inputs = {"inputs": [*NAMES[:-1], "<img src=x onerror=alert(1)>"]}
    for k, edit in enumerate(({"components": "sympy"}, inputs)):
        _, result = _copy(search, tmp_path / str(k), result=lambda r, e=edit: _plant_report(r, e, command))
        with pytest.raises(TableInputError, match=rf"^{result}: expected a symbolic JSON"):
            read_records([result], "symbolic")
    assert not marker.exists()
    page = mathml(sympy.Symbol("<img src=x onerror=alert(1)>") * sympy.Symbol("m1"))
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def _plant_report(record: dict, edit: dict, command: str) -> dict:
    if "components" in edit:
        record["components"][1]["selected"]["sympy"] = command
        return record
    return {**record, **edit}


@pytest.mark.parametrize(
    ("front", "result", "says"),
    [
        (lambda f: f.iloc[:0], None, r"0 rows of e0, but its result.json records a front of \d+"),
        (lambda f: f.drop(columns="sympy"), None, r"lacks the column\(s\) sympy"),
        (lambda f: f.assign(complexity=f["complexity"].astype(str)), None, "column complexity holds string values"),
        (lambda f: f.assign(selected=False), None, "e0: 0 selected rows"),
        (None, lambda r: {**r, "components": []}, "0 searched components, expected at least 1"),
        (None, lambda r: {**r, "status": "fine"}, "status 'fine' is not one of ok, timeout, error"),
        (None, lambda r: {k: v for k, v in r.items() if k != "inputs"}, "'inputs' is missing"),
    ],
    ids=["empty front", "no sympy", "complexity as text", "none selected", "no components", "status", "no inputs"],
)
def test_a_search_file_that_is_not_what_the_search_writes_is_named(search, tmp_path, front, result, says) -> None:
    """An empty front used to become a Table 5 'fail'; the others were an AttributeError, a max() of an empty list
    in the judge, or a KeyError, none naming the file."""
    front_path, result_path = _copy(search, tmp_path, front=front, result=result)
    with pytest.raises(SearchFileError, match=rf"^({front_path}|{result_path}): .*{says}.*`-R symbolic`"):
        read_front(front_path, NAMES, read_result(result_path, NAMES))


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_truncated_front_is_named_with_the_rule_that_rebuilds_it(search: Path, tmp_path: Path, keep: float) -> None:
    front, _ = _copy(search, tmp_path)
    data = front.read_bytes()
    front.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(SearchFileError, match=rf"^{front}: not a readable Parquet file .*`-R symbolic`"):
        read_front(front, NAMES)


def test_a_front_is_not_a_foreign_parquet(tmp_path: Path) -> None:
    foreign = tmp_path / "front.parquet"
    pq.write_table(pq.read_table(_table(tmp_path)), foreign)
    with pytest.raises(SearchFileError, match=r"lacks the column\(s\) component, complexity"):
        read_front(foreign, NAMES)


def _table(tmp_path: Path) -> Path:
    path = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1.0]}).to_parquet(path)
    return path


class _RunsACommand:
    """What a hostile model file carries: unpickling it calls ``os.system``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_model_file_carrying_a_pickled_object_is_refused_unread(tmp_path: Path) -> None:
    """A real record plus one object with a __reduce__ used to run its command (exit 0)."""
    write_training(tmp_path, parse_cell(CELL), 0.1)
    path = tmp_path / f"results/models/{CELL}/model.pt"
    record = torch.load(path, weights_only=True)
    marker = tmp_path / "ran"
    torch.save({**record, "extra": _RunsACommand(marker)}, path)
    with pytest.raises(InputError, match=rf"^{path}: holds Python objects beyond weights and plain values"):
        load_model(path)
    assert not marker.exists()


def test_a_judge_file_of_another_search_is_refused(search: Path) -> None:
    """``replace`` takes the judged equation from the judge's members: each must be a row of the front, whose
    strings the whitelist checked."""
    front = read_front(search / "front.parquet", NAMES)
    judge = {"components": [{"component": "e0", "members": [{"sympy": "dx*m2"}]}]}
    with pytest.raises(InputError, match=r"^judge.json: judges e0 member 'dx\*m2', which is not on the cell's front"):
        check_judged(front, judge, "judge.json")
    check_judged(front, {"components": [{"component": "e0", "members": [{"sympy": front["sympy"].iloc[0]}]}]}, "j")


def test_a_nan_in_a_json_file_is_refused_not_tabled(tmp_path: Path) -> None:
    """metrics.json with test_loss NaN printed 'nan' in Table 3: NaN was refused on writing, accepted on reading."""
    write_training(tmp_path, parse_cell(CELL), 0.1)
    path = tmp_path / f"results/models/{CELL}/metrics.json"
    path.write_text(path.read_text().replace('"test_loss": 0.1', '"test_loss": NaN'))
    with pytest.raises(InputError, match=rf"^{path}: holds a non-finite number \(NaN\)"):
        read_cells([path], recorded_test_loss, "metrics")


def test_a_message_table_of_text_or_cut_by_hand_is_named(tmp_path: Path) -> None:
    frame, meta = synthetic_messages(tmp_path)
    path = write_message_file(tmp_path, frame.assign(e0=frame["e0"].astype(str)), meta)
    with pytest.raises(InputError, match=rf"^{path}: non-numeric column\(s\) e0 "):
        read_messages(path)
    path = write_message_file(tmp_path, frame.iloc[:-10], meta)
    with pytest.raises(InputError, match=r"2990 rows, not the recorded sample's: .* each with its 12 edges"):
        read_messages(path)


def test_an_empty_history_is_named(tmp_path: Path) -> None:
    """An empty history.parquet was an IndexError in the figures stage."""
    path = tmp_path / "history.parquet"
    pd.DataFrame({c: [] for c in HISTORY_COLUMNS}).to_parquet(path)
    with pytest.raises(InputError, match=rf"^{path}: has no rows, not a training history .*`-R train`"):
        read_rows(path, HISTORY_COLUMNS, "a training history", "train")
