"""Rule ``report``: the reproducibility report, one HTML file that opens from disk and carries everything in itself.

Order: the summary first (agreement with the paper and with the Cambridge reproduction, the headline Table 5,
the run's scale), then Tables 1 and 3, a section per system with every cell's numbers and figures
(``cell_reports``), the generalisation table and the cosmology experiment's Table 6 with its figures, and last
the provenance: git commit, the resolved config, package versions, hardware, wall time and peak memory per rule,
and the symbolic regression's backend and budgets. Figures are embedded as base64 PNG, so the page is a single
file to keep or send.

The tables are read back from the tables rule's CSVs and rendered by the same code (``reporting.tables``), so
the report and results/tables/ cannot disagree. Nothing here imports PyTorch or JAX: the rule stays light.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml

from symdistill.core.io import PROVENANCE_PACKAGES, atomic_output, package_versions, read_json
from symdistill.core.names import parse_dataset
from symdistill.core.rendering import TABLE_CSS
from symdistill.core.vocabulary import HALO_FIGURES, TABLES
from symdistill.cosmology.table6 import html_body, read_evaluations, table6_frame, table6_notes
from symdistill.nbody.data import read_metadata
from symdistill.reporting.agreement import agreements
from symdistill.reporting.cell_reports import CellReport, cell_reports, data_uri
from symdistill.reporting.generalisation_table import read_generalisation_table, render_generalisation
from symdistill.reporting.records import TableInputError
from symdistill.reporting.references import row_name
from symdistill.reporting.tables import N_NOTE, TableSettings, read_table, render_table

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


def variant_notes(models: Iterable[str], variants: Mapping[str, Any], paper_models: Mapping[str, str]) -> list[str]:
    """A sentence for each variant of the run that is not in the paper: where it comes from and what it does."""
    notes = []
    for name in sorted(set(models) - set(paper_models)):
        pruning = variants.get(name, {}).get("pruning")
        if pruning is None:
            notes.append(f"{name} (not in the paper): a variant of this run's config (models.{name}).")
            continue
        keep = "dim" if pruning["keep"] == "dim" else f"{pruning['keep']:,}"
        notes.append(
            f"{name} (not in the paper): Tan et al.'s pruned model (github.com/elizabethsztan/"
            f"symbolic_distillation_GNNs): φe starts with {variants[name]['msg_dim']:,} message components; at the "
            "start of each epoch those of lowest std over held-out graphs are masked, on a cosine schedule that "
            f"leaves {keep} after {pruning['end_fraction']:.0%} of the epochs, and the network then trains as a "
            f"bottleneck of {keep} components (docs/training.md)."
        )
    return notes


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


def systems(reports: list[CellReport], law: bool = True) -> list[dict[str, Any]]:
    """One section per dataset (sorted by name), titled with the paper's row name and n: of the systems with a
    law, or (``law`` False) of those given as data without one, which the report shows apart."""
    by_dataset: dict[str, list[CellReport]] = defaultdict(list)
    for r in reports:
        if r.has_law == law:
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
        loader=jinja2.PackageLoader("symdistill.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
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
        "variant_notes": variant_notes(
            {r.cell.model for r in reports}, resolved_config.get("models", {}), settings.paper_models
        ),
        "symbolic_settings": symbolic_settings(reports),
        "cells": reports,
        "systems": systems(reports),
        "data_systems": systems(reports, law=False),
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


def report_section(evaluations: list[str], figures: list[str]) -> str | None:
    """The report's cosmology section: the tables, the judge's verdict and every split's figures, embedded; None
    for a run without the cosmology experiment."""
    if not evaluations:
        return None
    found, catalogue = read_evaluations(evaluations)
    parts = [html_body(table6_frame(found), table6_notes(found), catalogue)]
    for path in figures:
        figure = HALO_FIGURES[Path(path).stem]
        split = Path(path).parent.name
        parts.append(
            f'<figure><img src="{data_uri(path)}" alt="{html.escape(figure.label)}, {split}">'
            f"<figcaption>{html.escape(split)}: {html.escape(figure.caption)}</figcaption></figure>"
        )
    return "".join(parts)
