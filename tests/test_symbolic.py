"""Symbolic regression: the Occam rule, the front's bookkeeping, real pyoperon searches (reproducible across reruns
and thread counts, a time ceiling that keeps the front), operator names, PySR's clear failure."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sympy
import yaml
from conftest import ROOT

from symdistill.core.expressions import evaluate, to_sympy
from symdistill.engine.budget import BackendUnavailable, SearchBudget, check_pysr
from symdistill.engine.front import free_constants, front_table, occam_scores, pareto_front, polish, select
from symdistill.engine.search import Candidate, SearchSpec, search
from symdistill.engine.search_files import RUN_KEY, SearchOutputs
from symdistill.nbody.messages import write_messages
from symdistill.nbody.symbolic import fit_rest, fit_symbolic, fitting_sample, input_names

SPEC = SearchSpec(
    backend="pyoperon",
    operators=("add", "sub", "mul", "div", "square"),
    budget=SearchBudget(generations=60, time_limit=60),
    max_length=25,
    population_size=500,
    optimizer_iterations=10,
    samples=3000,
    r_min=0.0,
    components=1,
    selection="best",
    loss="mae",
    seed=0,
)


def test_occam_score_by_hand() -> None:
    complexity = np.array([1, 3, 5, 9])
    loss = np.array([1.0, 0.5, 0.01, 0.009])
    scores = occam_scores(complexity, loss)
    np.testing.assert_allclose(scores, [0, np.log(2) / 2, np.log(50) / 2, np.log(0.01 / 0.009) / 4])
    assert select(loss, scores, "score") == 2


def test_best_rule_only_considers_accurate_members() -> None:
    """A big early drop wins the paper's rule; PySR's 'best' looks only within 1.5 × the minimum loss."""
    complexity = np.array([1, 2, 10, 12])
    loss = np.array([10.0, 1.0, 0.1, 0.05])
    scores = occam_scores(complexity, loss)
    assert select(loss, scores, "score") == 1
    assert select(loss, scores, "best") == 3


def test_pareto_front_drops_dominated_members() -> None:
    np.testing.assert_array_equal(
        pareto_front(np.array([5, 3, 7, 3, 9]), np.array([0.5, 0.8, 0.6, 0.7, 0.1])), [3, 0, 4]
    )


def test_evaluate_broadcasts_constants_and_uses_the_inputs() -> None:
    data = pd.DataFrame(
        {"dx": [1.0, 2.0], "dy": [0.0, 1.0], "r": [1.0, 2.0], "m1": 1.0, "m2": 2.0, "q1": 1.0, "q2": -1.0}
    )
    names = input_names(2)
    np.testing.assert_allclose(evaluate("0.5", names, data), [0.5, 0.5])
    np.testing.assert_allclose(evaluate("m2*dx/r**2", names, data), [2.0, 1.0])


def _spring_messages(n: int = 4000, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """A message that is exactly an affine map of the spring force, plus noise: what a good GN sends."""
    rng = np.random.default_rng(seed)
    dx, dy = rng.normal(scale=1.5, size=(2, n))
    r = np.hypot(dx, dy)
    magnitude = -2 * (r + 0.01 - 1) / r
    fx, fy = magnitude * dx, magnitude * dy
    frame = pd.DataFrame(
        {
            "dx": dx,
            "dy": dy,
            "r": r,
            "m1": np.exp(rng.normal(size=n)),
            "m2": np.exp(rng.normal(size=n)),
            "q1": rng.normal(size=n),
            "q2": rng.normal(size=n),
            "fx": fx,
            "fy": fy,
        }
    )
    frame["u"] = (r + 0.01 - 1) ** 2
    frame["e0"] = 0.8 * fx - 0.3 * fy + 0.2 + noise * rng.normal(size=n)
    frame["e1"] = 0.01 * rng.normal(size=n)
    return frame


def test_pyoperon_recovers_a_spring_message(tmp_path: Path) -> None:
    frame = _spring_messages()
    names = input_names(2)
    found = search(frame[names].to_numpy(), frame["e0"].to_numpy(), names, SPEC, threads=2)
    assert found.status == "ok", found.message
    assert found.generations == SPEC.budget.generations and found.evaluations > 0
    front = front_table(list(found.candidates), names, frame, frame["e0"].to_numpy(), SPEC)
    truth = 0.8 * frame["fx"] - 0.3 * frame["fy"] + 0.2
    best_error = min(np.abs(evaluate(s, names, frame) - truth).max() for s in front["sympy"])
    assert best_error < 0.1  # the law itself (up to the fitted constants) is on the front
    assert front["selected"].sum() == 1 and front["complexity"].is_monotonic_increasing


def _message_table(path: Path, frame: pd.DataFrame) -> Path:
    """``frame`` as the messages stage writes it: graphs of 4 bodies (12 edges each), numbered in column 'graph'."""
    assert len(frame) % 12 == 0
    meta = {
        "format": "symdistill.messages/1",
        "cell": "spring_2d_n4/l1/seed0",
        "system": {"sim": "spring", "dim": 2, "n": 4},
        "ranked_components": ["e0", "e1"],
        "sample": {"graphs": len(frame) // 12, "seed": 0, "test_file": "test.parquet"},
    }
    write_messages(frame.assign(graph=np.arange(len(frame)) // 12), meta, path)
    return path


def test_rule_writes_front_and_result_even_when_the_search_fails(tmp_path: Path) -> None:
    path = _message_table(tmp_path / "messages.parquet", _spring_messages(504))
    broken = replace(SPEC, operators=("add", "nonsense"))  # pyoperon rejects the symbol
    fit_symbolic(path, SearchOutputs(tmp_path / "front.parquet", tmp_path / "result.json"), broken, threads=1)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "error" and "failed" in result["components"][0]["message"]
    assert pd.read_parquet(tmp_path / "front.parquet").empty


def test_polish_refits_the_constants_of_a_form() -> None:
    """Component weights a few per cent off, as a short search leaves them, come back to the message's."""
    frame = _spring_messages(2000, noise=0.0)
    names = input_names(2)
    rough = "0.85*dx*(r + 0.01 - 0.97)/r - 0.28*dy*(r + 0.01 - 1.02)/r + 0.1"
    target = (-0.8 * 2 * frame["dx"] + 0.3 * 2 * frame["dy"]) * (frame["r"] + 0.01 - 1) / frame["r"] + 0.2
    polished = polish(rough, names, frame, target.to_numpy())
    np.testing.assert_allclose(evaluate(polished, names, frame), target, atol=1e-6)
    assert polish("dx/r", names, frame, target.to_numpy()) == "dx/r"  # no constant to fit
    assert polish("1.5/(dx - dx)", names, frame, target.to_numpy()) == "1.5/(dx - dx)"  # not finite: kept


