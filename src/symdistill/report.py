"""The reproducibility report: one HTML file that opens from disk and carries everything in itself.

Order: the summary first (agreement with the paper and with the Cambridge reproduction, the headline Table 5,
the run's scale), then Tables 1 and 3, a section per system with every cell's numbers and figures, and last
the provenance: git commit, the resolved config, package versions, hardware, wall time and peak memory per rule,
and the symbolic regression's backend and budgets. Figures are embedded as base64 PNG, so the page is a single
file to keep or send.

The tables are read back from the tables rule's CSVs and rendered by the same code (``symdistill.tables``), so
the report and results/tables/ cannot disagree. Nothing here imports PyTorch or JAX: the rule stays light.
"""

from __future__ import annotations

import base64
import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import sympy
import yaml

from symdistill.config import Cell, parse_cell, parse_dataset, recorded_message_kind
from symdistill.data import read_metadata
from symdistill.fronts import result_problem
from symdistill.halo_report import report_section
from symdistill.io import PROVENANCE_PACKAGES, atomic_output, package_versions, read_json
from symdistill.laws import fitted_law, round_constants
from symdistill.records import TableInputError, read_cells
from symdistill.references import row_name
from symdistill.rendering import TABLE_CSS
from symdistill.symbolic import input_names, to_sympy
from symdistill.tables import (
    N_NOTE,
    TableSettings,
    agreements,
    read_generalisation_table,
    read_table,
    render_generalisation,
    render_table,
)
from symdistill.vocabulary import FIGURES, NO_RESULT, RECOVERED, SYMBOLS, TABLES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYS = {  # what the report reads from each stage's per-cell JSON
    "metrics": ("test_loss", "device", "device_name", "threads", "epochs", "graphs_seen"),
    "forcefit": ("force", "acceleration"),
    "judge": ("outcome", "symbolic_status"),
    "symbolic": ("status", "backend", "run", "components", "inputs", "package_versions", "settings"),
}


LEARNED_R2 = 0.95  # law R² at or above: the network put the law into the message, so a failure is the search's
DIGITS = 3  # significant digits of the constants shown
SIMPLIFY_OPS = 40  # larger expressions are shown rounded but not simplified (SymPy's simplify grows fast)


@dataclass(frozen=True)
class Equation:
    """One front member as a reader sees it: rounded and simplified, as MathML, the backend's string beside it,
    and where the judge matched it to the law, that law in the paper's notation with the judge's fitted scale."""

    component: str
    mathml: str
    raw: str
    note: str = ""  # e.g. "selected", "passes the judge", "timeout"
    law: str = ""  # MathML of "≈ w · F + c" (symdistill.laws.fitted_law), or "" where the judge found no match


def readable(text: str, names: list[str]) -> sympy.Expr:
    """``text`` with every constant rounded to DIGITS significant digits, then simplified where that is cheap."""
    expr = round_constants(to_sympy(text, names), DIGITS)
    if sympy.count_ops(expr) <= SIMPLIFY_OPS:
        simpler = sympy.simplify(expr)
        if sympy.count_ops(simpler) < sympy.count_ops(expr):
            expr = simpler
    return expr


def mathml(expr: sympy.Expr) -> str:
    """MathML Core, which Chromium, Firefox and Safari render without scripts: the report stays one file.

    SymPy's MathML printer writes a symbol's name as it is, unescaped; every symbol here is an input the whitelist
    read, but a name is escaped all the same, so that no text reaches the page as markup."""
    unsafe = {s: sympy.Symbol(html.escape(s.name)) for s in expr.free_symbols if s.name != html.escape(s.name)}
    return f'<math display="inline">{sympy.mathml(expr.xreplace(unsafe), printer="presentation")}</math>'


def equation(component: str, text: str, names: list[str], note: str, law: sympy.Expr | None) -> Equation:
    return Equation(component, mathml(readable(text, names)), text, note, "" if law is None else mathml(law))


