"""What the report shows about each cell, read from the cell's files (training metrics, force fit, judge,
search result, figures), each checked for the keys the report reads: its numbers, its equations as MathML
(rounded, simplified, the law the judge matched beside them), and why a law was not recovered.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy

from symdistill.core.expressions import to_sympy
from symdistill.core.names import Cell, parse_cell, parse_dataset, recorded_message_kind
from symdistill.core.vocabulary import FIGURES, NO_LAW, NO_RESULT, RECOVERED, SYMBOLS, judged_without_law
from symdistill.engine.search_files import result_problem
from symdistill.nbody.laws import fitted_law, round_constants
from symdistill.nbody.symbolic import input_names
from symdistill.reporting.records import TableInputError, read_cells

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
    law: str = ""  # MathML of "≈ w · F + c" (symdistill.nbody.laws.fitted_law), or "" where the judge found no match


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
    forcefit: dict[str, Any] | None  # None: the system has no law (given as data without law:), so no force fit
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
                law = None if member is None or not self.has_law else matched_law(sim, member, bases)
                note = "selected" + (f", {c['status']}" if c["status"] != "ok" else "")
                note += "" if self.has_law else fit_note(member)
                shown.append(equation(c["component"], c["selected"]["sympy"], names, note, law))
        for (component, text), m in judged.items() if self.has_law else ():
            if not m["selected"] and any(m["passes"][b] for b in bases):
                shown.append(equation(component, text, names, "passes the judge", matched_law(sim, m, bases)))
        return shown

    @property
    def has_law(self) -> bool:
        """Whether the cell's system has a law to judge against (not ``no_law``: given as data without law:)."""
        return not judged_without_law(self.judge)

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
        if physical == NO_RESULT or "reason" in self.judge:  # no front (without a law: no_law and a reason)
            return f"the symbolic search failed ({self.judge['symbolic_status']}): {self.judge.get('reason', '')}"
        if physical == NO_LAW:
            return ""
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
        physical = record["outcome"]["physical"]
        if physical == NO_LAW:  # members with their fit to the message, nothing judged (none if the search failed)
            return KEYS[kind] + ("components",) + (("reason",) if "reason" in record else ())
        return KEYS[kind] + (("reason",) if physical == NO_RESULT else ("components", "readings", "law_r2"))
    return KEYS[kind]


MEMBER_KEYS = ("sympy", "selected", "passes", "law_fit")  # what the report reads of each judged front member
UNJUDGED_MEMBER_KEYS = ("sympy", "selected", "heldout_fit_r2")  # of each member of a system without a law


def fit_note(member: dict[str, Any] | None) -> str:
    """For a system without a law, the selected member's fit to the message on held-out edges ("" otherwise)."""
    if member is None:
        return ""
    return ", held-out fit R² " + ("n/a" if member["heldout_fit_r2"] is None else f"{member['heldout_fit_r2']:.4f}")


def picked(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The keys the report reads of one record; a judge's front members are checked too (KeyError names one)."""
    picked = {k: record[k] for k in keys_of(kind, record)}
    names = input_names(parse_dataset(parse_cell(record["cell"]).dataset).dim)
    if kind == "symbolic" and (problem := result_problem(record, names, min_components=0)):
        raise ValueError(problem)
    keys = UNJUDGED_MEMBER_KEYS if kind == "judge" and judged_without_law(record) else MEMBER_KEYS
    for component in picked.get("components", ()) if kind == "judge" else ():
        for member in component["members"]:
            missing = [k for k in keys if k not in member]
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
    """One CellReport per cell of the run, from the per-cell inputs; a cell missing from any stage is an error
    (from the force fits, only a cell of a system without a law may be missing: it has none)."""
    records = {kind: read_records(inputs[kind], kind) for kind in KEYS}
    figures: dict[Cell, list[tuple[str, str]]] = defaultdict(list)
    for path in inputs["figures"]:
        cell, name = figure_cell(path)
        figures[cell].append((FIGURES[name].caption, data_uri(path)))
    everyone = set().union(*records.values(), figures)
    lawless = {c for c, judge in records["judge"].items() if judged_without_law(judge)}
    for kind, found in [*records.items(), ("figures", figures)]:
        missing = sorted(c.path for c in everyone - set(found) - (lawless if kind == "forcefit" else set()))
        if missing:
            raise TableInputError(f"the report's {kind} inputs lack the cells {', '.join(missing)}")
    return [CellReport(c, *(records[kind].get(c) for kind in KEYS), figures[c]) for c in sorted(everyone)]
