"""The framework's third step: φe replaced by its symbolic fit, then φv retrained around it.

The paper's method does not stop at an equation for the messages: a learned part is replaced by its symbolic
form, the rest of the model is retrained, and the next part is distilled, until no network is left. Here the
cell's equations (one per fitted message component, from the symbolic stage's front) are compiled into a torch
module whose constants are parameters, put in the place of φe, and the network's own φv is retrained with the
cell's loss and schedule (config ``framework``).

The compiler is ours, not sympytorch's or PySR's export, for one reason each way: it keeps an exponent a fixed
part of the form (as the polisher does, ``engine.front.free_constants``: a member with r^-1.68 must not train its way
to r^-2), and it needs nothing beyond SymPy and torch. It reads the operators both search backends write
(``core.expressions.EQUATION``: square, cube, inv and neg arrive as powers and products) and the functions of a
researcher's own potential; anything else is refused by name.

φe carries the ``framework.components`` most significant message components (``dim`` by default: the paper
reads a bottleneck's messages as a rotation of the force, one component per dimension). Table 5 fits only the top
``symbolic.components`` of them; rule ``symbolic_rest`` searches the rest with the same settings, and rule
``judge_rest`` judges them, so that ``framework.equation`` chooses every component alike. Components beyond are
zero: for messages that are
not low-dimensional (standard, KL) the replaced model keeps only the fitted few of many components.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import sympy
import torch
from torch import Tensor, nn

from symdistill.core.bundles import Files
from symdistill.core.expressions import ExpressionError, to_sympy
from symdistill.core.io import InputError, atomic_output, package_versions, read_json, write_json
from symdistill.core.names import check_cell_identity
from symdistill.core.specs import Spec
from symdistill.core.vocabulary import judged_without_law
from symdistill.engine.devices import deterministic_kernels
from symdistill.engine.model_files import save_record
from symdistill.engine.search_files import read_front
from symdistill.engine.training import TrainingOutputs
from symdistill.nbody.data import AXES, SplitFiles
from symdistill.nbody.models import EdgeOutput, GraphNetwork, ModelSpec, build_model
from symdistill.nbody.symbolic import input_names
from symdistill.nbody.train import (
    CellData,
    TrainingSettings,
    TrainingSpec,
    load_model,
    new_run,
    read_model_record,
    test_loss,
    train_and_record_epoch,
)

log = logging.getLogger(__name__)

FORMAT = "symdistill.replaced/1"
EQUATION_CHOICES = ("selected", "judged")

Term = Callable[[Mapping[str, Tensor], Tensor], Tensor | float]
FUNCTIONS: dict[type, Callable[[Tensor], Tensor]] = {
    sympy.exp: torch.exp,
    sympy.log: torch.log,
    sympy.Abs: torch.abs,
    sympy.sin: torch.sin,
    sympy.cos: torch.cos,
    sympy.tanh: torch.tanh,
}


class CompiledExpression(nn.Module):
    """A SymPy expression as a torch function of named input columns; its floats outside exponents are the
    entries of ``constants`` (trainable unless frozen), integers, rationals and exponents fixed.

    Shapes: ``forward`` takes a mapping name → tensor (all of one shape) and returns a tensor of that shape.
    """

    def __init__(self, expr: sympy.Expr, names: list[str]):
        super().__init__()
        self.names, self.expr = list(names), expr
        self._floats: dict[sympy.Float, int] = {}  # each distinct float is one constant, wherever it occurs
        self._term = _compile(expr, set(names), self._floats, in_exponent=False)
        self.constants = nn.Parameter(torch.tensor([float(f) for f in self._floats], dtype=torch.float64))

    def extra_repr(self) -> str:
        return f"{self.expression()}, inputs={', '.join(self.names)}"

    def expression(self) -> sympy.Expr:
        """The expression with the constants' current values: what a retrained equation now is."""
        values = self.constants.detach().tolist()
        return self.expr.xreplace({f: sympy.Float(values[k], 10) for f, k in self._floats.items()})

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        reference = inputs[self.names[0]]
        value = self._term(inputs, self.constants.to(reference.dtype))
        return torch.as_tensor(value, dtype=reference.dtype, device=reference.device).expand(reference.shape)