def matched_law(sim: str, member: dict[str, Any], bases: Iterable[str]) -> sympy.Expr | None:
    """The law a judge-passing member matched, in the first of ``bases`` (the reading's) it was fitted in."""
    fits = member["law_fit"]
    basis = next((b for b in bases if b in fits), None)
    if basis is None:
        return None
    return fitted_law(sim, fits[basis]["weights"], fits[basis]["offset"], basis, DIGITS)


@dataclass(frozen=True)
class CellReport:
    """Everything the report shows about one cell."""

    cell: Cell
    metrics: dict[str, Any]
    forcefit: dict[str, Any]
    judge: dict[str, Any]
    symbolic: dict[str, Any]
    figures: list[tuple[str, str]]  # (caption, data URI) in the figures rule's order

    @property
    def equations(self) -> list[Equation]:
        """Each component's selected equation, then every other front member the judge accepted (physical reading)."""
        names, sim = self.symbolic["inputs"], parse_dataset(self.cell.dataset).sim
        bases = self.judge.get("readings", {}).get("physical", ())
        judged = {(c["component"], m["sympy"]): m for c in self.judge.get("components", ()) for m in c["members"]}
        shown = []
        for c in self.symbolic["components"]:
            if "selected" in c:
                member = judged.get((c["component"], c["selected"]["sympy"]))
                law = None if member is None else matched_law(sim, member, bases)
                note = "selected" + (f", {c['status']}" if c["status"] != "ok" else "")
                shown.append(equation(c["component"], c["selected"]["sympy"], names, note, law))
        for (component, text), m in judged.items():
            if not m["selected"] and any(m["passes"][b] for b in bases):
                shown.append(equation(component, text, names, "passes the judge", matched_law(sim, m, bases)))
        return shown

    @property
    def failures(self) -> list[str]:
        """Components without a selected equation, with the search's status."""
        return [f"{c['component']}: {c['status']}" for c in self.symbolic["components"] if "selected" not in c]

    @property
    def reason(self) -> str:
        """Why the law was not recovered, in one line ("" where it was): the network's failure or the search's."""
        physical = self.judge["outcome"]["physical"]
        if physical in RECOVERED:
            return ""
        if physical == NO_RESULT:
            return f"the symbolic search failed ({self.judge['symbolic_status']}): {self.judge.get('reason', '')}"
        law = self.judge["law_r2"]["physical"]
        if law < LEARNED_R2:
            return f"the network did not learn the law (law R² {law:.2f})"
        missed = (
            "a front member has the law's form but does not fit the message"
            if physical == "partial"
            else "no front member passes"
        )
        return f"the network learned it, the search missed it (law R² {law:.2f}, {missed})"

    @property
    def search(self) -> str:
        """Status, the work each component's search did, and its wall time (the one thing a rerun changes)."""
        work = ", ".join(
            f"{c['generations']} generations" if c.get("generations") is not None else "generations unknown"
            for c in self.symbolic["components"]
        )
        return f"{self.symbolic['status']}, {work}, {self.symbolic['run']['wall_seconds']:.0f} s"

    @property
    def outcome(self) -> str:
        physical, scaled = (self.judge["outcome"][r] for r in ("physical", "receiver_scaled"))
        text = f"{SYMBOLS[physical]} {physical}"
        return text if scaled == physical else f"{text} (receiver-scaled: {SYMBOLS[scaled]} {scaled})"


def keys_of(kind: str, record: dict[str, Any]) -> tuple[str, ...]:
    """The keys the report reads; an energy message's force fit has the potential instead of F and F/m₁."""
    if kind == "forcefit" and recorded_message_kind(record) == "energy":
        return ("potential",)
    if kind == "judge":  # a judged front has its members and the law's R²; a failed search its reason
        return KEYS[kind] + (
            ("reason",) if record["outcome"]["physical"] == NO_RESULT else ("components", "readings", "law_r2")
        )
    return KEYS[kind]


