"""A run as the comparison reads it: each cell's small records and the SHA-256 of its large files.

"Did it reproduce?" needs, per cell, what the tables read (the judge's verdict, the force fit, the training
metrics, the search's result) and whether the large files are the same bytes (the model, the search's front, the
datasets). A run's ``results/`` folder holds all of that; a published run (docs/reference_run/records/) holds the
small records in the same layout and, instead of the large files, their hashes in ``manifest.json`` (written by
``publish_records``, rule ``records``). Either is read by ``read_run``; every file is checked as the stages check
it (its cell against its path, no NaN), and a folder that is neither is one error naming it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symdistill.core.bundles import Files
from symdistill.core.io import InputError, atomic_output, file_digest, read_json, write_json
from symdistill.core.names import Cell, check_cell_identity, parse_cell
from symdistill.core.vocabulary import judged_without_law

RECORDS = {  # per cell: the small records, at their DAG paths under results/
    "judge": "judge/{cell}.json",
    "forcefit": "forcefit/{cell}.json",
    "metrics": "models/{cell}/metrics.json",
    "search": "symbolic/{cell}/result.json",
}
LAW_RECORDS = ("forcefit",)  # the records that only a cell whose system has a law has
HASHED = {"model": "models/{cell}/model.pt", "front": "symbolic/{cell}/front.parquet"}  # per cell, by SHA-256
DATASET_FILES = ("train", "test")  # per dataset: data/{dataset}/{split}.parquet, by SHA-256
PROVENANCE = "report/provenance.json"  # the run's commit, resolved config and configfiles (rule report)
MANIFEST = "manifest.json"  # published records: the hashes of the files they leave out
MANIFEST_FORMAT = "symdistill.records/1"


class CompareError(InputError):
    """A folder to compare with is not a run's results or records; the message names it and what was expected."""


@dataclass(frozen=True)
class CellRecords:
    """One cell of a run: its records by kind (``RECORDS``) and the SHA-256 of its large files."""

    records: dict[str, Any]
    hashes: dict[str, str | None]  # HASHED's kinds; None where the run has neither the file nor its hash


@dataclass(frozen=True)
class RunRecords:
    root: Path
    cells: dict[Cell, CellRecords]
    datasets: dict[str, dict[str, str | None]]  # dataset → split → SHA-256
    provenance: dict[str, Any] = field(default_factory=dict)


def read_run(root: str | Path, only: Iterable[Cell] | None = None) -> RunRecords:
    """The cells of the run in ``root`` (a results folder or published records), each file checked; ``only``: these
    cells (this run's, not what other configs left in the folder)."""
    root = Path(root)
    if not root.is_dir():
        raise CompareError(f"{root}: no such folder (compare.with names another run's results/ or its records)")
    manifest = _manifest(root)
    found = [parse_cell("/".join(p.with_suffix("").parts[-3:])) for p in sorted(root.glob("judge/*/*/seed*.json"))]
    if not found:
        raise CompareError(
            f"{root}: not a symdistill run: no judge/{{dataset}}/{{model}}/seed{{seed}}.json in it (expected a run's "
            "results/ folder, or published records such as docs/reference_run/records)"
        )
    cells = {}
    for cell in found if only is None else only:
        cells[cell] = CellRecords(
            _cell_records(root, cell),
            {kind: _hash(root, pattern.format(cell=cell.path), manifest) for kind, pattern in HASHED.items()},
        )
    datasets = {
        c.dataset: {s: _hash(root, f"data/{c.dataset}/{s}.parquet", manifest) for s in DATASET_FILES} for c in cells
    }
    provenance = read_json(root / PROVENANCE) if (root / PROVENANCE).is_file() else {}
    return RunRecords(root, cells, datasets, provenance)


def _manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CompareError(f"{path}: not a records manifest (expected format {MANIFEST_FORMAT!r})")
    return manifest["sha256"]


def _cell_records(root: Path, cell: Cell) -> dict[str, Any]:
    """A cell's records by kind, its judge's read once; a cell of a system without a law has no force fit (None)."""
    records: dict[str, Any] = {"judge": _record(root, RECORDS["judge"].format(cell=cell.path))}
    without = judged_without_law(records["judge"])
    for kind, pattern in RECORDS.items():
        if kind not in records:
            records[kind] = None if kind in LAW_RECORDS and without else _record(root, pattern.format(cell=cell.path))
    return records


def _record(root: Path, relative: str) -> dict[str, Any]:
    path = root / relative
    if not path.is_file():
        raise CompareError(f"{path}: missing; a run's cell has all of {', '.join(RECORDS.values())}")
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("cell"), str):
        raise CompareError(f"{path}: not a per-cell record (a JSON object with its 'cell')")
    check_cell_identity(path, record["cell"])
    return record


def _hash(root: Path, relative: str, manifest: dict[str, str]) -> str | None:
    path = root / relative
    return file_digest(path) if path.is_file() else manifest.get(relative)


@dataclass(frozen=True)
class RunFiles(Files):
    """Rules compare's and records' inputs as their scripts read them: the run's provenance record, whose place is
    the run's results/ folder (the per-cell inputs only make the rule wait for every cell)."""

    provenance: Path

    @property
    def results(self) -> Path:
        """The run's results/ folder, from the path of its report/provenance.json (``PROVENANCE``)."""
        return self.provenance.parents[len(Path(PROVENANCE).parts) - 1]


def publish_records(results: str | Path, cells: Iterable[Cell | str], datasets: Iterable[str], out: str | Path) -> None:
    """Rule ``records``: the small records of ``cells`` and the run's provenance copied into ``out`` in the results
    layout, and ``manifest.json`` with the SHA-256 of the models, fronts and datasets they leave out."""
    results, out = Path(results), Path(out)
    cells = [parse_cell(c) if isinstance(c, str) else c for c in cells]
    lawless = {c for c in cells if judged_without_law(_record(results, RECORDS["judge"].format(cell=c.path)))}
    copied = [
        pattern.format(cell=c.path)
        for c in cells
        for kind, pattern in RECORDS.items()
        if kind not in LAW_RECORDS or c not in lawless
    ]
    hashed = [pattern.format(cell=c.path) for c in cells for pattern in HASHED.values()]
    hashed += [f"data/{d}/{s}.parquet" for d in datasets for s in DATASET_FILES]
    for relative in [*copied, *([PROVENANCE] if (results / PROVENANCE).is_file() else [])]:
        with atomic_output(out / relative) as tmp:
            shutil.copyfile(results / relative, tmp)
    manifest = {"format": MANIFEST_FORMAT, "sha256": {r: file_digest(results / r) for r in sorted(hashed)}}
    write_json(out / MANIFEST, manifest)


def write_provenance_record(path: str | Path, commit: str, config: dict[str, Any], configfiles: list[str]) -> None:
    """Rule ``provenance``: report/provenance.json, what ran (the report shows the same commit and config)."""
    write_json(path, {"commit": commit, "config": config, "configfiles": configfiles})
