"""Rule ``tables``: the paper's Tables 1, 3 and 5 from every cell of a run, beside the paper's values and, for
Table 5, the Cambridge reproduction's (how they agree: ``agreement``; Table 5 as a picture: ``grid``).

Each table is first a tidy frame, one row per (system, dimension, bodies, model) holding every number and the
reference values. That frame is the CSV, and the report reads it back (``read_table``) rather than recomputing
it. The Markdown and HTML are wide views of the frame laid out like the paper: systems down, models across.

Rows carry the paper's names (Charge-2 = charge in 2D, r⁻¹-3 = r1 in 3D, …). The paper never says how many bodies
a row used (it ran 4 and 8), so every n is compared with the same paper row, and each table says so. Paper cells
this run did not produce are shown as not run ("—"): never as failures, and never counted.

Table 5 counts a (row, model) cell as a recovery when at least half of its seeds reach one of the judge outcomes
in ``TableSettings.success`` (by default strict or on_front). The ``physical`` reading is the headline, as the
paper accepted the law as force or acceleration; the ``receiver_scaled`` reading is shown where it differs and
gets its own agreement count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from symdistill.core.bundles import Files
from symdistill.core.io import atomic_output
from symdistill.core.names import Cell, parse_dataset
from symdistill.core.rendering import (
    Entry,
    TableFiles,
    WideTable,
    html_page,
    mark,
    outcome_marks,
    reference_text,
    value_text,
    wide_table,
)
from symdistill.core.specs import Spec
from symdistill.core.vocabulary import LEGEND, NO_LAW, NOT_RUN, READINGS, SYMBOLS, TIMEOUT, VERDICTS
from symdistill.reporting.agreement import (
    agreement_notes,
    agreements,
    disagreement_notes,
    table1_agreement,
    table3_agreement,
)
from symdistill.reporting.distilled import distilled_frame, distilled_outputs, write_distilled
from symdistill.reporting.grid import write_grid
from symdistill.reporting.records import EXPECTED, TableInputError, outcomes_of, r2_of, read_cells, recorded_test_loss
from symdistill.reporting.references import MARKS, SOURCES, paper_columns, reference, row_name, source_of

T = TypeVar("T")

N_NOTE = (
    "The paper's rows do not state the number of bodies n (it used 4 and 8); every n run here is compared "
    "with the paper's row of the same system and dimension."
)

_SLOT = {
    "row": "string",
    "sim": "string",
    "dim": "int64",
    "n": "Int64",
    "model": "string",
    "paper_model": "string",
    "seeds": "string",
    "runs": "int64",
}
SCHEMAS: dict[str, dict[str, str]] = {
    "table5_success": {
        **_SLOT,
        "physical": "string",
        "physical_successes": "int64",
        "physical_success": "boolean",
        "receiver_scaled": "string",
        "receiver_scaled_successes": "int64",
        "receiver_scaled_success": "boolean",
        "law_r2": "float64",
        "timeouts": "int64",
        "paper": "boolean",
        "cambridge": "boolean",
    },
    "table1_r2": {
        **_SLOT,
        "force_mean": "float64",
        "force_sd": "float64",
        "acceleration_mean": "float64",
        "acceleration_sd": "float64",
        "paper": "float64",
    },
    "table3_loss": {**_SLOT, "test_loss_mean": "float64", "test_loss_sd": "float64", "paper": "float64"},
}


@dataclass(frozen=True)
class TableSettings(Spec):
    """The ``tables`` rule's params (config ``report``)."""

    paper_models: dict[str, str]  # our model variant → the paper's column (Std, Bottleneck, L1, KL, FlatHGN)
    success: tuple[str, ...]  # judge outcomes counted as a recovered law

    def __post_init__(self) -> None:
        object.__setattr__(self, "success", tuple(self.success))
        unknown = sorted(set(self.success) - set(VERDICTS))
        if unknown:
            raise ValueError(f"unknown judge outcome(s) {unknown} in success; expected some of {', '.join(VERDICTS)}")

    @property
    def rule(self) -> str:
        names = " or ".join(f"{SYMBOLS[o]} {o.replace('_', '-')}" for o in self.success)
        return (
            f"a seed recovers the law when its outcome is {names}; a cell counts as a recovery when at least "
            "half of its seeds do. Only cells that were run and have a reference value are compared."
        )


# ---------------------------------------------------------------- tidy frames


@dataclass(frozen=True)
class Slot:
    """One cell of a wide table: a paper row (system, dimension) at n bodies, under one model column."""

    row: str
    sim: str
    dim: int
    n: int | None
    model: str | None
    paper_model: str | None