def _compile(expr: sympy.Expr, names: set[str], floats: dict[sympy.Float, int], in_exponent: bool) -> Term:
    """The term that evaluates ``expr``, numbering in ``floats`` each float it makes a constant."""
    if isinstance(expr, sympy.Symbol):
        if expr.name not in names:
            raise ValueError(f"{expr.name!r} is not an input ({', '.join(sorted(names))})")
        return lambda v, c, name=expr.name: v[name]
    if isinstance(expr, sympy.Float) and not in_exponent:
        k = floats.setdefault(expr, len(floats))
        return lambda v, c: c[k]
    if isinstance(expr, sympy.Number | sympy.NumberSymbol):  # integers, rationals, π, e, exponents: fixed
        if not expr.is_finite:
            raise ValueError(f"the constant {expr} is not finite")
        value = int(expr) if expr.is_Integer else float(expr)
        return lambda v, c: value
    if isinstance(expr, sympy.Add | sympy.Mul):
        parts = [_compile(a, names, floats, in_exponent) for a in expr.args]
        if isinstance(expr, sympy.Add):
            return lambda v, c: sum(p(v, c) for p in parts)
        return lambda v, c: math.prod(p(v, c) for p in parts)
    if isinstance(expr, sympy.Pow):
        base = _compile(expr.base, names, floats, in_exponent)
        if isinstance(expr.exp, sympy.Number):
            power = int(expr.exp) if expr.exp.is_Integer else float(expr.exp)
            return lambda v, c: base(v, c) ** power
        exponent = _compile(expr.exp, names, floats, in_exponent=True)
        return lambda v, c: torch.pow(base(v, c), exponent(v, c))
    function = FUNCTIONS.get(type(expr))
    if function is not None:
        (argument,) = (_compile(a, names, floats, in_exponent) for a in expr.args)
        return lambda v, c: function(torch.as_tensor(argument(v, c), dtype=c.dtype))
    raise ValueError(f"cannot compile {type(expr).__name__} ({expr}); known: +, *, powers, {_known()}")


def _known() -> str:
    return ", ".join(f.__name__ for f in FUNCTIONS)


def edge_inputs(receiver: Tensor, sender: Tensor, dim: int) -> dict[str, Tensor]:
    """The symbolic stage's inputs of each edge (``symbolic.input_names``): Δ = receiver − sender, r = |Δ|, the
    receiver's (1) and sender's (2) mass and charge; features are positions, velocities, charge, mass."""
    delta = receiver[..., :dim] - sender[..., :dim]
    columns = {f"d{a}": delta[..., k] for k, a in enumerate(AXES[:dim])}
    columns["r"] = torch.linalg.vector_norm(delta, dim=-1)
    columns |= {"m1": receiver[..., -1], "m2": sender[..., -1], "q1": receiver[..., -2], "q2": sender[..., -2]}
    return columns


class SymbolicMessages(nn.Module):
    r"""φe as equations: component k of the message is ``equations[k]``; components without one are zero.

    .. math:: e_{ij,k} = f_k(\Delta x, \Delta y, (\Delta z), r, m_1, m_2, q_1, q_2)

    Shapes: ``forward(receiver, sender)`` takes node features (..., 2·dim + 2) each and returns the messages
    (..., msg_dim). Sizes (``dim``, ``msg_dim``) and the ``components`` with an equation are attributes.
    """

    def __init__(self, equations: Mapping[int, str], msg_dim: int, dim: int):
        super().__init__()
        names = input_names(dim)
        self.dim, self.msg_dim = dim, msg_dim
        self.components = sorted(equations)
        if any(not 0 <= k < msg_dim for k in self.components):
            raise ValueError(f"message components {self.components} for a message of size {msg_dim}")
        self.equations = nn.ModuleList(
            CompiledExpression(to_sympy(equations[k], names), names) for k in self.components
        )

    def extra_repr(self) -> str:
        return f"msg_dim={self.msg_dim}, dim={self.dim}, components={self.components}"

    def forward(self, receiver: Tensor, sender: Tensor) -> Tensor:
        inputs = edge_inputs(receiver, sender, self.dim)
        message = receiver.new_zeros(*receiver.shape[:-1], self.msg_dim)
        for k, equation in zip(self.components, self.equations, strict=True):
            message[..., k] = equation(inputs)
        return message


