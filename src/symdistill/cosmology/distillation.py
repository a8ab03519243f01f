r"""Rule ``halos_symbolic`` and the model it distils (paper §4.3): φe and φv of the cosmology network fitted by
symbolic regression, and the two composed.

- ``fit_halo_symbolic``: one search per summed message component on (m1, m2, r, dv) — φe — and one on
  (s0 …, m, v) fitted to the network's δ̂ on its training halos — φv — with the engine's backends, budget and front
  (``symdistill.engine``).
- ``compose``: δ̂_i = φv(Σ_j φe(edge ij), M_i, |v_i|), φv's selected equation with each summed message s_k replaced
  by Σ_j φe_k(edge ij), every constant (exponents included) refitted to δ on the training halos as Table 6's
  formulas are (``formulas.refit``), starting from the searches'. Rule ``halos_evaluate`` scores it beside them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sympy

from symdistill.core.expressions import to_sympy
from symdistill.core.io import write_json
from symdistill.cosmology.catalogue import EDGE_INPUTS, NODE_INPUTS
from symdistill.cosmology.formulas import GraphInputs, RefitSpec, refit, score
from symdistill.cosmology.messages import (
    MESSAGES_FORMAT,
    NODE_TARGET,
    NODES_FORMAT,
    HaloTables,
    node_inputs,
    read_table,
)
from symdistill.engine.front import ComponentFit, fit_component, sample_rows
from symdistill.engine.search import SearchSpec
from symdistill.engine.search_files import SearchOutputs, result_record, write_front

# ---------------------------------------------------------------- the searches


def fit_halo_symbolic(
    cell: str, tables: HaloTables, outputs: SearchOutputs, spec: SearchSpec, threads: int = 1
) -> None:
    """Rule ``halos_symbolic``: fronts for φe (each summed component, on the ``fit`` edges) and φv (the network's δ̂
    on training halos) → front.parquet (``component``: e.g. ``e12`` or ``gn``), result.json."""
    edges, edge_meta = read_table(tables.messages, MESSAGES_FORMAT, cell)
    nodes, node_meta = read_table(tables.nodes, NODES_FORMAT, cell)
    edge_sample = searched_rows(edges[edges["fit"]], spec)
    node_sample = searched_rows(nodes[nodes["train"] & nodes["fit"]], spec)
    names = {"edge": list(EDGE_INPUTS), "node": node_inputs(node_meta)}
    fits: list[ComponentFit] = [
        fit_component(edge_sample, names["edge"], component, spec, threads, cell)
        for component in node_meta["summed"].values()
    ]
    fits.append(fit_component(node_sample, names["node"], NODE_TARGET, spec, threads, cell))
    write_front([fit.front for fit in fits if fit.front is not None], outputs.front)
    record = result_record(cell, names["edge"], len(edge_sample), fits, spec, threads)
    record |= {"inputs": names, "samples": {"edge": len(edge_sample), "node": len(node_sample)}}
    record["summed"] = node_meta["summed"]
    write_json(outputs.result, record)


def searched_rows(frame: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """The rows a search fits (``engine.front.sample_rows``); none to fit is an error, not an empty front."""
    if frame.empty:
        raise ValueError("no rows to fit: the table has no fitting edges or no training halos")
    return sample_rows(frame, spec)


# ---------------------------------------------------------------- the distilled model


@dataclass(frozen=True)
class Composition:
    """φv's equation over φe's, every float occurrence in either a constant θ_k of its own (two equal numbers in
    φe and φv are two constants: the refit may move them apart)."""

    edge: dict[str, sympy.Expr]  # summed input s_k → φe_k over EDGE_INPUTS and θ
    node: sympy.Expr  # φv over node_inputs and θ
    start: tuple[float, ...]  # θ's values as the searches found them

    @classmethod
    def of(cls, edge: dict[str, str], node: str, node_names: list[str]) -> Composition:
        values: list[float] = []
        parsed_edge = {s: parameterised(to_sympy(text, list(EDGE_INPUTS)), values) for s, text in edge.items()}
        parsed_node = parameterised(to_sympy(node, node_names), values)
        return cls(parsed_edge, parsed_node, tuple(values))

    @property
    def theta(self) -> list[sympy.Symbol]:
        return [sympy.Symbol(f"theta{k}") for k in range(len(self.start))]

    def function(self, g: GraphInputs) -> Callable[[np.ndarray], np.ndarray]:
        """δ̂ of every halo as a function of the constants."""
        edge_vars = [sympy.Symbol(n) for n in EDGE_INPUTS]
        node_vars = [sympy.Symbol(s) for s in self.edge] + [sympy.Symbol(n) for n in NODE_INPUTS]
        edge_fns = [sympy.lambdify([*edge_vars, *self.theta], e, "numpy") for e in self.edge.values()]
        node_fn = sympy.lambdify([*node_vars, *self.theta], self.node, "numpy")
        edge_args = (g.m1, g.m2, g.r, g.dv)

        def predict(c: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                sums = [g.total(np.broadcast_to(fn(*edge_args, *c), g.r.shape)) for fn in edge_fns]
                return np.broadcast_to(np.asarray(node_fn(*sums, g.m, g.v, *c), dtype=np.float64), g.m.shape)

        return predict

    def equations(self, values: Sequence[float]) -> dict[str, Any]:
        """φe and φv with ``values`` in place of their constants, as SymPy text."""
        swap = {t: sympy.Float(v, 6) for t, v in zip(self.theta, values, strict=True)}
        return {"edge": {s: str(e.xreplace(swap)) for s, e in self.edge.items()}, "node": str(self.node.xreplace(swap))}


def parameterised(expr: sympy.Expr, values: list[float]) -> sympy.Expr:
    """``expr`` with each occurrence of a float replaced by a new symbol θ_k, its value appended to ``values``.

    By occurrence, not by value (``xreplace`` would swap every equal float for one symbol): the tree is rebuilt
    argument by argument."""
    if isinstance(expr, sympy.Float):
        values.append(float(expr))
        return sympy.Symbol(f"theta{len(values) - 1}")
    if not expr.args:
        return expr
    return expr.func(*(parameterised(arg, values) for arg in expr.args))


def selected_equations(front: pd.DataFrame, summed: dict[str, str]) -> tuple[dict[str, str], str]:
    """The selected φe member of each summed component and the selected φv member."""
    chosen = front[front["selected"]].set_index("component")["sympy"]
    missing = [c for c in (*summed.values(), NODE_TARGET) if c not in chosen.index]
    if missing:
        raise ValueError(f"no selected front member for {', '.join(missing)} (their search left no front)")
    return {s: chosen[c] for s, c in summed.items()}, chosen[NODE_TARGET]


def compose(
    front: pd.DataFrame, summed: dict[str, str], g: GraphInputs, delta: np.ndarray, train: np.ndarray, spec: RefitSpec
) -> tuple[dict[str, Any], np.ndarray]:
    """The distilled model: the selected φe and φv composed, scored as searched and with every constant refitted;
    and its δ̂ of every halo, refitted."""
    edge, node = selected_equations(front, summed)
    composition = Composition.of(edge, node, [*summed, *NODE_INPUTS])
    predict = composition.function(g)
    fitted_on = spec.sample(train)
    start = np.array(composition.start)
    fitted = refit(composition.function(g.subset(fitted_on)), start, delta[fitted_on], spec.iterations)
    predicted = predict(fitted)
    return {
        "searched": {**composition.equations(start), **score(predict(start), delta, train)},
        "refit": {**composition.equations(fitted), **score(predicted, delta, train)},
        "constants": {"searched": start.tolist(), "refit": fitted.tolist()},
    }, predicted


log = logging.getLogger(__name__)