def test_the_fitting_sample_leaves_out_close_edges() -> None:
    frame = _spring_messages(4000)
    sample = fitting_sample(frame, replace(SPEC, r_min=0.5, samples=1000))
    assert len(sample) == 1000 and sample["r"].min() >= 0.5 and sample["r"].is_unique
    assert len(fitting_sample(frame, replace(SPEC, r_min=0.5, samples=10**6))) == (frame["r"] >= 0.5).sum()
    with pytest.raises(ValueError, match="symbolic.r_min = 100"):
        fitting_sample(frame, replace(SPEC, r_min=100.0))


def test_pysr_without_its_runtime_fails_at_once_with_instructions() -> None:
    expected = "no Julia was found" if importlib.util.find_spec("pysr") else "PySR is not installed"
    with pytest.raises(BackendUnavailable, match=expected):
        check_pysr()


def test_candidate_round_trip() -> None:
    c = Candidate(5, "(1.0 * dx)", "1.0*dx")
    assert Candidate(**json.loads(json.dumps(c.__dict__))) == c


def test_the_search_process_stays_light() -> None:
    """Every search runs in a child Python that imports the engine's search module: torch and JAX would cost it
    seconds. The n-body search stage imports them only where it reads a cell's messages."""
    code = (
        "import sys, symdistill.engine.search, symdistill.nbody.symbolic;"
        "print(sorted({'torch', 'jax'} & set(sys.modules)))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def _smoke_spec() -> SearchSpec:
    """The smoke preset's search settings over config.yaml's, as the rule gets them."""
    settings = yaml.safe_load((ROOT / "config.yaml").read_text())["symbolic"]
    settings |= yaml.safe_load((ROOT / "presets" / "smoke.yaml").read_text())["symbolic"]
    return SearchSpec(**settings, seed=0)


def _slurm_threads() -> int:
    return yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())["set-threads"]["symbolic"]