class ReplacedNetwork(nn.Module):
    """The cell's network with φe replaced by ``SymbolicMessages``: sum aggregation and φv as before
    (``GraphNetwork``'s formula and shapes, with e_ij the equations'); or, in the symbolic model, φv equations too
    (``distillation.SymbolicNodeModel``)."""

    # the same batched pass: φe on every edge, summed per receiver, φv
    run = GraphNetwork.run
    summed_messages = GraphNetwork.summed_messages

    def __init__(self, edges: SymbolicMessages, node_model: nn.Module):
        super().__init__()
        self.edges, self.node_model, self.msg_dim = edges, node_model, edges.msg_dim

    def extra_repr(self) -> str:
        return f"msg_dim={self.msg_dim}, aggr=add"

    def edge_output(self, receiver: Tensor, sender: Tensor) -> EdgeOutput:
        return EdgeOutput(self.edges(receiver, sender))


# ---------------------------------------------------------------- which equations


@dataclass(frozen=True)
class ReplacementSpec(Spec):
    """Config ``framework``: which equation replaces each component, whether its constants train, and the
    retraining's overrides of the cell's own training settings."""

    equation: str  # selected: the search's selected member; judged: the simplest member the judge passed
    trainable_constants: bool
    training: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.equation not in EQUATION_CHOICES:
            raise ValueError(f"framework.equation {self.equation!r}; expected one of {', '.join(EQUATION_CHOICES)}")


def check_judged(front: pd.DataFrame, judge: Mapping[str, Any], judge_path: str | Path, rule: str = "judge") -> None:
    """Every member the judge recorded is a row of the front: an equation is read from the front, whose every
    string the whitelist has checked, never from the judge's copy alone."""
    rows = set(zip(front["component"], front["sympy"], strict=True))
    for component in judge.get("components", []):
        for member in component.get("members", []):
            if (component.get("component"), member.get("sympy")) not in rows:
                raise InputError(
                    f"{judge_path}: judges {component.get('component')} member {member.get('sympy')!r}, which is "
                    f"not on the cell's front: the judge file is of another search; rebuild it with `-R {rule}`"
                )


def chosen_equations(front: pd.DataFrame, judge: Mapping[str, Any], choice: str) -> dict[str, dict[str, Any]]:
    """Per fitted component (``e3`` …): the equation and why it was chosen.

    ``judged``: the least complex member that passes the judge in a physical basis, or the selected member where
    none passes (recorded as such). A component no judge saw, or of a system without a law (``no_law``), is
    selected.
    """
    chosen = {}
    judged = {c["component"]: c for c in judge.get("components", [])}
    for component, members in front.groupby("component", sort=True):
        selected = members[members["selected"]].iloc[0]
        entry = {"sympy": selected["sympy"], "complexity": int(selected["complexity"]), "reason": "selected"}
        if component not in judged:
            entry["reason"] = "selected (not judged)"
        elif judged_without_law(judge):
            entry["reason"] = "selected (the system has no law to judge against)"
        elif choice == "judged":
            passing = [
                m
                for m in judged.get(component, {}).get("members", [])
                if any(m["passes"].get(b) for b in ("force", "acceleration"))
            ]
            if passing:
                best = min(passing, key=lambda m: m["complexity"])
                entry = {"sympy": best["sympy"], "complexity": best["complexity"], "reason": "judged"}
            else:
                entry["reason"] = "selected (no member passes the judge)"
        chosen[str(component)] = entry
    return chosen


# ---------------------------------------------------------------- the rule


def replaced_network(record: Mapping[str, Any], network: nn.Module, equations: Mapping[str, str]) -> ReplacedNetwork:
    """The trained ``network`` with its φe replaced by ``equations`` (component name → SymPy text)."""
    model: ModelSpec = record["model"]
    if model.architecture == "hgn":
        raise ValueError("FlatHGN's message is a pair energy and φv is physics: there is no φv to retrain")
    messages = SymbolicMessages({int(c[1:]): e for c, e in equations.items()}, model.msg_dim, record["system"]["dim"])
    return ReplacedNetwork(messages, network.node_model)


def cell_equations(dim: int, inputs: ReplaceInputs, choice: str, cell: str) -> dict[str, dict[str, Any]]:
    """The equation of each component φe carries (``chosen_equations``), from the cell's fronts (the symbolic
    stage's and symbolic_rest's) and their judges (rule judge's and judge_rest's), each file checked to be the
    cell's."""
    names = input_names(dim)
    fronts = [read_front(inputs.front, names), read_front(inputs.rest, names, rerun="symbolic_rest")]
    found = [front for front in fronts if len(front)] or fronts[:1]  # concat warns on empty frames
    front = pd.concat(found, ignore_index=True)
    judges = []
    for path, rule in ((inputs.judge, "judge"), (inputs.rest_judge, "judge_rest")):
        judges.append(read_json(path))
        check_cell_identity(path, judges[-1]["cell"])
        check_judged(front, judges[-1], path, rule)
    both = judges[0] | {"components": [c for judge in judges for c in judge.get("components", [])]}
    chosen = chosen_equations(front, both, choice)
    if not chosen:
        log.warning("%s: the search left no equation; every message component is zero", cell)
    return chosen


