"""The framework's last step: φv distilled into equations, and the model with no network left.

With φe replaced by its equations and φv retrained around them (``symdistill.nbody.replacement``), φv is fitted by
symbolic regression, one search per acceleration component, on what it takes: the receiver's features and the
summed messages ``s0, s1, …`` (only the components that have an equation: the others are zero). The target is the
retrained φv's own output, as the paper distils a network, not the data. Its law is Newton's second law: the
acceleration is the summed pair force over the receiver's mass, and the messages hold the force up to an affine
map, so a member is Newton's law when (a) it is an affine function of the s_k / m and 1 / m (or of the s_k, for
messages that learned the receiver's 1/m; ``newton_bases``), R² ≥ ``judge.truth_r2`` on held-out test nodes, and
(b) it fits φv's output there as well as Newton's law does, within ``judge.fit_margin`` of R², as the edge judge's
(b) (a member c·s_0 alone is Newtonian in form, but drops the other force direction): ``strict`` when the selected
member passes, ``on_front`` when another does, ``fail`` otherwise. How Newtonian the retrained φv itself is (R² of
Newton's law's best fit to its output) is the ceiling; a reading whose ceiling is below ``truth_r2 − fit_margin`` passes
no member (c): in it φv is not Newton's law, and any affine function of the s_k would pass (b) against so low a bar.

Both the search and the judge see only nodes whose nearest sender is at least ``r_min`` away (the search's
``symbolic.r_min``, the judge's ``judge.r_min``), as the edge search and judge see only edges that long: φe's
equations were fitted and judged there, and closer, where the data's softening decides the force, the summed
messages of a 1/r² system leave Newton's law (measured on the demo's r⁻² bottleneck: φv's Newton R² 0.48 and 0.64 on
all test nodes, 0.993 and 0.991 on the 86 % at least 0.3 from their nearest sender; docs/generalisation.md).

The symbolic model is then φv's equations applied to the node features and the sums of φe's equations, every
constant refitted together to the training accelerations (``refit_symbolic_model``; ``as_distilled``: before):
``model.json``, plain text, rebuilt by ``load_symbolic_model``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from symdistill.core.bundles import Files
from symdistill.core.expressions import ExpressionError, evaluate, to_sympy
from symdistill.core.fits import finite_or_none, r2_affine, refit_constants
from symdistill.core.io import InputError, read_json, write_json
from symdistill.core.names import check_cell_identity
from symdistill.core.specs import Spec
from symdistill.engine.front import front_table
from symdistill.engine.search import Search, SearchSpec, search
from symdistill.engine.search_files import worst_status, write_front
from symdistill.nbody.data import Split, feature_names, read_split, target_names
from symdistill.nbody.models import Graph
from symdistill.nbody.replacement import CompiledExpression, ReplacedNetwork, SymbolicMessages, load_replaced

log = logging.getLogger(__name__)

MODEL_FORMAT = "symdistill.symbolic-model/1"
NEWTON_OUTCOMES = ("strict", "on_front", "fail")  # symdistill.core.vocabulary.OUTCOMES, less partial: one basis only


def node_input_names(dim: int, components: Sequence[int]) -> list[str]:
    """φv's inputs by name: the node's features, then the sum of each message component with an equation."""
    return [*feature_names(dim), *(f"s{k}" for k in components)]


class SymbolicNodeModel(nn.Module):
    """φv as equations, one per acceleration component, of the node features and the summed messages.

    Shapes: ``forward`` takes [node features, summed messages] (..., 2·dim + 2 + msg_dim) and returns the
    accelerations (..., dim); its inputs by name are ``names``.
    """

    def __init__(self, equations: Mapping[str, str], dim: int, msg_dim: int):
        super().__init__()
        self.names = [*feature_names(dim), *(f"s{k}" for k in range(msg_dim))]
        self.axes = axes = target_names(dim)
        if sorted(equations) != sorted(axes):
            raise ValueError(f"φv's equations are for {sorted(equations)}, expected one for each of {axes}")
        self.equations = nn.ModuleList(CompiledExpression(to_sympy(equations[a], self.names), self.names) for a in axes)

    def extra_repr(self) -> str:
        return f"inputs={', '.join(self.names)}"

    def forward(self, inputs: Tensor) -> Tensor:
        columns = {name: inputs[..., k] for k, name in enumerate(self.names)}
        return torch.stack([equation(columns) for equation in self.equations], dim=-1)


@dataclass(frozen=True)
class NewtonJudgeSpec(Spec):
    """Config ``judge``'s settings that φv's judge shares with the edge judge."""

    truth_r2: float  # (a) a member is an affine function of Newton's basis; (c) so is φv's output, within fit_margin
    fit_margin: float  # (b) a member fits φv's output within this R² of Newton's law's best fit
    r_min: float  # nodes whose nearest sender is closer are not judged


def nearest_sender(x: Tensor, graph: Graph, dim: int) -> Tensor:
    """(graphs, n): each node's distance to the nearest node that sends it a message (inf for none)."""
    r = torch.linalg.vector_norm(x[:, graph.receivers, :dim] - x[:, graph.senders, :dim], dim=-1)
    nearest = torch.full((x.shape[0], graph.n), torch.inf, dtype=r.dtype)
    return nearest.scatter_reduce_(1, graph.receivers.expand_as(r), r, "amin")