def test_a_search_is_byte_identical_across_reruns_and_thread_counts(tmp_path: Path) -> None:
    """The guarantee behind a single-cell rerun: the budget is generations, so neither a rerun nor the cluster
    profile's thread count changes the front or anything in result.json outside its "run" record."""
    path = _message_table(tmp_path / "messages.parquet", _spring_messages(3000, noise=0.05))
    spec = _smoke_spec()
    outputs = {}
    for name, threads in (("first", 2), ("rerun", 2), ("one", 1), ("slurm", _slurm_threads())):
        fit_symbolic(
            path, SearchOutputs(tmp_path / f"{name}.parquet", tmp_path / f"{name}.json"), spec, threads=threads
        )
        result = json.loads((tmp_path / f"{name}.json").read_text())
        assert result[RUN_KEY]["threads"] == threads and result["status"] == "ok"
        assert result["components"][0]["generations"] == spec.budget.generations
        outputs[name] = (
            (tmp_path / f"{name}.parquet").read_bytes(),
            json.dumps({k: v for k, v in result.items() if k != RUN_KEY}, sort_keys=True),
        )
    assert len(pd.read_parquet(tmp_path / "first.parquet")) > 3
    for name in ("rerun", "one", "slurm"):
        assert outputs[name][0] == outputs["first"][0], f"front.parquet differs: {name}"
        assert outputs[name][1] == outputs["first"][1], f"result.json differs: {name}"


def test_symbolic_rest_searches_exactly_the_components_beyond_table_5s(tmp_path: Path) -> None:
    """Rule symbolic_rest's fronts are those the symbolic stage would give the same components: each search is
    seeded alone, so Table 5's component 0 and the framework's component 1 do not depend on each other."""
    frame = _spring_messages(3000, noise=0.05)
    frame["e1"] = 0.5 * frame["fx"] + 0.9 * frame["fy"] + 0.01 * np.random.default_rng(1).normal(size=len(frame))
    path = _message_table(tmp_path / "messages.parquet", frame)
    spec = _smoke_spec()
    fit_symbolic(
        path, SearchOutputs(tmp_path / "both.parquet", tmp_path / "both.json"), replace(spec, components=2), threads=2
    )
    fit_rest(path, SearchOutputs(tmp_path / "rest.parquet", tmp_path / "rest.json"), spec, "dim", threads=2)
    both, rest = pd.read_parquet(tmp_path / "both.parquet"), pd.read_parquet(tmp_path / "rest.parquet")
    assert set(rest["component"]) == {"e1"} and len(rest) > 1
    pd.testing.assert_frame_equal(rest, both[both["component"] == "e1"].reset_index(drop=True))
    assert [c["component"] for c in json.loads((tmp_path / "rest.json").read_text())["components"]] == ["e1"]
    fit_rest(path, SearchOutputs(tmp_path / "none.parquet", tmp_path / "none.json"), spec, 1, threads=2)
    nothing = json.loads((tmp_path / "none.json").read_text())
    assert nothing["components"] == [] and nothing["status"] == "ok"
    assert pd.read_parquet(tmp_path / "none.parquet").empty


def test_a_search_stopped_by_its_time_ceiling_keeps_its_front(tmp_path: Path) -> None:
    path = _message_table(tmp_path / "messages.parquet", _spring_messages(3000))
    spec = replace(SPEC, budget=SearchBudget(generations=10**6, time_limit=1))
    fit_symbolic(path, SearchOutputs(tmp_path / "front.parquet", tmp_path / "result.json"), spec, threads=2)
    result = json.loads((tmp_path / "result.json").read_text())
    component = result["components"][0]
    assert result["status"] == component["status"] == "timeout"
    assert 0 < component["generations"] < 10**6 and "stopped at time_limit 1 s" in component["message"]
    front = pd.read_parquet(tmp_path / "front.parquet")
    assert len(front) == component["front_size"] > 0 and front["selected"].sum() == 1


def test_the_budget_sizes_the_child_process_and_the_cluster_job() -> None:
    budget = SearchBudget(generations=160, time_limit=600)
    assert budget.hard_limit == 2 * 600 + 120 and budget.cluster_minutes(2) == int(2 * 1320 / 60) + 10
    with pytest.raises(ValueError, match="generations ≥ 1"):
        SearchBudget(generations=0, time_limit=600)
    assert SearchSpec(**{**SPEC.__dict__, "budget": {"generations": 5, "time_limit": 9}}).budget == SearchBudget(5, 9)