def retraining_spec(record: Mapping[str, Any], spec: ReplacementSpec, cell: str) -> TrainingSpec:
    """φv's retraining: the cell's own spec, no regulariser, its training settings with ``framework.training``'s."""
    return TrainingSpec(
        replace(record["model"], regularizer="none", pruning=None),  # the messages are equations: nothing to sparsify
        TrainingSettings.from_params({**record["training"], **spec.training}, f"{cell}: framework.training"),
        record["system"],
        record["seed"],
    )


@dataclass(frozen=True)
class ReplaceInputs(Files):
    """Rule ``replace``'s inputs: the cell's network, its fronts (the symbolic stage's and symbolic_rest's), their
    judges, and the dataset's splits."""

    model: Path
    front: Path
    judge: Path
    rest: Path
    rest_judge: Path
    train: Path
    test: Path

    @property
    def splits(self) -> SplitFiles:
        return SplitFiles(self.train, self.test)


def replace_edge_model(
    cell: str, inputs: ReplaceInputs, outputs: TrainingOutputs, spec: ReplacementSpec, threads: int = 1
) -> None:
    """Rule ``replace``: φe → the cell's equations (Table 5's components and ``symbolic_rest``'s), φv retrained;
    the replaced model, its history and metrics."""
    torch.set_num_threads(threads)
    device = torch.device("cpu")  # the cell's CPU job: never a GPU it did not ask for
    deterministic_kernels()
    network, record = load_model(inputs.model)
    chosen = cell_equations(record["system"]["dim"], inputs, spec.equation, cell)
    model = replaced_network(record, network, {c: e["sympy"] for c, e in chosen.items()}).to(device)
    model.edges.requires_grad_(spec.trainable_constants)
    retrain = retraining_spec(record, spec, cell)
    data = CellData.read(retrain, inputs.splits, device)
    run = new_run(retrain, device, model)
    model.eval()
    before = test_loss(model, data.graph, data.x_test, data.y_test)
    run.initial_loss = data.monitor_loss(model)
    started = time.perf_counter()
    while run.epoch < retrain.training.epochs:
        train_and_record_epoch(run, retrain, data, cell)
    model.eval()
    after = test_loss(model, data.graph, data.x_test, data.y_test)
    history = pd.DataFrame(run.history)
    save_record(outputs.model, replaced_record(cell, chosen, spec, record, retrain, model))
    with atomic_output(outputs.history) as tmp:
        history.to_parquet(tmp, index=False)
    write_json(
        outputs.metrics,
        {
            "cell": cell,
            "equations": chosen,
            "test_loss_before_retraining": before,
            "test_loss": after,
            "test_graphs": len(data.x_test),
            "epochs": retrain.training.epochs,
            "wall_seconds": time.perf_counter() - started,
        },
    )


def replaced_record(
    cell: str,
    chosen: dict[str, dict[str, Any]],
    spec: ReplacementSpec,
    record: Mapping[str, Any],
    retrain: TrainingSpec,
    model: ReplacedNetwork,
) -> dict[str, Any]:
    """What the replaced model.pt holds: its equations and weights, the settings it was retrained with, provenance."""
    return {
        "format": FORMAT,
        "cell": cell,
        "equations": chosen,
        "replacement": asdict(spec),
        "model": record["model"].record(),
        "training": asdict(retrain.training),
        "system": record["system"],
        "seed": record["seed"],
        "state_dict": model.state_dict(),
        "package_versions": package_versions(),
    }


def load_replaced(path: str | Path, device: torch.device | str = "cpu") -> tuple[ReplacedNetwork, dict[str, Any]]:
    """A replaced model (eval mode) and its record; rejects foreign files by name."""
    record = read_model_record(path, FORMAT, "a replaced model", device)
    network = build_model(record["model"], record["system"]["dim"])
    try:
        model = replaced_network(record, network, {c: e["sympy"] for c, e in record["equations"].items()})
    except ExpressionError as err:
        raise InputError(f"{path}: an equation of φe: {err}: rebuild it with `-R replace`") from None
    model.load_state_dict(record["state_dict"])
    model.edges.requires_grad_(record["replacement"]["trainable_constants"])
    return model.to(device).eval(), record
