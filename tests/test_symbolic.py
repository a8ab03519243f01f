"""Symbolic regression: the Occam rule, the front's bookkeeping, a real pyoperon search, PySR's clear failure."""

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

from symdistill.messages import write_messages
from symdistill.symbolic import (BackendUnavailable, Candidate, SearchSpec, check_pysr, evaluate, fit_symbolic,
                                 fitting_sample, front_table, input_names, occam_scores, pareto_front, polish, search,
                                 select)

SPEC = SearchSpec(backend="pyoperon", operators=("add", "sub", "mul", "div", "square"), time_limit=20, max_length=25,
                  population_size=500, optimizer_iterations=10, samples=3000, r_min=0.0, components=1, selection="best",
                  loss="mae", seed=0)


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
    np.testing.assert_array_equal(pareto_front(np.array([5, 3, 7, 3, 9]), np.array([0.5, 0.8, 0.6, 0.7, 0.1])), [3, 0, 4])


def test_evaluate_broadcasts_constants_and_uses_the_inputs() -> None:
    data = pd.DataFrame({"dx": [1.0, 2.0], "dy": [0.0, 1.0], "r": [1.0, 2.0], "m1": 1.0, "m2": 2.0, "q1": 1.0, "q2": -1.0})
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
    frame = pd.DataFrame({"dx": dx, "dy": dy, "r": r, "m1": np.exp(rng.normal(size=n)), "m2": np.exp(rng.normal(size=n)),
                          "q1": rng.normal(size=n), "q2": rng.normal(size=n), "fx": fx, "fy": fy})
    frame["e0"] = 0.8 * fx - 0.3 * fy + 0.2 + noise * rng.normal(size=n)
    frame["e1"] = 0.01 * rng.normal(size=n)
    return frame


def test_pyoperon_recovers_a_spring_message(tmp_path: Path) -> None:
    frame = _spring_messages()
    names = input_names(2)
    status, candidates, message = search(frame[names].to_numpy(), frame["e0"].to_numpy(), names, SPEC, threads=2)
    assert status == "ok", message
    front = front_table(candidates, names, frame, frame["e0"].to_numpy(), SPEC)
    truth = 0.8 * frame["fx"] - 0.3 * frame["fy"] + 0.2
    best_error = min(np.abs(evaluate(s, names, frame) - truth).max() for s in front["sympy"])
    assert best_error < 0.1  # the law itself (up to the fitted constants) is on the front
    assert front["selected"].sum() == 1 and front["complexity"].is_monotonic_increasing


def test_rule_writes_front_and_result_even_when_the_search_fails(tmp_path: Path) -> None:
    frame = _spring_messages(500)
    meta = {"format": "symdistill.messages/1", "cell": "spring_2d_n4/l1/seed0", "system": {"sim": "spring", "dim": 2, "n": 4},
            "ranked_components": ["e0", "e1"]}
    path = tmp_path / "messages.parquet"
    write_messages(frame, meta, path)
    broken = replace(SPEC, operators=("add", "nonsense"), time_limit=2)  # pyoperon rejects the symbol
    fit_symbolic(path, tmp_path / "front.parquet", tmp_path / "result.json", broken, threads=1)
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
    """Every search runs in a child Python that imports this module: torch and JAX would cost it seconds."""
    code = "import sys, symdistill.symbolic; print(sorted({'torch', 'jax'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