# PySR prints its own operator names; each must evaluate as PySR means it (x = 2 below).
PYSR_STRINGS = {
    "cube(r)": 8.0,
    "inv(r)": 0.5,
    "square(r)": 4.0,
    "neg(r)": -2.0,
    "sqrt(r)": 2**0.5,
    "abs(neg(r))": 2.0,
    "exp(r)": np.exp(2.0),
    "log(r)": np.log(2.0),
    "r ^ -1.68": 2**-1.68,
    "(r ^ 2.5) * inv(cube(r))": 2**-0.5,
}
# One PySR-style string per system's law, with the operators its search would need (dx = 1.5, r = 2, m = 3, q = ±1).
PYSR_LAWS = {
    "spring": ("neg((r - 1.0) * dx) * inv(r)", -(2 - 1) * 1.5 / 2),
    "r1": ("(m2 * neg(dx)) * inv(square(r))", -3 * 1.5 / 4),
    "r2": ("(m2 * neg(dx)) * inv(cube(r))", -3 * 1.5 / 8),
    "charge": ("((q1 * q2) * dx) * inv(cube(r))", -1.5 / 8),
    "superposition": ("neg(m2 * dx) * (inv(cube(r)) + inv(square(r)))", -4.5 * (1 / 8 + 1 / 4)),
    "damped": ("(neg(square(r) - 1.0) * dx) / r", -3 * 1.5 / 2),
    "string": ("neg(dx) * (r - 1.0) * inv(r) * 3.0", -1.5 * 1 / 2 * 3),
    "decay": ("m2 * dx * exp(neg(r)) * inv(sqrt(r))", 3 * 1.5 * np.exp(-2) / 2**0.5),
    "log": ("dx * log(abs(neg(r))) ^ 1.5", 1.5 * np.log(2) ** 1.5),
}


@pytest.mark.parametrize(("text", "value"), [*PYSR_STRINGS.items(), *PYSR_LAWS.values()])
def test_pysr_operator_names_mean_what_pysr_means(text: str, value: float) -> None:
    names = input_names(2)
    data = pd.DataFrame({"dx": [1.5], "dy": [0.5], "r": [2.0], "m1": [3.0], "m2": [3.0], "q1": [1.0], "q2": [-1.0]})
    np.testing.assert_allclose(evaluate(str(to_sympy(text, names)), names, data), [value], rtol=1e-12)


def test_an_unknown_name_in_an_equation_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'safe_pow\(r, 2\)' is not allowed in a formula; allowed: symbols dx"):
        to_sympy("safe_pow(r, 2)", input_names(2))
    with pytest.raises(ValueError, match="unknown name 'w'"):
        to_sympy("w * dx", input_names(2))


def test_polish_keeps_a_float_exponent() -> None:
    """The form is the search's: r^-1.68 stays r^-1.68 even though the data follow r^-2; its scale is refitted."""
    frame = _spring_messages(2000, noise=0.0)
    frame = frame[frame["r"] > 0.3].reset_index(drop=True)
    names = input_names(2)
    target = (2.0 * frame["m2"] * frame["dx"] / frame["r"] ** 2).to_numpy()
    polished = to_sympy(polish("0.7*m2*dx*r^-1.68 + 0.1", names, frame, target), names)
    powers = [p for p in polished.atoms(sympy.Pow) if p.base == sympy.Symbol("r")]
    assert [float(p.exp) for p in powers] == [-1.68]
    assert {float(c) for c in free_constants(polished)} != {0.7, 0.1}  # the scale and offset moved
    assert free_constants(to_sympy("2.5*r^(1.5*m1) + 0.5", names)) == [sympy.Float(0.5), sympy.Float(2.5)]


def test_the_backend_names_agree_everywhere() -> None:
    """symdistill.engine.budget (light, read at config time), the search's dispatch table and the schema's enum."""
    from symdistill.engine import budget as light
    from symdistill.engine.search import BACKENDS

    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    assert tuple(BACKENDS) == light.BACKENDS == tuple(schema["properties"]["symbolic"]["properties"]["backend"]["enum"])