def model_columns(
    paper: list[str], run: set[str], paper_models: Mapping[str, str]
) -> list[tuple[str | None, str | None]]:
    """(our model, paper column) in the paper's order, then models the paper does not have.

    A paper column no model maps to stays as (None, column), so its reference values are still shown.
    """
    columns: list[tuple[str | None, str | None]] = []
    for column in paper:
        columns += [(m, column) for m, p in paper_models.items() if p == column] or [(None, column)]
    mapped = {m for m, _ in columns}
    return columns + [(m, None) for m in sorted(run - mapped)]


def slots(
    cells: Iterable[Cell], systems: list[tuple[str, int]], paper: list[str], settings: TableSettings
) -> list[Slot]:
    """Every (row, n) × column: the reference's rows first, in its order, then systems only this run has."""
    cells = list(cells)
    datasets = {parse_dataset(c.dataset) for c in cells}
    ordered = list(dict.fromkeys(systems + sorted({(d.sim, d.dim) for d in datasets})))
    columns = model_columns(paper, {c.model for c in cells}, settings.paper_models)
    out = []
    for sim, dim in ordered:
        for n in sorted({d.n for d in datasets if (d.sim, d.dim) == (sim, dim)}) or [None]:
            out += [Slot(row_name(sim, dim), sim, dim, n, m, p) for m, p in columns]
    return out


def _frame(
    name: str,
    values: Mapping[Cell, T],
    settings: TableSettings,
    measure: Callable[[list[T]], dict[str, Any]],
    convert: Callable[[str], Any],
) -> pd.DataFrame:
    """The tidy frame of one table: ``measure`` of each slot's seeds, the reference values ``convert``-ed."""
    ref = reference(name)
    systems = [(r.sim, int(r.dim)) for r in source_of(ref, "paper").itertuples()]
    sources = [key for key in SOURCES if key in SCHEMAS[name]]
    known = {
        (key, r["sim"], int(r["dim"]), column): convert(r[column])
        for key in sources
        for _, r in source_of(ref, key).iterrows()
        for column in paper_columns(ref)
    }
    groups: dict[tuple[str, int, int, str], list[tuple[int, T]]] = defaultdict(list)
    for cell, value in sorted(values.items()):
        d = parse_dataset(cell.dataset)
        groups[(d.sim, d.dim, d.n, cell.model)].append((cell.seed, value))
    records = []
    for slot in slots(values, systems, paper_columns(ref), settings):
        runs = groups.get((slot.sim, slot.dim, slot.n, slot.model), [])
        records.append(
            {
                "row": slot.row,
                "sim": slot.sim,
                "dim": slot.dim,
                "n": slot.n,
                "model": slot.model or "",
                "paper_model": slot.paper_model or "",
                "seeds": " ".join(str(seed) for seed, _ in runs),
                "runs": len(runs),
                **measure([value for _, value in runs]),
                **{key: known.get((key, slot.sim, slot.dim, slot.paper_model)) for key in sources},
            }
        )
    return typed(pd.DataFrame.from_records(records, columns=list(SCHEMAS[name])), name)