def node_table(model: ReplacedNetwork, split: Split, graphs: np.ndarray, r_min: float) -> pd.DataFrame:
    """One row per node of ``graphs`` whose nearest sender is at least ``r_min`` away: its features, the summed
    messages and the (retrained) φv's output."""
    graph = Graph.for_system(split.metadata["sim"], split.n)
    x = torch.from_numpy(split.x[graphs])
    with torch.no_grad():
        summed, _ = model.summed_messages(x, graph)
        output = model.node_model(torch.cat([x, summed], dim=-1))
    far = (nearest_sender(x, graph, split.dim) >= r_min).reshape(-1).numpy()
    frame = pd.DataFrame(x.reshape(-1, x.shape[-1]).double().numpy(), columns=feature_names(split.dim))
    for k in model.edges.components:
        frame[f"s{k}"] = summed[..., k].reshape(-1).double().numpy()
    for k, axis in enumerate(target_names(split.dim)):
        frame[axis] = output[..., k].reshape(-1).double().numpy()
    return frame[far].reset_index(drop=True)


def newton_bases(frame: pd.DataFrame, components: Sequence[int]) -> dict[str, np.ndarray]:
    """Newton's second law as a basis per reading of the messages (the judge's ``force`` and ``acceleration``).

    ``force``: messages e = A F + b sum to s = A Σ F + (n − 1) b at a node, so a = Σ F / m is an affine function
    of s_k / m and 1 / m. ``acceleration``: messages that learned the receiver's 1/m (e = A F / m₁ + b, the
    judge's receiver-scaled reading) make a an affine function of s_k alone.
    """
    mass = frame["m"].to_numpy()
    summed = [frame[f"s{k}"].to_numpy() for k in components]
    return {
        "force": np.stack([*(s / mass for s in summed), 1 / mass], axis=1),
        "acceleration": np.stack([*summed, np.ones_like(mass)], axis=1),
    }


def judge_newton(
    front: pd.DataFrame,
    heldout: pd.DataFrame,
    names: list[str],
    axis: str,
    bases: Mapping[str, np.ndarray],
    spec: NewtonJudgeSpec,
) -> dict[str, Any]:
    """Each member's R² against Newton's law per reading on the held-out nodes (a) and to φv's output (b; it
    passes where, in one reading, (a) reaches ``truth_r2``, (b) the ceiling less ``fit_margin``, and (c) the
    ceiling itself ``truth_r2`` less ``fit_margin``), the outcome, and φv's own R² per reading (the ceiling: how
    Newtonian the retrained φv is)."""
    output = heldout[axis].to_numpy()
    ceiling = {reading: float(r2_affine(output, basis)) for reading, basis in bases.items()}
    newtonian = {reading: value >= spec.truth_r2 - spec.fit_margin for reading, value in ceiling.items()}
    members = []
    for row in front.itertuples():
        values = evaluate(row.sympy, names, heldout)
        law_r2 = {reading: float(r2_affine(values, basis)) for reading, basis in bases.items()}
        fit_r2 = float(r2_affine(output, values[:, None]))
        members.append(
            {
                "complexity": int(row.complexity),
                "selected": bool(row.selected),
                "sympy": row.sympy,
                "newton_r2": {b: finite_or_none(value) for b, value in law_r2.items()},  # null: not finite
                "fit_r2": finite_or_none(fit_r2),
                "passes": any(
                    newtonian[b] and law_r2[b] >= spec.truth_r2 and fit_r2 >= ceiling[b] - spec.fit_margin
                    for b in bases
                ),
            }
        )
    if any(m["passes"] and m["selected"] for m in members):
        outcome = "strict"
    elif any(m["passes"] for m in members):
        outcome = "on_front"
    else:
        outcome = "fail"
    return {"component": axis, "ceiling_r2": ceiling, "outcome": outcome, "members": members}


def node_equation(judged: Mapping[str, Any], choice: str) -> str:
    """The equation of one acceleration component for the symbolic model (config ``framework.equation``)."""
    members = judged["members"]
    if choice == "judged" and any(m["passes"] for m in members):
        return min((m for m in members if m["passes"]), key=lambda m: m["complexity"])["sympy"]
    return next(m["sympy"] for m in members if m["selected"])


