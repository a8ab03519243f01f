"""The recovery judge on synthetic messages built from each system's true force: right laws pass, near-misses fail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symdistill.judge import (
    JudgeSpec,
    energy_laws,
    force_laws,
    fresh_edges,
    fresh_pairs,
    judge_component,
    place_senders,
    r2_affine,
    receiver_groups,
)
from symdistill.messages import true_forces, true_potentials
from symdistill.symbolic import evaluate, input_names

SPEC = JudgeSpec(edges=4000, truth_r2=0.999, fit_margin=0.01, r_min=0.3, range_factor=1.5, receiver_bins=10, seed=0)
NAMES = input_names(2)


def _nodes(sim: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4, 6))
    x[..., -1] = np.exp(x[..., -1])
    if sim == "charge":
        x[..., -2] = np.sign(x[..., -2])
    return x


def _edges(sim: str) -> pd.DataFrame:
    return fresh_edges(_nodes(sim), sim, 2, SPEC, r_max=6.0)


def _front(expressions: list[str], selected: int) -> pd.DataFrame:
    return pd.DataFrame({"complexity": np.arange(len(expressions)) + 5, "sympy": expressions,
                         "selected": [i == selected for i in range(len(expressions))]})


def _judge(sim: str, message: np.ndarray, expressions: list[str], selected: int = 0):
    frame = _edges(sim)
    laws = force_laws(true_forces(sim, frame, 2, 4), frame["m1"].to_numpy(),
                      receiver_groups(frame, SPEC.receiver_bins, sim == "charge"))
    return judge_component(_front(expressions, selected), message, laws, lambda e: evaluate(e, NAMES, frame),
                           np.ones(len(frame), bool), SPEC)


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
    frame = _edges(sim)
    message = _noisy(evaluate(LAWS[sim], NAMES, frame))
    verdict = _judge(sim, message, [LAWS[sim]])
    assert verdict["outcome"] == {"physical": "strict", "receiver_scaled": "strict"}, verdict["members"][0]


def test_a_one_component_law_is_only_partial() -> None:
    frame = _edges("spring")
    message = _noisy(evaluate(LAWS["spring"], NAMES, frame))
    verdict = _judge("spring", message, ["dy*(r + 0.01 - 1)/r"])
    assert verdict["members"][0]["affine"]["force"]  # an exact affine map of F_y …
    assert verdict["outcome"]["physical"] == "partial"  # … that does not fit the message


def test_a_wrong_exponent_fails() -> None:
    frame = _edges("r2")
    message = _noisy(evaluate(LAWS["r2"], NAMES, frame))
    verdict = _judge("r2", message, [LAWS["r1"]])
    assert verdict["outcome"]["physical"] == "fail"


def test_a_missing_mass_factor_fails() -> None:
    frame = _edges("r2")
    message = _noisy(evaluate(LAWS["r2"], NAMES, frame))
    verdict = _judge("r2", message, ["(0.8*dx - 0.3*dy)/(r*(r + 0.01)**2)"])
    assert verdict["outcome"]["physical"] == "fail"


def test_law_on_the_front_but_not_selected_is_on_front() -> None:
    frame = _edges("spring")
    message = _noisy(evaluate(LAWS["spring"], NAMES, frame))
    verdict = _judge("spring", message, ["0.5*dx", LAWS["spring"]], selected=0)
    assert verdict["outcome"]["physical"] == "on_front"


def test_receiver_dependent_scale_passes_only_the_receiver_scaled_reading() -> None:
    """The field notes' spring message: the law times 1/(m1 + 10.2) — φv can undo any function of the receiver."""
    frame = _edges("spring")
    law = f"({LAWS['spring']})/(m1 + 10.2)"
    verdict = _judge("spring", _noisy(evaluate(law, NAMES, frame)), [law])
    assert verdict["outcome"] == {"physical": "fail", "receiver_scaled": "strict"}


def test_affine_r2_by_hand() -> None:
    x = np.linspace(0, 1, 50)[:, None]
    assert r2_affine(3 * x[:, 0] + 1, x) == pytest.approx(1.0)
    assert r2_affine(np.where(x[:, 0] > 0.5, 2.0, 1.0) * x[:, 0], x, (x[:, 0] > 0.5).astype(int)) == pytest.approx(1.0)
    assert r2_affine(np.full(50, 2.0), x) == 0.0


# ---------------------------------------------------------------- energy messages (FlatHGN)


def _energy_judge(sim: str, energy: str, expressions: list[str]):
    """The FlatHGN judge: each fresh pair at two distances, energies compared as differences."""
    rng = np.random.default_rng(SPEC.seed)
    pairs = fresh_pairs(_nodes(sim), SPEC.edges, rng)
    frames = [place_senders(pairs, 2, rng, SPEC.r_min, 6.0) for _ in range(2)]
    u = [true_potentials(sim, f, 2, 4) for f in frames]

    def member(expression: str) -> np.ndarray:
        return evaluate(expression, NAMES, frames[0]) - evaluate(expression, NAMES, frames[1])

    return judge_component(_front(expressions, 0), _noisy(member(energy)), energy_laws(u[0] - u[1]), member,
                           np.ones(SPEC.edges, bool), SPEC)


def test_pair_energy_up_to_scale_and_a_function_of_charge_and_mass_passes() -> None:
    """The paper's recovered charge H_pair: 0.0019·q1q2/r − 0.0112 − 0.00143q1 − 0.00112q1q2."""
    paper = "0.0019*q1*q2/(r + 0.01) - 0.0112 - 0.00143*q1 - 0.00112*q1*q2"
    verdict = _energy_judge("charge", f"{paper} + 0.003*m1*m2", [paper])
    assert verdict["outcome"] == {"physical": "strict", "receiver_scaled": "strict"}, verdict["members"][0]


def test_an_energy_of_the_wrong_form_fails() -> None:
    truth = "0.5*(r + 0.01 - 1)**2 + 0.2*m1"
    assert _energy_judge("spring", truth, [truth])["outcome"]["physical"] == "strict"
    wrong = _energy_judge("spring", truth, ["0.5*(r - 1)**3", "q1*q2 + m1"])
    assert wrong["outcome"]["physical"] == "fail", wrong["members"]
    assert _energy_judge("charge", "q1*q2/(r + 0.01)", ["1/(r + 0.01)"])["outcome"]["physical"] == "fail"
