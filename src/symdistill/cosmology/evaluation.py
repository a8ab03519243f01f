"""Rule ``halos_evaluate``: on one split, Table 6's formulas (``formulas``), the network and the distilled model
(``distillation.compose``) scored by mean |δ − δ̂|, and the planted law's judge (``judge``) where the catalogue
has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symdistill.core.bundles import Files
from symdistill.core.io import atomic_output, read_json, write_json
from symdistill.core.specs import Spec
from symdistill.cosmology.catalogue import EDGE_INPUTS, HaloUnits, read_written_catalogue
from symdistill.cosmology.distillation import compose
from symdistill.cosmology.formulas import GraphInputs, RefitSpec, score, score_formulas
from symdistill.cosmology.graph import HaloGraph
from symdistill.cosmology.judge import HaloJudgeSpec, judge_planted, planted_law
from symdistill.cosmology.messages import MESSAGES_FORMAT, NODE_TARGET, NODES_FORMAT, node_inputs, read_table
from symdistill.engine.search_files import read_front, read_result


@dataclass(frozen=True)
class HaloEvaluationSpec(Spec):
    """The ``halos_evaluate`` rule's params."""

    judge: HaloJudgeSpec
    refit: RefitSpec
    radius: float
    units: HaloUnits

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str | None = None) -> HaloEvaluationSpec:
        where = where or "halos_evaluate params"
        return cls(
            HaloJudgeSpec.from_params(params["judge"], f"{where}: judge"),
            RefitSpec.from_params(params["refit"], f"{where}: refit"),
            params["radius"],
            HaloUnits.from_params(params["units"], f"{where}: units"),
        )


@dataclass(frozen=True)
class HaloCellFiles(Files):
    """What ``halos_evaluate`` reads of one catalogue and split."""

    catalogue: Path
    metrics: Path
    messages: Path
    nodes: Path
    front: Path
    result: Path
    # the ood split's: the random split's searches, whose model the paper refits on δ ≤ cut (its OOD test)
    reference_front: Path | None = None
    reference_result: Path | None = None


@dataclass(frozen=True)
class HaloEvaluationOutputs(Files):
    """What ``halos_evaluate`` writes of one split: the scores (evaluation.json) and every halo's δ̂."""

    evaluation: Path
    predictions: Path


def read_search(result_path: Path, front_path: Path, summed: Mapping[str, str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """A halos_symbolic result and front, checked (``engine.search_files``): φe's components (the values of
    ``summed``) read in the edge inputs, φv's (``gn``) in the summed components and the halo's own."""
    inputs = {"edge": list(EDGE_INPUTS), "node": node_inputs({"summed": summed})}
    names = {**{c: inputs["edge"] for c in summed.values()}, NODE_TARGET: inputs["node"]}
    result = read_result(result_path, inputs, names, rerun="halos_symbolic")
    return result, read_front(front_path, names, result, rerun="halos_symbolic")


def evaluate_halos(cell: str, files: HaloCellFiles, outputs: HaloEvaluationOutputs, spec: HaloEvaluationSpec) -> None:
    """Rule ``halos_evaluate``: Table 6's formulas, the GN and the distilled model on one split → evaluation.json,
    with the planted law's judge where the catalogue has one; every halo's δ̂ of each → predictions.parquet.

    Given the random split's searches (the ood split), also ``symbolic_transferred``: the model distilled there,
    its constants refitted on this split's training halos. That is the paper's out-of-distribution symbolic model
    ("the same form as found on the full data", refitted on the δ ≤ 1 chunk), beside this split's own distillation.
    """
    frame, meta = read_written_catalogue(files.catalogue)
    edges, _ = read_table(files.messages, MESSAGES_FORMAT, cell)
    nodes, node_meta = read_table(files.nodes, NODES_FORMAT, cell)
    metrics = read_json(files.metrics)
    result, front = read_search(files.result, files.front, node_meta["summed"])
    for path, record in ((files.metrics, metrics), (files.result, result)):
        if record.get("cell") != cell:
            raise ValueError(f"{path}: holds {record.get('cell')}, but its path is {cell}: rebuild it")
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), meta["box"], spec.radius)
    g = GraphInputs.of(frame, graph, spec.units)
    delta = frame["delta"].to_numpy(np.float64)
    train = nodes["train"].to_numpy()
    summed = node_meta["summed"]
    record: dict[str, Any] = {
        "cell": cell,
        "halos": {"train": int(train.sum()), "test": int((~train).sum())},
        "edges": len(graph.senders),
        "search_status": result["status"],
        "gn": {"train": metrics["train_mae"], "test": metrics["test_mae"]},
    }
    record["formulas"], refitted = score_formulas(g, delta, train, spec.refit)
    predictions = nodes[["halo", "train", "delta", NODE_TARGET]].copy()
    predictions["with_mass"] = refitted["with_mass"]
    models = {"symbolic": (front, summed)}
    if files.reference_front is not None:
        models["symbolic_transferred"] = transferred_search(files, cell)
    for name, (searched, sums) in models.items():
        try:
            record[name], predictions[name] = compose(searched, sums, g, delta, train, spec.refit)
        except ValueError as err:  # a search left no front: the table shows the reason instead of a number
            record[name], predictions[name] = {"error": str(err)}, np.nan
    record["planted"] = planted_record(meta, frame, graph, front, edges, nodes, summed, delta, train, spec)
    write_json(outputs.evaluation, record)
    with atomic_output(outputs.predictions) as tmp:
        predictions.to_parquet(tmp, index=False)


def transferred_search(files: HaloCellFiles, cell: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The random split's front and summed components, read for the ood split (checked to be the random split's)."""
    reference = read_json(files.reference_result)
    expected = f"{cell.rsplit('/', 1)[0]}/random"
    if reference.get("cell") != expected or not isinstance(reference.get("summed"), dict):
        raise ValueError(
            f"{files.reference_result}: holds {reference.get('cell')}, expected the searches of {expected}: "
            "rebuild it with `-R halos_symbolic`"
        )
    _, reference_front = read_search(files.reference_result, files.reference_front, reference["summed"])
    return reference_front, reference["summed"]


def planted_record(
    meta: Mapping[str, Any],
    frame: pd.DataFrame,
    graph: HaloGraph,
    front: pd.DataFrame,
    edges: pd.DataFrame,
    nodes: pd.DataFrame,
    summed: dict[str, str],
    delta: np.ndarray,
    train: np.ndarray,
    spec: HaloEvaluationSpec,
) -> dict[str, Any] | None:
    """The planted law's judge and the law's own score (the noise floor); None for a catalogue without one."""
    law = planted_law(meta)
    if law is None:
        return None
    return {
        **judge_planted(law, spec.units, front, edges, nodes, summed, spec.radius, spec.judge),
        "law": score(
            law.evaluate(frame["M"].to_numpy(), graph.senders, graph.receivers, graph.distances), delta, train
        ),
    }
