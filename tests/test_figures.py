"""The figures' numerical parts: the RK4 rollout against an exact solution, the front–judge join, a failed search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cellfiles import front_members
from matplotlib.colors import to_hex

from symdistill.figures import front_points, generalisation_figure, pareto_figure
from symdistill.rollout import rk4_rollout
from symdistill.vocabulary import GENERALISATION_MODELS


def test_rk4_rollout_follows_an_exact_harmonic_oscillator() -> None:
    # Two uncoupled unit-mass particles with a = −x: x(t) = x0 cos t + v0 sin t, per axis.
    x0 = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0], [0.0, -2.0, 0.5, 0.0, 0.0, 1.0]])
    times = np.linspace(0.0, 2.0, 41)
    states = rk4_rollout(lambda x: -x[:, :2], x0, times, dim=2, substeps=5)
    exact = x0[None, :, :2] * np.cos(times)[:, None, None] + x0[None, :, 2:4] * np.sin(times)[:, None, None]
    assert states.shape == (41, 2, 6)
    assert np.abs(states[..., :2] - exact).max() < 1e-8
    assert (states[..., 4:] == x0[:, 4:]).all()  # charge and mass are carried, not integrated


def test_a_diverging_model_is_drawn_not_raised() -> None:
    states = rk4_rollout(
        lambda x: np.exp(50 * x[:, :1]) * np.ones((len(x), 1)), np.ones((1, 4)), np.linspace(0, 1, 5), 1, 4
    )
    assert not np.isfinite(states[-1]).all()


def _front(complexities: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "component": "e0",
            "complexity": complexities,
            "loss": [0.5, 0.1][: len(complexities)],
            "selected": [True, False][: len(complexities)],
        }
    )


def test_front_points_join_the_judge_verdict_to_the_front() -> None:
    component = {"component": "e0", "members": front_members("fail", "on_front")}
    points = front_points(_front([7, 11]), component)
    assert points["loss"].tolist() == [0.5, 0.1]
    assert points["receiver_scaled"].tolist() == [False, True] and not points["physical"].any()


def test_front_points_refuse_a_judge_verdict_of_another_front() -> None:
    component = {"component": "e0", "members": front_members("strict", "strict")}
    with pytest.raises(
        ValueError, match=r"the judge's members of e0 \(complexities \[7, 11\]\) are not the front's \(\[7\]\)"
    ):
        front_points(_front([7]), component)


def test_a_failed_search_still_gets_a_pareto_figure() -> None:
    verdict = {"symbolic_status": "timeout", "outcome": {"physical": "no_result"}, "reason": "no result after 128 s"}
    fig = pareto_figure(_front([])[:0], verdict, "spring_2d_n4/l1/seed0")
    assert "no symbolic result (timeout)" in fig.axes[0].texts[0].get_text()


def test_each_model_has_one_colour_and_the_reports_name_in_every_generalisation_panel() -> None:
    """The bar panel coloured the models in the record's order, the rollout panels in the JSON's sorted order:
    'symbolic' and 'symbolic_edge' swapped colours; the legends showed code names."""
    models = ["gn", "symbolic_edge", "symbolic"]
    score = {m: {"relative": 0.5 + k} for k, m in enumerate(models)}
    times = [0.0, 0.5, 1.0]
    rollout = {"error": {m: [0.1, 0.2, 0.3] for m in sorted(models)}}
    rollout["energy"] = {m: [0.0, 0.2, 0.3] for m in sorted([*models, "truth"])}  # and the stored trajectory's
    record = {"models": models, "sets": {"test": score, "wide": score}, "rollout": {"times": times, **rollout}}
    bars, errors, drift = generalisation_figure(record, "spring_2d_n4/l1/seed0").axes
    colour = {
        text.get_text(): to_hex(handle.get_facecolor())
        for handle, text in zip(bars.get_legend().legend_handles, bars.get_legend().get_texts(), strict=True)
    }
    assert sorted(colour) == sorted(GENERALISATION_MODELS.values())
    assert {line.get_label(): to_hex(line.get_color()) for line in errors.get_lines()} == colour
    energy = {line.get_label(): to_hex(line.get_color()) for line in drift.get_lines()}
    assert energy == colour | {"the simulation (stored)": "#000000"}
