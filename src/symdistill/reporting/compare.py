"""Did it reproduce? This run against another, cell by cell (rule ``compare``; docs/report.md, "Comparing runs").

Two questions, with two answers. On the same machine (same hardware model, driver and package versions) a rerun
must give the same bytes: every cell's model, front and datasets are compared by SHA-256. Across machines floating
point sums differ in their last bits and training drifts from there; what must agree is the verdict: each cell's
judge outcome per reading. Each cell is therefore one of: ``identical`` (the same bytes), ``same verdict`` (bytes
differ; which files is said), ``verdict differs``. Table 1's R² and Table 3's loss are given with their difference
and ratio, the selected equations side by side, and what explains a difference: the commit, package versions,
hardware, threads and every recorded setting that differs. Cells in one run only are listed, never dropped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symdistill.core.bundles import Files
from symdistill.core.io import atomic_output, write_json
from symdistill.core.names import Cell, parse_cell
from symdistill.core.rendering import html_page
from symdistill.core.vocabulary import READINGS
from symdistill.reporting.records import outcomes_of, r2_of, recorded_test_loss
from symdistill.reporting.runrecords import PROVENANCE, CompareError, RunRecords, read_run

SUMMARY_FORMAT = "symdistill.compare/1"
SETTINGS = {"search": "settings", "judge": "settings"}  # per-cell records that carry the settings they ran with
HARDWARE = ("device", "device_name", "threads", "torch", "cuda")  # metrics.json's


def compare_runs(ours: RunRecords, theirs: RunRecords) -> dict[str, Any]:
    """The comparison as JSON-ready data: per shared cell its class and numbers, the cells in one run only, the
    provenance that differs, and the one-line verdict."""
    shared = sorted(set(ours.cells) & set(theirs.cells))
    if not shared:
        raise CompareError(
            f"{theirs.root}: shares no cell with this run (ours: {_names(ours.cells)}; theirs: {_names(theirs.cells)})"
        )
    check_same_data_settings(ours, theirs, shared)
    cells = {c.path: compare_cell(ours, theirs, c) for c in shared}
    summary = {
        "format": SUMMARY_FORMAT,
        "with": str(theirs.root),
        "cells": cells,
        "only_ours": _names(set(ours.cells) - set(theirs.cells)),
        "only_theirs": _names(set(theirs.cells) - set(ours.cells)),
        "provenance": provenance_differences(ours, theirs, shared),
    }
    summary["verdict"] = verdict_line(summary)
    return summary


def _names(cells: Any) -> list[str]:
    return [c.path for c in sorted(cells)]


def check_same_data_settings(ours: RunRecords, theirs: RunRecords, shared: list[Cell]) -> None:
    """Runs of another preset are not a reproduction: their shared cells' searches must have run with the same
    budget (the preset's most telling setting), else one error names the file."""
    for cell in shared:
        a, b = (run.cells[cell].records["search"].get("settings", {}) for run in (ours, theirs))
        if a.get("budget") != b.get("budget") or a.get("samples") != b.get("samples"):
            raise CompareError(
                f"{theirs.root / 'symbolic' / cell.path / 'result.json'}: a run of another configuration (its search "
                f"budget {b.get('budget')} and samples {b.get('samples')}, ours {a.get('budget')} and "
                f"{a.get('samples')}): compare runs of one preset"
            )


def compare_cell(ours: RunRecords, theirs: RunRecords, cell: Cell) -> dict[str, Any]:
    mine, other = ours.cells[cell], theirs.cells[cell]
    outcome = {run: outcomes_of(c.records["judge"]) for run, c in (("ours", mine), ("theirs", other))}
    verdicts = {r: {run: outcome[run][r] for run in outcome} for r in READINGS}
    files = {kind: mine.hashes[kind] is not None and mine.hashes[kind] == other.hashes[kind] for kind in mine.hashes}
    data = ours.datasets[cell.dataset] == theirs.datasets[cell.dataset]
    same_verdict = all(v["ours"] == v["theirs"] for v in verdicts.values())
    differing = [k for k, same in files.items() if not same] + ([] if data else ["datasets"])
    kind = "verdict differs" if not same_verdict else "identical" if not differing else "same verdict"
    return {
        "class": kind,
        "outcome": verdicts,
        "bytes_differ": differing,
        "table1_r2": _paired(*(_r2(c) for c in (mine, other))),
        "table3_loss": _paired(*(recorded_test_loss(c.records["metrics"]) for c in (mine, other))),
        "equations": _equations(mine.records["search"], other.records["search"]),
    }


def _r2(cell: Any) -> float | None:
    """Table 1's force R² of a cell; None for an energy message, or a system without a law (no force fit)."""
    if cell.records["forcefit"] is None:
        return None
    fit = r2_of(cell.records["forcefit"])
    return None if fit is None else fit[0]


def _paired(a: float | None, b: float | None) -> dict[str, float | None]:
    if a is None or b is None:
        return {"ours": a, "theirs": b, "difference": None, "ratio": None}
    return {"ours": a, "theirs": b, "difference": a - b, "ratio": a / b if b else None}


def _equations(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each searched component's selected equation in both runs, and whether the text is the same."""
    chosen = [{c["component"]: c.get("selected", {}).get("sympy") for c in r["components"]} for r in (a, b)]
    return {
        k: {"ours": chosen[0].get(k), "theirs": chosen[1].get(k), "same_text": chosen[0].get(k) == chosen[1].get(k)}
        for k in sorted(set(chosen[0]) | set(chosen[1]))
    }


def provenance_differences(ours: RunRecords, theirs: RunRecords, shared: list[Cell]) -> dict[str, Any]:
    """Everything recorded on both sides that differs: commit and config (report/provenance.json), and the package
    versions, hardware and settings the cells' records carry, each difference once with the cells it holds for."""
    found: dict[str, Any] = {}
    unrecorded = [run.root / PROVENANCE for run in (ours, theirs) if not run.provenance]
    if unrecorded:
        found["not recorded"] = [str(p) for p in unrecorded]  # a run made before rule provenance: no commit, config
    else:
        for key in ("commit", "configfiles"):
            if ours.provenance.get(key) != theirs.provenance.get(key):
                found[key] = {"ours": ours.provenance.get(key), "theirs": theirs.provenance.get(key)}
        configs = ({k: v for k, v in run.provenance["config"].items() if k != "compare"} for run in (ours, theirs))
        for key, values in _differences(*configs).items():  # what is compared with is not what ran
            found[f"config: {key}"] = values
    for cell in shared:
        for section, (a, b) in _recorded(ours.cells[cell].records, theirs.cells[cell].records).items():
            for key, values in _differences(a, b).items():
                _add(found.setdefault(f"{section}: {key}", []), values, cell)
    return found


def _recorded(mine: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What a cell's records say it ran with, both sides: package versions, hardware, settings."""
    sections = {
        "package versions": tuple(r["search"].get("package_versions", {}) for r in (mine, other)),
        "hardware": tuple({k: r["metrics"].get(k) for k in HARDWARE} for r in (mine, other)),
    }
    for kind, key in SETTINGS.items():
        sections[f"{kind} settings"] = (mine[kind].get(key, {}), other[kind].get(key, {}))
    return sections


def _add(entries: list[dict[str, Any]], values: Mapping[str, Any], cell: Cell) -> None:
    """One difference (ours, theirs) with the cells it holds for: a new entry, or one more cell of an old one."""
    for entry in entries:
        if (entry["ours"], entry["theirs"]) == (values["ours"], values["theirs"]):
            entry["cells"].append(cell.path)
            return
    entries.append({**values, "cells": [cell.path]})


def _differences(a: Any, b: Any, where: str = "") -> dict[str, Any]:
    """Dotted keys whose values differ between two nested mappings (a key on one side only included)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(set(a) | set(b), key=str):
            out |= _differences(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
        return out
    return {} if a == b else {where or "(value)": {"ours": a, "theirs": b}}


def verdict_line(summary: Mapping[str, Any]) -> str:
    """E.g. "34 of 36 cells give the same verdict (30 identical to the byte); 2 differ: …; 1 in this run only"."""
    cells = summary["cells"]
    differ = [c for c, v in cells.items() if v["class"] == "verdict differs"]
    identical = sum(v["class"] == "identical" for v in cells.values())
    line = f"{len(cells) - len(differ)} of {len(cells)} cells give the same verdict ({identical} identical to the byte)"
    if differ:
        line += f"; {len(differ)} differ: {', '.join(differ)}"
    for key, where in (("only_ours", "this run"), ("only_theirs", "the other run")):
        if summary[key]:
            line += f"; {len(summary[key])} in {where} only"
    return line


@dataclass(frozen=True)
class ComparisonFiles(Files):
    """Rule ``compare``'s outputs."""

    summary: Path
    page: Path


def write_comparison(ours: str | Path, cells: list[str], theirs: str | Path | None, outputs: ComparisonFiles) -> str:
    """Rule ``compare``: this run's ``cells`` (under ``ours``) against the run in ``theirs`` → summary.json and
    index.html; returns the verdict line (the rule prints it)."""
    if not theirs:
        raise CompareError(
            "config compare.with is not set: name the other run's results/ folder or published records, e.g. "
            '--config "compare={with: docs/reference_run/records}"'
        )
    summary = compare_runs(read_run(ours, [parse_cell(c) for c in cells]), read_run(theirs))
    write_json(outputs.summary, summary)
    with atomic_output(outputs.page) as tmp:
        tmp.write_text(html_page("symdistill: run comparison", comparison_html(summary)))
    return summary["verdict"]


def comparison_html(summary: Mapping[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td class='stub'>{e(cell)}</td><td class='{_css(v['class'])}'>{e(v['class'])}</td>"
        + "".join(f"<td>{e(v['outcome'][r]['ours'])} / {e(v['outcome'][r]['theirs'])}</td>" for r in READINGS)
        + f"<td>{e(', '.join(v['bytes_differ']) or '—')}</td>"
        + "".join(f"<td>{_number(v[t]['ours'])} / {_number(v[t]['theirs'])}</td>" for t in ("table1_r2", "table3_loss"))
        + f"<td>{e('; '.join(f'{k}: ' + ('same' if q['same_text'] else 'differs') for k, q in v['equations'].items()))}"
        "</td></tr>"
        for cell, v in summary["cells"].items()
    )
    head = "".join(
        f"<th>{e(h)}</th>"
        for h in (
            "cell",
            "class",
            *(f"{r} (ours / theirs)" for r in READINGS),
            "bytes differ",
            "Table 1 R²",
            "Table 3 loss",
            "selected equation",
        )  # fmt: skip
    )
    only = "".join(
        f"<p>In {where} only: {e(', '.join(summary[key]))}</p>"
        for key, where in (("only_ours", "this run"), ("only_theirs", "the other run"))
        if summary[key]
    )
    return (
        f"<h1>This run against {e(summary['with'])}</h1><p><b>{e(summary['verdict'])}</b></p>"
        f"<table class='sd'><tr>{head}</tr>{rows}</table>{only}"
        f"<h2>What differs in what ran</h2><pre>{e(_provenance_text(summary['provenance']))}</pre>"
    )


def _css(kind: str) -> str:
    return {"identical": "agree", "same verdict": "", "verdict differs": "disagree"}[kind]


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _provenance_text(found: Mapping[str, Any]) -> str:
    return json.dumps(found, indent=2, sort_keys=True) if found else "nothing: same commit, config and packages"