MEMBER_KEYS = ("sympy", "selected", "passes", "law_fit")  # what the report reads of each judged front member


def picked(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The keys the report reads of one record; a judge's front members are checked too (KeyError names one)."""
    picked = {k: record[k] for k in keys_of(kind, record)}
    names = input_names(parse_dataset(parse_cell(record["cell"]).dataset).dim)
    if kind == "symbolic" and (problem := result_problem(record, names, min_components=0)):
        raise ValueError(problem)
    for component in picked.get("components", ()) if kind == "judge" else ():
        for member in component["members"]:
            missing = [k for k in MEMBER_KEYS if k not in member]
            if missing:
                raise KeyError(f"{component['component']} front member lacks {', '.join(missing)}")
            to_sympy(member["sympy"], names)  # the whitelist's error names the token; read_cells names the file
    return picked


def read_records(paths: Iterable[str | Path], kind: str) -> dict[Cell, dict[str, Any]]:
    """Per-cell JSON files of one stage, checked for the keys the report reads."""
    expected = f"a {kind} JSON with 'cell', " + ", ".join(f"'{k}'" for k in KEYS[kind])
    if kind == "judge":
        expected += " and front members with " + ", ".join(f"'{k}'" for k in MEMBER_KEYS)
    return read_cells(paths, lambda record: picked(kind, record), expected)


def data_uri(path: str | Path) -> str:
    data = Path(path).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise TableInputError(f"{path}: expected a PNG figure")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_cell(path: str | Path) -> tuple[Cell, str]:
    """The cell and figure name of results/figures/{dataset}/{model}/seed{seed}/{name}.png."""
    path = Path(path)
    if path.stem not in FIGURES or len(path.parts) < 4:
        raise TableInputError(
            f"{path}: expected results/figures/{{dataset}}/{{model}}/seed{{seed}}/{{name}}.png "
            f"with name one of {', '.join(FIGURES)}"
        )
    return parse_cell("/".join(path.parts[-4:-1])), path.stem


def cell_reports(inputs: Mapping[str, Any]) -> list[CellReport]:
    """One CellReport per cell of the run, from the per-cell inputs; a cell missing from any stage is an error."""
    records = {kind: read_records(inputs[kind], kind) for kind in KEYS}
    figures: dict[Cell, list[tuple[str, str]]] = defaultdict(list)
    for path in inputs["figures"]:
        cell, name = figure_cell(path)
        figures[cell].append((FIGURES[name].caption, data_uri(path)))
    everyone = set().union(*records.values(), figures)
    for kind, found in [*records.items(), ("figures", figures)]:
        missing = sorted(c.path for c in everyone - set(found))
        if missing:
            raise TableInputError(f"the report's {kind} inputs lack the cells {', '.join(missing)}")
    return [CellReport(c, *(records[kind][c] for kind in KEYS), figures[c]) for c in sorted(everyone)]


# ---------------------------------------------------------------- provenance


def read_benchmarks(root: str | Path, keys: set[str]) -> tuple[pd.DataFrame, int]:
    """This run's Snakemake benchmark TSVs ({rule}/{dataset or cell}.tsv, or {rule}.tsv for the aggregating
    rules, under ``root``) and how many others.

    Others are left over from runs with another config in the same directory; they are counted, not shown.
    The report's own TSV is not read: it describes an earlier rendering, this one is still running.
    """
    root = Path(root)
    rows, others = [], 0
    for path in sorted(root.glob("**/*.tsv")):
        rule, *key = path.relative_to(root).with_suffix("").parts
        if not key and rule == "report":
            continue
        if key and "/".join(key) not in keys:
            others += 1
            continue
        try:
            frame = pd.read_csv(path, sep="\t")
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise TableInputError(f"{path}: not a readable benchmark TSV ({err})") from None
        if not {"s", "max_rss"} <= set(frame.columns):
            raise TableInputError(
                f"{path}: expected Snakemake benchmark columns s and max_rss, found {list(frame.columns)}"
            )
        for s, rss in zip(
            pd.to_numeric(frame["s"], errors="coerce"), pd.to_numeric(frame["max_rss"], errors="coerce"), strict=True
        ):
            rows.append({"rule": rule, "job": "/".join(key) or rule, "seconds": s, "max_rss_mb": rss})
    return pd.DataFrame(rows, columns=["rule", "job", "seconds", "max_rss_mb"]), others


def benchmark_summary(jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per rule: jobs, total and longest wall time, peak resident memory."""
    summary = jobs.groupby("rule", sort=True).agg(
        jobs=("job", "size"), total_s=("seconds", "sum"), max_s=("seconds", "max"), peak_mb=("max_rss_mb", "max")
    )
    return [{"rule": rule, **row} for rule, row in summary.to_dict("index").items()]


def hardware(reports: list[CellReport]) -> list[dict[str, Any]]:
    """Training hardware as metrics.json records it, with how many cells ran on each."""
    seen = Counter((r.metrics["device"], r.metrics["device_name"], r.metrics["threads"]) for r in reports)
    return [{"device": d, "name": n, "threads": t, "cells": k} for (d, n, t), k in sorted(seen.items())]


def versions(reports: list[CellReport]) -> list[dict[str, str]]:
    """Packages of the report's own environment and those each symbolic job recorded (all versions seen)."""
    recorded: dict[str, set[str]] = defaultdict(set)
    for r in reports:
        for name, version in r.symbolic["package_versions"].items():
            recorded[name].add(version)
    here = package_versions((*PROVENANCE_PACKAGES, "matplotlib", "jinja2", "snakemake"))
    return [
        {"package": name, "report": here.get(name, ""), "symbolic": ", ".join(sorted(recorded.get(name, ())))}
        for name in sorted(set(here) | set(recorded))
    ]


def recorded(values: Iterable[Any]) -> str:
    """Every distinct value a setting took across the run's files, in order of first appearance: one value when
    every cell agrees, and a cell that ran with other settings shows up instead of hiding behind the config."""
    return " / ".join(dict.fromkeys(f"{v:,}" if isinstance(v, int) else str(v) for v in values))


def run_summary(reports: list[CellReport], datasets: list[dict[str, Any]]) -> dict[str, str]:
    """The run's scale as its outputs record it: cells from the per-cell files, simulation settings from each
    training set's provenance, epochs and graphs from metrics.json, the search's settings from result.json."""
    parsed = [parse_dataset(r.cell.dataset) for r in reports]
    settings = [r.symbolic["settings"] for r in reports]
    return {
        "sims": recorded(sorted({d.sim for d in parsed})),
        "dims": recorded(sorted({d.dim for d in parsed})),
        "n_bodies": recorded(sorted({d.n for d in parsed})),
        "models": recorded(sorted({r.cell.model for r in reports})),
        "seeds": recorded(sorted({r.cell.seed for r in reports})),
        "epochs": recorded(r.metrics["epochs"] for r in reports),
        "graphs": recorded(r.metrics["graphs_seen"] for r in reports),
        "train_sims": recorded(d["n_sims"] for d in datasets),
        "nt": recorded(d["nt"] for d in datasets),
        "keep_every": recorded(d["keep_every"] for d in datasets),
        "backend": recorded(s["backend"] for s in settings),
        "generations": recorded(s["budget"]["generations"] for s in settings),
        "time_limit": recorded(s["budget"]["time_limit"] for s in settings),
    }


def symbolic_settings(reports: list[CellReport]) -> dict[str, str]:
    """Each search setting with every value the cells' result.json recorded (the per-component count varies)."""
    keys = dict.fromkeys(k for r in reports for k in r.symbolic["settings"])
    return {k: recorded(str(r.symbolic["settings"].get(k, "—")) for r in reports) for k in keys}


def symbolic_summary(reports: list[CellReport]) -> dict[str, Any]:
    seconds = [r.symbolic["run"]["wall_seconds"] for r in reports]
    return {
        "backends": sorted({r.symbolic["backend"] for r in reports}),
        "status": dict(Counter(r.symbolic["status"] for r in reports)),
        "total_s": sum(seconds),
        "max_s": max(seconds, default=0.0),
    }


# ---------------------------------------------------------------- the page


def systems(reports: list[CellReport]) -> list[dict[str, Any]]:
    """One section per dataset (sorted by name), titled with the paper's row name and n."""
    by_dataset: dict[str, list[CellReport]] = defaultdict(list)
    for r in reports:
        by_dataset[r.cell.dataset].append(r)
    sections = []
    for name, members in by_dataset.items():
        d = parse_dataset(name)
        sections.append(
            {
                "id": name,
                "title": f"{row_name(d.sim, d.dim)} · n = {d.n}",
                "dataset": name,
                "cells": members,
            }
        )
    return sections


def generalisation_html(path: str | Path | None) -> str | None:
    """The generalisation table (results/tables/generalisation.csv) as HTML; None for a run without it."""
    return None if path is None else render_generalisation(read_generalisation_table(path)).html()


def render_page(context: dict[str, Any]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("symdistill", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("report.html.j2").render(**context)


def comparison_of(paths: Any) -> dict[str, str] | None:
    """The run comparison's target and verdict line (rule compare), where config compare.with names one."""
    if not paths:
        return None
    summary = read_json(paths if isinstance(paths, str | Path) else list(paths)[0])
    return {"with": str(summary["with"]), "verdict": str(summary["verdict"])}


def build_report(
    inputs: Mapping[str, Any],
    output: str | Path,
    settings: TableSettings,
    resolved_config: dict[str, Any],
    commit: str,
    benchmarks: str | Path,
    configfiles: list[str],
) -> None:
    """Rule ``report``: results/report/index.html.

    Everything the page says about the run is read from the run's outputs: ``inputs`` holds the tables' CSVs by
    table name, Table 5's picture (``grid``, PNG) and the lists metrics, forcefit, judge, symbolic (per cell), figures
    (results/figures/{cell}/{name}.png) and datasets (each training set, for its provenance). The config is only
    shown, as provenance: ``resolved_config`` as Snakemake resolved it from ``configfiles``.
    """
    frames = {name: read_table(inputs[name], name) for name in TABLES}
    datasets = [read_metadata(path) for path in inputs["datasets"]]  # first: it registers each dataset's law
    reports = cell_reports(inputs)
    keys = {r.cell.dataset for r in reports} | {r.cell.path for r in reports}
    jobs, others = read_benchmarks(benchmarks, keys)
    context = {
        "css": TABLE_CSS,
        "grid": data_uri(inputs["grid"]),
        "tables": {name: render_table(name, frame, settings).html() for name, frame in frames.items()},
        "agreements": agreements(frames["table5_success"]),
        "rule": settings.rule,
        "n_note": N_NOTE,
        "run": run_summary(reports, datasets),
        "symbolic_settings": symbolic_settings(reports),
        "cells": reports,
        "systems": systems(reports),
        "commit": commit,
        "configfiles": configfiles,
        "config_yaml": yaml.safe_dump(resolved_config, sort_keys=False, allow_unicode=True),
        "versions": versions(reports),
        "hardware": hardware(reports),
        "benchmarks": benchmark_summary(jobs),
        "benchmark_jobs": jobs.to_dict("records"),
        "other_benchmarks": others,
        "symbolic": symbolic_summary(reports),
        "generalisation": generalisation_html(inputs.get("generalisation")),
        "cosmology": report_section(list(inputs.get("cosmology", [])), list(inputs.get("cosmology_figures", []))),
        "comparison": comparison_of(inputs.get("comparison")),
    }
    with atomic_output(output) as tmp:
        tmp.write_text(render_page(context), encoding="utf-8")