def search_axis(
    fit: pd.DataFrame, names: list[str], axis: str, spec: SearchSpec, threads: int, cell: str
) -> tuple[pd.DataFrame, Search]:
    """φv's front for one acceleration component, and its search; a search that found nothing stops the job."""
    target = fit[axis].to_numpy()
    found = search(fit[names].to_numpy(), target, names, spec, threads)
    log.info(
        "%s φv %s: %s, %s generations, %d candidates",
        cell,
        axis,
        found.status,
        found.generations,
        len(found.candidates),
    )
    if found.status == "error" or not found.candidates:
        raise RuntimeError(f"{cell}: the search of φv's {axis} found nothing: {found.message}")
    return front_table(list(found.candidates), names, fit, target, spec).assign(component=axis), found


@dataclass(frozen=True)
class ModelRefitSpec(Spec):
    """Config ``framework.refit``: the symbolic model's constants refitted together to the data."""

    graphs: int  # seeded training graphs whose nodes (those at least symbolic.r_min from their nearest sender) it fits
    iterations: int  # least-squares evaluations at most; 0: the constants stay as distilled


def symbolic_model(record: Mapping[str, Any]) -> ReplacedNetwork:
    """The model of a ``model.json`` record: φe's and φv's equations, no network."""
    dim, msg_dim = record["system"]["dim"], record["msg_dim"]
    edges = SymbolicMessages({int(c[1:]): e for c, e in record["edge"].items()}, msg_dim, dim)
    return ReplacedNetwork(edges, SymbolicNodeModel(record["node"], dim, msg_dim)).eval()