def typed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` with the table's column types; text is never missing, only empty."""
    schema = SCHEMAS[name]
    frame = frame.astype({c: t for c, t in schema.items() if t != "string"})
    strings = [c for c, t in schema.items() if t == "string"]
    frame[strings] = frame[strings].fillna("").astype("string")
    return frame


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (NaN where undefined: no seed, or one)."""
    mean = float(np.mean(values)) if values else float("nan")
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return mean, sd


def recovered(successes: int, runs: int) -> bool | None:
    """At least half of the seeds; None for a cell not run (never a failure)."""
    return None if runs == 0 else 2 * successes >= runs


def table5_frame(outcomes: Mapping[Cell, dict[str, Any]], settings: TableSettings) -> pd.DataFrame:
    """Recovery per seed for each reading, successes, whether the cell recovered, the law's R² to the message
    (mean over the seeds that have one), the paper's and Cambridge's marks."""

    def measure(runs: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for reading in READINGS:
            results = [run[reading] for run in runs]
            successes = sum(r in settings.success for r in results)
            out |= {
                reading: " ".join(results),
                f"{reading}_successes": successes,
                f"{reading}_success": recovered(successes, len(results)),
            }
        law = [run["law_r2"] for run in runs if not np.isnan(run["law_r2"])]
        return out | {
            "law_r2": float(np.mean(law)) if law else float("nan"),
            "timeouts": sum(run["timeout"] for run in runs),
        }

    return _frame("table5_success", outcomes, settings, measure, lambda mark: MARKS[mark])


def table1_frame(fits: Mapping[Cell, tuple[float, float]], settings: TableSettings) -> pd.DataFrame:
    """R² of the force fit (force and acceleration basis), mean ± sd over seeds, beside the paper's."""

    def measure(runs: list[tuple[float, float]]) -> dict[str, Any]:
        force, acceleration = mean_sd([r[0] for r in runs]), mean_sd([r[1] for r in runs])
        return {
            "force_mean": force[0],
            "force_sd": force[1],
            "acceleration_mean": acceleration[0],
            "acceleration_sd": acceleration[1],
        }

    return _frame("table1_r2", fits, settings, measure, float)


def table3_frame(losses: Mapping[Cell, float], settings: TableSettings) -> pd.DataFrame:
    """Test loss, mean ± sd over seeds, beside the paper's."""

    def measure(runs: list[float]) -> dict[str, Any]:
        mean, sd = mean_sd(runs)
        return {"test_loss_mean": mean, "test_loss_sd": sd}

    return _frame("table3_loss", losses, settings, measure, float)


# ---------------------------------------------------------------- the tables, as the paper lays them out


def _sources(name: str) -> str:
    return "Reference values: " + "; ".join(dict.fromkeys(reference(name)["source"])) + "."


def render_table5(frame: pd.DataFrame, settings: TableSettings) -> WideTable:
    def entries(r: pd.Series) -> list[Entry]:
        ours = outcome_marks(r["physical"], r["physical_successes"], r["runs"])
        if r["receiver_scaled"] != r["physical"]:
            ours += " · receiver-scaled " + outcome_marks(
                r["receiver_scaled"], r["receiver_scaled_successes"], r["runs"]
            )
        if r["physical_successes"] < r["runs"] and not pd.isna(r["law_r2"]):
            ours += f" · law R² {r['law_r2']:.2f}"
        if r["timeouts"]:
            ours += f" · {TIMEOUT} {r['timeouts']}/{r['runs']}"
        state = (
            "notrun"
            if r["runs"] == 0
            else ""
            if pd.isna(r["paper"])
            else ("agree" if r["physical_success"] == r["paper"] else "disagree")
        )
        return [(ours, state), (mark(r["paper"]), ""), (mark(r["cambridge"]), "")]

    found = agreements(frame)
    notes = [
        "Ours: the judge's outcome per seed, in seed order, then k/N seeds that recovered the law. "
        + "; ".join(f"{SYMBOLS[o]} {o.replace('_', ' ')}: {LEGEND[o]}" for o in VERDICTS)
        + f"; {NOT_RUN} not run.",
        f"Recovery: {settings.rule}",
        f"{TIMEOUT} k/N: k seeds' searches stopped at symbolic.budget.time_limit before their generations ran out. "
        "Their fronts are judged as they were, but a rerun (or another machine) may search more or less and judge "
        "differently: raise the time limit, or lower symbolic.budget.generations, for a reproducible verdict.",
        "Shown: the physical reading (the law as force or acceleration F/m₁); the receiver-scaled reading "
        "(F times any function of the receiver's mass) is added where it differs.",
        "Law R² (where a seed did not recover the law): how much of the fitted message the law itself explains, "
        "R² of its best affine fit on held-out edges, mean over seeds. Near 1 the search missed a law that is in "
        "the message; well below 1 the network has not put the law into that message component.",
        N_NOTE,
        *(f"Ours {a.sentence()}." for a in found),
        *disagreement_notes(found),
        _sources("table5_success"),
    ]
    return wide_table("Table 5: force-law recovery", frame, ["ours", "paper", "Cambridge"], entries, notes)


def render_table1(frame: pd.DataFrame) -> WideTable:
    def entries(r: pd.Series) -> list[Entry]:
        state = "notrun" if r["runs"] == 0 else ""
        return [
            (value_text(r["force_mean"], r["force_sd"], r["runs"]), state),
            (value_text(r["acceleration_mean"], r["acceleration_sd"], r["runs"]), state),
            (reference_text(r["paper"]), ""),
        ]

    notes = [
        "R² of the best linear combination of the true force (F) or acceleration (F/m₁) components fitted to "
        "each of the dim most significant messages (on the best forcefit.keep_fraction of edges, trimmed as the "
        "paper's notebook), averaged over the components. FlatHGN's message is a pair energy, not a force: its "
        "fit to the potential is in the report.",
        "Ours: mean ± sample sd over seeds (one seed: its value).",
        N_NOTE,
        *agreement_notes(table1_agreement(frame)),
        _sources("table1_r2"),
    ]
    return wide_table("Table 1: R² of the force fit", frame, ["ours F", "ours F/m₁", "paper"], entries, notes)


def render_table3(frame: pd.DataFrame) -> WideTable:
    def entries(r: pd.Series) -> list[Entry]:
        return [
            (value_text(r["test_loss_mean"], r["test_loss_sd"], r["runs"]), "notrun" if r["runs"] == 0 else ""),
            (reference_text(r["paper"]), ""),
        ]

    notes = [
        "Test loss: mean over test graphs of Σ|a − â| over nodes and dimensions.",
        "Ours: mean ± sample sd over seeds (one seed: its value).",
        N_NOTE,
        *agreement_notes(table3_agreement(frame)),
        _sources("table3_loss"),
    ]
    return wide_table("Table 3: test prediction loss", frame, ["ours", "paper"], entries, notes)


def render_table(name: str, frame: pd.DataFrame, settings: TableSettings) -> WideTable:
    """The wide view of table ``name`` (one of TABLES); only Table 5 depends on the settings (its recovery rule)."""
    if name == "table5_success":
        return render_table5(frame, settings)
    return {"table1_r2": render_table1, "table3_loss": render_table3}[name](frame)


# ---------------------------------------------------------------- files


def write_table(frame: pd.DataFrame, wide: WideTable, files: TableFiles) -> None:
    """The tidy frame as CSV, its wide view as Markdown and HTML, each atomically."""
    with atomic_output(files.csv) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_output(files.md) as tmp:
        tmp.write_text(wide.markdown(), encoding="utf-8")
    with atomic_output(files.html) as tmp:
        tmp.write_text(html_page(wide.title, wide.html()), encoding="utf-8")


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    """A table's CSV as this module wrote it; anything else raises naming the file."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise TableInputError(f"{path}: not a readable CSV ({err})") from None
    if list(frame.columns) != list(SCHEMAS[name]):
        raise TableInputError(
            f"{path}: columns {list(frame.columns)}, expected the {name} columns {list(SCHEMAS[name])}"
        )
    for column, kind in SCHEMAS[name].items():
        if kind == "boolean":
            frame[column] = frame[column].map({"True": True, "False": False}, na_action="ignore")
    try:
        return typed(frame, name)
    except (ValueError, TypeError) as err:
        raise TableInputError(f"{path}: a value does not fit the {name} column types ({err})") from None


@dataclass(frozen=True)
class TableInputs(Files):
    """Rule ``tables``' inputs: every cell's metrics.json, force-fit JSON and judge JSON."""

    metrics: list[Path]
    forcefit: list[Path]
    judge: list[Path]


def build_tables(inputs: TableInputs, settings: TableSettings) -> dict[str, pd.DataFrame]:
    """The three tidy tables from every cell's metrics.json, force-fit JSON and judge JSON. Table 5 leaves out the
    cells of systems without a law (outcome ``no_law``: nothing was judged), as Table 1 does (no force fit)."""
    outcomes = read_cells(inputs.judge, outcomes_of, EXPECTED["judge"])
    return {
        "table5_success": table5_frame({c: o for c, o in outcomes.items() if o["physical"] != NO_LAW}, settings),
        "table1_r2": table1_frame(
            {
                cell: r2
                for cell, r2 in read_cells(inputs.forcefit, r2_of, EXPECTED["forcefit"]).items()
                if r2 is not None
            },
            settings,
        ),
        "table3_loss": table3_frame(read_cells(inputs.metrics, recorded_test_loss, EXPECTED["metrics"]), settings),
    }


def make_tables(inputs: TableInputs, outputs: Mapping[str, str | Path], settings: TableSettings) -> None:
    """Rule ``tables``: each table as CSV, Markdown and HTML at ``outputs[f"{table}_{csv|md|html}"]``, Table 5 as
    one picture at ``outputs["table5_grid_{png|svg}"]`` and, in a run with systems without a law, their selected
    equations at ``outputs["distilled_{csv|md|html}"]``."""
    frames = build_tables(inputs, settings)
    for name, frame in frames.items():
        files = TableFiles(*(Path(outputs[f"{name}_{ext}"]) for ext in ("csv", "md", "html")))
        write_table(frame, render_table(name, frame, settings), files)
    write_grid(frames["table5_success"], outputs["table5_grid_png"], outputs["table5_grid_svg"])
    distilled = distilled_outputs(outputs)
    if distilled is not None:
        judges = read_cells(inputs.judge, dict, EXPECTED["judge"])
        losses = read_cells(inputs.metrics, recorded_test_loss, EXPECTED["metrics"])
        write_distilled(distilled_frame(judges, losses), distilled)
