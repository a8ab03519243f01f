"""φe replaced by equations: the compiled module is its SymPy expression (values and gradients), exponents stay
fixed, and the true law planted as φe lets a retrained φv predict the accelerations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sympy
import torch
from conftest import tiny_training_spec

from symdistill.core.expressions import to_sympy
from symdistill.engine.training import TrainingOutputs
from symdistill.nbody import laws
from symdistill.nbody.data import SplitFiles, read_split
from symdistill.nbody.models import Graph
from symdistill.nbody.replacement import (
    CompiledExpression,
    ReplaceInputs,
    ReplacementSpec,
    SymbolicMessages,
    cell_equations,
    chosen_equations,
    edge_inputs,
    load_replaced,
    replace_edge_model,
)
from symdistill.nbody.symbolic import input_names
from symdistill.nbody.train import test_loss as table3_loss
from symdistill.nbody.train import train_cell

NAMES = input_names(2)
# What the searches write (pyoperon and PySR spellings), for every operator of either backend
EQUATIONS = [
    "1.5*dx/r^3 - 0.2",
    "square(r - 1.02)*dy*m2",
    "cube(0.7*dx) + inv(r)*neg(q1*q2)",
    "exp(-0.5*r)*m2/r",
    "sqrt(abs(q1*q2 + 0.3))*log(r + 1.1)",
    "2.5*dx*r^-1.68",
    "(m1*m2)^(0.5*r) - 3",
    "sin(dx)*cos(0.3*dy) + tanh(m1 - m2) + pi",
]


def _inputs(rows: int = 500, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dx, dy = rng.normal(size=(2, rows))
    return {
        "dx": dx,
        "dy": dy,
        "r": np.hypot(dx, dy) + 0.1,
        "m1": np.exp(rng.normal(size=rows)),
        "m2": np.exp(rng.normal(size=rows)),
        "q1": np.sign(rng.normal(size=rows)),
        "q2": np.sign(rng.normal(size=rows)),
    }


@pytest.mark.parametrize("text", EQUATIONS)
def test_the_compiled_module_is_its_expression_in_values_and_gradients(text: str) -> None:
    expr = to_sympy(text, NAMES)
    module = CompiledExpression(expr, NAMES)
    values = _inputs()
    symbols = [sympy.Symbol(n) for n in NAMES]
    expected = sympy.lambdify(symbols, expr, "numpy")(*(values[n] for n in NAMES))
    tensors = {n: torch.tensor(v, requires_grad=True) for n, v in values.items()}
    out = module(tensors)
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(expected, out.shape), rtol=1e-6)
    out.sum().backward()
    for name in ("dx", "r", "m2"):
        derivative = sympy.lambdify(symbols, sympy.diff(expr, sympy.Symbol(name)), "numpy")(*(values[n] for n in NAMES))
        np.testing.assert_allclose(
            np.zeros(500) if tensors[name].grad is None else tensors[name].grad.numpy(),  # None: not an input of it
            np.broadcast_to(derivative, (500,)),
            rtol=1e-6,
            atol=1e-12,
            err_msg=name,
        )
    if module.constants.numel():  # the constants' gradients, against finite differences
        inputs = {n: torch.tensor(v[:20]) for n, v in values.items()}
        constants = module.constants.detach().clone().requires_grad_(True)
        assert torch.autograd.gradcheck(lambda c: module._term(inputs, c), (constants,))


def test_floats_outside_exponents_are_the_parameters_exponents_stay_fixed() -> None:
    module = CompiledExpression(to_sympy("2.5*dx*r^-1.68 + 0.1", NAMES), NAMES)
    assert sorted(module.constants.tolist()) == [0.1, 2.5]
    with torch.no_grad():
        module.constants.mul_(2.0)
    values = {n: torch.tensor(v) for n, v in _inputs().items()}
    np.testing.assert_allclose(
        module(values).detach().numpy(), (5.0 * values["dx"] * values["r"] ** -1.68 + 0.2).numpy(), rtol=1e-12
    )


def test_what_it_cannot_compile_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"is not allowed in a formula"):  # a front's text: the whitelist refuses it
        to_sympy("floor(r)", NAMES)
    with pytest.raises(ValueError, match=r"cannot compile floor \(floor\(r\)\); known: \+, \*, powers, exp"):
        CompiledExpression(sympy.floor(sympy.Symbol("r")), NAMES)


def test_messages_without_an_equation_are_zero_and_inputs_follow_the_message_table() -> None:
    receiver, sender = torch.randn(2, 50, 6, dtype=torch.float64)
    columns = edge_inputs(receiver, sender, 2)
    np.testing.assert_allclose(columns["dx"].numpy(), (receiver[:, 0] - sender[:, 0]).numpy())
    np.testing.assert_allclose(columns["m2"].numpy(), sender[:, 5].numpy())
    np.testing.assert_allclose(columns["q1"].numpy(), receiver[:, 4].numpy())
    messages = SymbolicMessages({1: "m1*dy"}, msg_dim=4, dim=2).double()(receiver, sender)
    assert messages.shape == (50, 4) and not messages[:, [0, 2, 3]].any()
    np.testing.assert_allclose(messages[:, 1].detach().numpy(), (receiver[:, 5] * columns["dy"]).numpy())


def _front(equations: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "component": list(equations),
            "complexity": [9] * len(equations),
            "loss": [0.0] * len(equations),
            "score": [1.0] * len(equations),
            "selected": [True] * len(equations),
            "equation": list(equations.values()),
            "sympy": list(equations.values()),
        }
    )


def test_judged_picks_the_simplest_member_the_judge_passed() -> None:
    front = pd.concat([_front({"e0": "dx"}), _front({"e0": "dx/r^3"}).assign(selected=False, complexity=5)])
    judge = {
        "components": [
            {
                "component": "e0",
                "members": [
                    {"sympy": "dx", "complexity": 9, "passes": {"force": False, "acceleration": False}},
                    {"sympy": "dx/r^3", "complexity": 5, "passes": {"force": True, "acceleration": False}},
                ],
            }
        ]
    }
    assert chosen_equations(front, judge, "judged")["e0"] == {"sympy": "dx/r^3", "complexity": 5, "reason": "judged"}
    assert chosen_equations(front, judge, "selected")["e0"]["sympy"] == "dx"
    judge["components"][0]["members"][1]["passes"]["force"] = False
    assert chosen_equations(front, judge, "judged")["e0"]["reason"] == "selected (no member passes the judge)"


def test_judged_chooses_symbolic_rests_components_by_their_own_judge(tmp_path: Path) -> None:
    """symbolic_rest's components were taken as selected, unjudged: on the demo's spring bottleneck, e1's selected
    member (complexity 27) carried m1 terms the law has not, while its front held the law at complexity 13. Rule
    judge_rest judges them, and ``judged`` then picks their simplest passing member too."""
    cell = "spring_2d_n4/bottleneck/seed0"
    front, rest = tmp_path / "front.parquet", tmp_path / "rest.parquet"
    _front({"e0": "dx"}).to_parquet(front)
    pd.concat([_front({"e1": "dy*m1"}), _front({"e1": "dy"}).assign(selected=False, complexity=3)]).to_parquet(rest)
    passing = {"force": True, "acceleration": False}
    members = [
        {"sympy": "dy*m1", "complexity": 9, "passes": {"force": False, "acceleration": False}},
        {"sympy": "dy", "complexity": 3, "passes": passing},
    ]
    judge, rest_judge = (tmp_path / "results" / stage / f"{cell}.json" for stage in ("judge", "judge_rest"))
    rest_judge.parent.mkdir(parents=True)
    judge.parent.mkdir(parents=True)
    judge.write_text(json.dumps({"cell": cell, "components": [{"component": "e0", "members": []}]}))
    rest_judge.write_text(json.dumps({"cell": cell, "components": [{"component": "e1", "members": members}]}))
    inputs = ReplaceInputs(tmp_path, front, judge, rest, rest_judge, tmp_path, tmp_path)
    chosen = cell_equations(2, inputs, "judged", cell)
    assert chosen["e1"] == {"sympy": "dy", "complexity": 3, "reason": "judged"}
    assert chosen["e0"] == {"sympy": "dx", "complexity": 9, "reason": "selected (no member passes the judge)"}
    assert cell_equations(2, inputs, "selected", cell)["e1"]["sympy"] == "dy*m1"
    rest_judge.write_text(json.dumps({"cell": "spring_2d_n4/l1/seed0", "components": []}))
    with pytest.raises(ValueError, match=r"judge_rest/spring_2d_n4/bottleneck/seed0.json: holds cell .*-R judge_rest"):
        cell_equations(2, inputs, "judged", cell)


def test_judged_falls_back_to_the_selected_member_without_a_law() -> None:
    """A system given as data without law: its judge records members with their fit, no verdict to pick by."""
    front = pd.concat([_front({"e0": "dx"}), _front({"e0": "dx/r^3"}).assign(selected=False, complexity=5)])
    members = [
        {"sympy": "dx", "complexity": 9, "heldout_fit_r2": 0.9},
        {"sympy": "dx/r^3", "complexity": 5, "heldout_fit_r2": 0.99},
    ]
    judge = {"outcome": {"physical": "no_law"}, "components": [{"component": "e0", "members": members}]}
    chosen = chosen_equations(front, judge, "judged")["e0"]
    assert chosen == {"sympy": "dx", "complexity": 9, "reason": "selected (the system has no law to judge against)"}


RETRAINING = {"epochs": 10, "graphs_per_epoch": 8192, "max_lr": 3e-3}


def test_the_true_law_planted_as_phi_e_lets_phi_v_learn_the_accelerations(tmp_path: Path, spring_data) -> None:
    """A bottleneck network trained briefly, its φe replaced by the spring's true pair force (x and y), φv
    retrained: the replaced model predicts the accelerations far better than the network (a = Σ F / m is all φv
    has to learn), and the files reload to the same numbers."""
    train, test = spring_data
    cell = tmp_path / "results" / "models" / "spring_2d_n4" / "bottleneck" / "seed0"
    spec = tiny_training_spec(msg_dim=2, epochs=3, graphs_per_epoch=2048, max_lr=3e-3)
    train_cell(
        spec,
        "spring_2d_n4/bottleneck/seed0",
        SplitFiles(train, test),
        TrainingOutputs(cell / "model.pt", cell / "history.parquet", cell / "metrics.json"),
    )
    to_inputs = {delta: sympy.Symbol(name) for delta, name in zip(laws.deltas(2), ("dx", "dy"), strict=True)}
    fx, fy = (str(sympy.N(f.xreplace(to_inputs))) for f in laws.force("spring", 2, soft=True))  # dx*(1.98 - 2.0*r)/r
    front, rest = tmp_path / "front.parquet", tmp_path / "rest.parquet"
    _front({"e0": fx}).to_parquet(front)  # Table 5's component; the other one from rule symbolic_rest
    _front({"e1": fy}).to_parquet(rest)
    judge, rest_judge = tmp_path / "judge.json", tmp_path / "judge_rest.json"
    for path, component in ((judge, "e0"), (rest_judge, "e1")):
        path.write_text(
            json.dumps(
                {"cell": "spring_2d_n4/bottleneck/seed0", "components": [{"component": component, "members": []}]}
            )
        )
    out = tmp_path / "results" / "replaced" / "spring_2d_n4" / "bottleneck" / "seed0"
    replace_edge_model(
        "spring_2d_n4/bottleneck/seed0",
        ReplaceInputs(cell / "model.pt", front, judge, rest, rest_judge, train, test),
        TrainingOutputs(out / "model.pt", out / "history.parquet", out / "metrics.json"),
        ReplacementSpec("selected", trainable_constants=False, training=RETRAINING),
    )
    metrics = json.loads((out / "metrics.json").read_text())
    gn = json.loads((cell / "metrics.json").read_text())["test_loss"]
    split = read_split(test)
    zero = float(np.abs(split.y).sum(axis=(1, 2)).mean())
    # measured: 11.7 against 40.1 for predicting zero and 37.3 for the briefly trained network. What is left is φv
    # learning 1/m, and this test split holds a body of mass 0.08, lighter than any of the training split (0.14),
    # whose accelerations dominate the mean (twice the retraining leaves 10.8). With the initial states drawn in
    # float64 (before the reference's float32 draws, issue 39) the same test measured 2.9 against 26.4 and 24.3.
    assert metrics["test_loss"] < 0.35 * zero and metrics["test_loss"] < 0.35 * gn, (metrics, gn, zero)
    assert metrics["test_loss"] < metrics["test_loss_before_retraining"]
    model, record = load_replaced(out / "model.pt")
    assert record["equations"]["e0"]["sympy"] == fx and not model.edges.equations[0].constants.requires_grad
    assert record["equations"]["e0"]["reason"] == "selected"
    rest = {"sympy": fy, "complexity": 9, "reason": "selected"}
    assert record["equations"]["e1"] == rest
    x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
    assert table3_loss(model, Graph.for_system("spring", 4), x, y) == pytest.approx(metrics["test_loss"], rel=1e-6)
    planted = model.edges.equations[0].constants.detach().numpy()
    np.testing.assert_array_equal(sorted(planted), sorted(float(c) for c in to_sympy(fx, NAMES).atoms(sympy.Float)))
