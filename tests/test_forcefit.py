"""Table 1's metric on hand-made message tables whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from symdistill.nbody.forcefit import force_fit, trimmed_r2

RNG = np.random.default_rng(0)


def table(messages: np.ndarray, force: np.ndarray, m1: np.ndarray) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame(
        {"fx": force[:, 0], "fy": force[:, 1], "m1": m1, **{f"e{k}": messages[:, k] for k in range(messages.shape[1])}}
    )
    meta = {"cell": "spring_2d_n4/l1/seed0", "system": {"dim": 2}, "ranked_components": ["e0", "e1"]}
    return frame, meta


def test_an_affine_map_of_the_force_scores_one() -> None:
    force = RNG.normal(size=(2000, 2))
    assert trimmed_r2(3.0 * force[:, 0] - 2.0 * force[:, 1] + 5.0, force, 0.9) == pytest.approx(1.0, abs=1e-12)


def test_the_worst_tenth_of_edges_is_trimmed_away() -> None:
    force = RNG.normal(size=(2000, 2))
    message = force @ np.array([1.0, 0.5])
    message[:100] += RNG.normal(scale=50.0, size=100)  # 5 % wild edges
    assert trimmed_r2(message, force, 0.9) == pytest.approx(1.0, abs=1e-9)
    assert trimmed_r2(message, force, 1.0) < 0.1


def test_a_message_unrelated_to_the_force_scores_what_trimming_alone_gives() -> None:
    """Dropping the worst 10 % of a χ²₁ residual leaves a mean of 0.62: the notebook's metric floors noise at ≈ 0.38."""
    force = RNG.normal(size=(20000, 2))
    assert trimmed_r2(RNG.normal(size=20000), force, 0.9) == pytest.approx(0.38, abs=0.03)


def test_a_collapsed_message_scores_zero_instead_of_nan() -> None:
    force = RNG.normal(size=(2000, 2))
    assert trimmed_r2(np.full(2000, 0.37), force, 0.9) == 0.0


def test_messages_proportional_to_the_acceleration_fit_the_acceleration_basis_better() -> None:
    force, m1 = RNG.normal(size=(3000, 2)), np.exp(RNG.normal(size=3000))
    frame, meta = table(force / m1[:, None], force, m1)
    record = force_fit(frame, meta, 0.9)
    assert record["acceleration"]["r2_mean"] == pytest.approx(1.0, abs=1e-9)
    assert record["force"]["r2_mean"] < record["acceleration"]["r2_mean"] - 0.05


def test_an_energy_message_is_fitted_against_the_potential_up_to_a_function_of_charge_and_mass() -> None:
    """FlatHGN: H_pair = a·U + f(q, m) scores 1 against the potential; the force bases are not used."""
    n = 3000
    q1, q2 = RNG.choice([-1.0, 1.0], size=(2, n))
    m1, m2 = np.exp(RNG.normal(size=(2, n)))
    u = q1 * q2 / (np.exp(RNG.normal(size=n)) + 0.01)
    frame = pd.DataFrame(
        {
            "u": u,
            "q1": q1,
            "q2": q2,
            "m1": m1,
            "m2": m2,
            "e0": 0.0019 * u - 0.0112 - 0.00143 * q1 - 0.00112 * q1 * q2 + 0.01 * m1,
        }
    )
    meta = {
        "cell": "charge_2d_n4/flathgn/seed0",
        "system": {"dim": 2},
        "message": "energy",
        "ranked_components": ["e0"],
    }
    record = force_fit(frame, meta, 0.9)
    assert record["message"] == "energy" and record["components"] == ["e0"] and "force" not in record
    assert record["potential"]["r2_mean"] == pytest.approx(1.0, abs=1e-9)
    frame["e0"] = RNG.normal(size=n)
    assert force_fit(frame, meta, 0.9)["potential"]["r2_mean"] < 0.5