def refit_symbolic_model(model: ReplacedNetwork, train: Split, spec: ModelRefitSpec, r_min: float, seed: int) -> dict:
    """Every constant of φe's and φv's equations (exponents stay) refitted together to the accelerations of
    ``spec.graphs`` training graphs, on their nodes at least ``r_min`` from their nearest sender: φe was fitted to
    the network's messages and φv to the retrained network, never the two together to the data, and a constant
    that is harmless where φv was fitted (spring's φv, −0.246 + (A·s)/m, at the training masses) is not under a
    shift. What was fitted and the mean absolute error before and after."""
    rng = np.random.default_rng(seed)
    graphs = np.sort(rng.choice(len(train.x), min(spec.graphs, len(train.x)), replace=False))
    x, graph = torch.from_numpy(train.x[graphs]).double(), Graph.for_system(train.metadata["sim"], train.n)
    far = (nearest_sender(x, graph, train.dim) >= r_min).numpy()
    target = train.y[graphs].astype(np.float64)[far]
    constants = [e.constants for e in (*model.edges.equations, *model.node_model.equations)]
    sizes = [len(c) for c in constants]

    def residual(values: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            for c, part in zip(constants, np.split(values, np.cumsum(sizes)[:-1]), strict=True):
                c.copy_(torch.from_numpy(part))
            return (model.run(x, graph)[0].numpy()[far] - target).ravel()

    start = torch.cat([c.detach() for c in constants]).numpy().copy()
    before = residual(start)
    scale = float(np.median(np.abs(before[np.isfinite(before)]))) if np.isfinite(before).any() else 1.0
    fitted = refit_constants(residual, start, spec.iterations, scale or 1.0)  # iterations 0: scipy refuses, start
    after = residual(fitted)  # leaves the model with the fitted constants
    return {
        **asdict(spec),
        "nodes": int(far.sum()),
        "mae_before": finite_or_none(float(np.mean(np.abs(before)))),  # null: not finite on every node
        "mae_after": finite_or_none(float(np.mean(np.abs(after)))),
        "constants": {"distilled": start.tolist(), "refit": fitted.tolist()},
    }


@dataclass(frozen=True)
class DistilInputs(Files):
    """Rule ``distil``'s inputs: the cell's replaced model and the dataset's splits."""

    replaced: Path
    train: Path
    test: Path


@dataclass(frozen=True)
class DistilOutputs(Files):
    """Rule ``distil``'s outputs: φv's fronts and their judged result (as every search writes them), and the
    symbolic model."""

    front: Path
    result: Path
    model: Path


def fit_nodes(model: ReplacedNetwork, train: Split, spec: SearchSpec) -> pd.DataFrame:
    """``spec.samples`` random training nodes whose nearest sender is at least ``spec.r_min`` away, as the edge
    search draws its edges: from twice the graphs that many nodes fill, so that the close ones left out leave enough."""
    rng = np.random.default_rng(spec.seed)
    graphs = min(2 * -(-spec.samples // train.n), len(train.x))
    frame = node_table(model, train, np.sort(rng.choice(len(train.x), graphs, replace=False)), spec.r_min)
    if len(frame) > spec.samples:
        frame = frame.iloc[np.sort(rng.choice(len(frame), spec.samples, replace=False))].reset_index(drop=True)
    return frame


def not_empty(nodes: pd.DataFrame, path: Path, key: str, r_min: float) -> pd.DataFrame:
    """``nodes``, which must hold one at least: a config whose r_min leaves none is named with the split."""
    if nodes.empty:
        raise InputError(f"{path}: no node of the sample is at least {key} = {r_min} from its nearest sender")
    return nodes


def refitted_model(
    distilled: dict[str, Any], train: Split, refit_spec: ModelRefitSpec, search_spec: SearchSpec
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model.json``'s record: the distilled equations composed, their constants refitted, the equations before
    kept as ``as_distilled``; and the refit's record."""
    composed = symbolic_model(distilled)
    refit = refit_symbolic_model(composed, train, refit_spec, search_spec.r_min, search_spec.seed)
    log.info(
        "%s: constants refitted on %d nodes, MAE %s → %s",
        distilled["cell"],
        refit["nodes"],
        refit["mae_before"],
        refit["mae_after"],
    )
    as_distilled = {"edge": distilled["edge"], "node": distilled["node"]}
    return distilled | {"as_distilled": as_distilled} | equations_of(composed), refit


def distil_node_model(
    cell: str,
    inputs: DistilInputs,
    outputs: DistilOutputs,
    search_spec: SearchSpec,
    judge_spec: NewtonJudgeSpec,
    refit_spec: ModelRefitSpec,
    equation: str,
    threads: int = 1,
) -> None:
    """Rule ``distil``: φv's fronts, Newton's law judged on them, and the symbolic model."""
    replaced, record = load_replaced(inputs.replaced)
    if record["cell"] != cell:
        raise ValueError(f"{inputs.replaced}: the replaced model of {record['cell']}, not of {cell}")
    train, test = read_split(inputs.train), read_split(inputs.test)
    fit = not_empty(fit_nodes(replaced, train, search_spec), inputs.train, "symbolic.r_min", search_spec.r_min)
    heldout = node_table(replaced, test, np.arange(len(test.x)), judge_spec.r_min)
    not_empty(heldout, inputs.test, "judge.r_min", judge_spec.r_min)
    components = replaced.edges.components
    names = node_input_names(train.dim, components)
    bases = newton_bases(heldout, components)
    fronts, judged, status = [], [], []
    for axis in target_names(train.dim):
        front, found = search_axis(fit, names, axis, search_spec, threads, cell)
        fronts.append(front)
        judged.append(judge_newton(front, heldout, names, axis, bases, judge_spec))
        status.append(found.status)
    write_front(fronts, outputs.front)
    distilled = {
        "format": MODEL_FORMAT,
        "cell": cell,
        "system": record["system"],
        "msg_dim": record["model"].msg_dim,
        "edge": edge_equations(replaced.edges),
        "node": {j["component"]: node_equation(j, equation) for j in judged},
    }
    model, refit = refitted_model(distilled, train, refit_spec, search_spec)
    write_json(
        outputs.result,
        {
            "cell": cell,
            "status": worst_status(status),
            "inputs": names,
            "samples": len(fit),
            "heldout_nodes": len(heldout),
            **asdict(judge_spec),
            "search_r_min": search_spec.r_min,
            "components": judged,
            "refit": refit,
            "outcome": max((j["outcome"] for j in judged), key=NEWTON_OUTCOMES.index),
        },
    )
    write_json(outputs.model, model)


def edge_equations(edges: SymbolicMessages) -> dict[str, str]:
    """φe's equations with their constants' current values, by component (``e3`` …), as ``model.json`` holds them."""
    return {f"e{k}": str(e.expression()) for k, e in zip(edges.components, edges.equations, strict=True)}


def equations_of(model: ReplacedNetwork) -> dict[str, dict[str, str]]:
    """The equations of a symbolic model with its constants' current values, as ``model.json`` holds them."""
    node = {a: str(e.expression()) for a, e in zip(model.node_model.axes, model.node_model.equations, strict=True)}
    return {"edge": edge_equations(model.edges), "node": node}


def load_symbolic_model(path: str | Path) -> tuple[ReplacedNetwork, dict[str, Any]]:
    """The symbolic model of ``model.json``: φe's and φv's equations, no network; rejects foreign files by name."""
    record = read_json(path)
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: not a symbolic model (expected format {MODEL_FORMAT!r})")
    check_cell_identity(path, record["cell"])
    try:
        model = symbolic_model(record)
    except ExpressionError as err:
        raise InputError(f"{path}: {err}: rebuild it with `-R distil`") from None
    return model, record
