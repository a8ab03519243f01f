"""The table of systems given as data without a law (issue 41): only their cells, the selected equation in the
paper's notation, its held-out fit, a missing number shown as n/a, every text escaped in HTML."""

from __future__ import annotations

from symdistill.core.names import Cell
from symdistill.reporting.distilled import distilled_frame, distilled_html, distilled_markdown, paper_notation


def _judge(outcome: str, fit: float | None) -> dict:
    members = [
        {"complexity": 3, "selected": False, "sympy": "dx", "heldout_fit_r2": 0.5},
        {"complexity": 7, "selected": True, "sympy": "0.123456*dx/r**2 - dy", "heldout_fit_r2": fit},
    ]
    return {
        "outcome": {"physical": outcome, "receiver_scaled": outcome},
        "components": [{"component": "e1", "members": members}],
    }


def test_the_selected_equation_is_written_as_the_paper_writes_it() -> None:
    assert paper_notation("0.123456*dx/r**2 - dy", 2) == "-Δy + 0.123*Δx/r**2"
    assert paper_notation("dz*m1", 3) == "m1*Δz"


def test_only_the_cells_without_a_law_are_listed_with_their_fit() -> None:
    blind, judged = Cell("blind_2d_n4", "l1", 1), Cell("spring_2d_n4", "l1", 0)
    frame = distilled_frame({judged: _judge("strict", 0.9), blind: _judge("no_law", None)}, {blind: 0.25})
    assert frame[["system", "model", "seed", "component", "complexity"]].values.tolist() == [
        ["blind", "l1", 1, "e1", 7]
    ]
    assert frame["equation"].item() == "-Δy + 0.123*Δx/r**2" and frame["heldout_fit_r2"].isna().item()
    assert "| blind 2D n=4 | l1 seed 1 | e1 | -Δy + 0.123*Δx/r**2 | 7 | n/a | 0.25 |" in distilled_markdown(frame)


def test_html_escapes_what_it_shows() -> None:
    frame = distilled_frame({Cell("blind_2d_n4", "l1", 0): _judge("no_law", 0.99)}, {})
    frame.loc[0, "equation"] = "<script>x</script>"
    page = distilled_html(frame)
    assert "<script>" not in page and "&lt;script&gt;" in page and "n/a" in page  # no test loss recorded
