"""The recovery judge on synthetic messages built from each system's true force: right laws pass, near-misses fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symdistill.judge import JudgeSpec, fresh_edges, judge_component, r2_affine, receiver_groups
from symdistill.messages import true_forces
from symdistill.symbolic import evaluate, input_names

SPEC = JudgeSpec(edges=4000, truth_r2=0.999, fit_margin=0.01, r_min=0.3, range_factor=1.5, receiver_bins=10, seed=0)
NAMES = input_names(2)


def _edges(sim: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4, 6))
    x[..., -1] = np.exp(x[..., -1])
    if sim == "charge":
        x[..., -2] = np.sign(x[..., -2])
    frame = fresh_edges(x, sim, 2, SPEC, r_max=6.0)
    force = true_forces(sim, frame, 2, 4)
    return frame, {"force": force, "acceleration": force / frame[["m1"]].to_numpy()}


def _judge(sim: str, message: np.ndarray, expressions: list[str], selected: int = 0):
    frame, bases = _edges(sim)
    front = pd.DataFrame({"complexity": np.arange(len(expressions)) + 5, "sympy": expressions,
                          "selected": [i == selected for i in range(len(expressions))]})
    groups = receiver_groups(frame, SPEC.receiver_bins, sim == "charge")
    return judge_component(front, message, bases, groups, np.ones(len(frame), bool), NAMES, frame, SPEC)


def _noisy(frame_values: np.ndarray, scale: float = 0.002) -> np.ndarray:
    return frame_values + scale * frame_values.std() * np.random.default_rng(2).normal(size=len(frame_values))


# The laws as the paper's equations write them, with Δ = receiver − sender and r' = r + 0.01.
LAWS = {
    "spring": "0.8*dx*(r + 0.01 - 1)/r - 0.3*dy*(r + 0.01 - 1)/r + 0.1",
    "r1": "m2*(0.8*dx - 0.3*dy)/(r*(r + 0.01))",
    "r2": "m2*(0.8*dx - 0.3*dy)/(r*(r + 0.01)**2)",
    "charge": "q1*q2*(0.8*dx - 0.3*dy)/(r*(r + 0.01)**2)",
}


@pytest.mark.parametrize("sim", list(LAWS))
def test_the_true_law_passes_strictly(sim: str) -> None:
    frame, _ = _edges(sim)
    message = _noisy(evaluate(LAWS[sim], NAMES, frame))
    verdict = _judge(sim, message, [LAWS[sim]])
    assert verdict["outcome"] == {"physical": "strict", "receiver_scaled": "strict"}, verdict["members"][0]


def test_a_one_component_law_is_only_partial() -> None:
    frame, _ = _edges("spring")
    message = _noisy(evaluate(LAWS["spring"], NAMES, frame))
    verdict = _judge("spring", message, ["dy*(r + 0.01 - 1)/r"])
    assert verdict["members"][0]["affine"]["force"]  # an exact affine map of F_y …
    assert verdict["outcome"]["physical"] == "partial"  # … that does not fit the message


def test_a_wrong_exponent_fails() -> None:
    frame, _ = _edges("r2")
    message = _noisy(evaluate(LAWS["r2"], NAMES, frame))
    verdict = _judge("r2", message, [LAWS["r1"]])
    assert verdict["outcome"]["physical"] == "fail"


def test_a_missing_mass_factor_fails() -> None:
    frame, _ = _edges("r2")
    message = _noisy(evaluate(LAWS["r2"], NAMES, frame))
    verdict = _judge("r2", message, ["(0.8*dx - 0.3*dy)/(r*(r + 0.01)**2)"])
    assert verdict["outcome"]["physical"] == "fail"


def test_law_on_the_front_but_not_selected_is_on_front() -> None:
    frame, _ = _edges("spring")
    message = _noisy(evaluate(LAWS["spring"], NAMES, frame))
    verdict = _judge("spring", message, ["0.5*dx", LAWS["spring"]], selected=0)
    assert verdict["outcome"]["physical"] == "on_front"


def test_receiver_dependent_scale_passes_only_the_receiver_scaled_reading() -> None:
    """The field notes' spring message: the law times 1/(m1 + 10.2) — φv can undo any function of the receiver."""
    frame, _ = _edges("spring")
    law = f"({LAWS['spring']})/(m1 + 10.2)"
    verdict = _judge("spring", _noisy(evaluate(law, NAMES, frame)), [law])
    assert verdict["outcome"] == {"physical": "fail", "receiver_scaled": "strict"}


def test_affine_r2_by_hand() -> None:
    x = np.linspace(0, 1, 50)[:, None]
    assert r2_affine(3 * x[:, 0] + 1, x) == pytest.approx(1.0)
    assert r2_affine(np.where(x[:, 0] > 0.5, 2.0, 1.0) * x[:, 0], x, (x[:, 0] > 0.5).astype(int)) == pytest.approx(1.0)
    assert r2_affine(np.full(50, 2.0), x) == 0.0
