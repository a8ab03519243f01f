"""The pair laws the report writes in the paper's notation are the laws the simulator integrates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy

from symdistill.nbody.laws import (
    PairLaw,
    check_law,
    deltas,
    fitted_law,
    force,
    law_of,
    m1,
    m2,
    missing_operators,
    potential,
    q1,
    q2,
    r,
    radial_force,
    register,
    softened,
)
from symdistill.nbody.systems import SIM_NAMES, get_system, pair_force, pair_potential, use

# Researchers' systems (config ``systems:``), registered in this process as a stage registers them
YUKAWA = PairLaw("yukawa", "-m1*m2*exp(-r/2)/r", 0.01)
LINEAR = PairLaw("linear", "m1*m2*r", 0.01)
DIPOLEISH = PairLaw("soft", "q1*q2*r^2/(1 + r^2)", 0.0)  # finite at r = 0: no softening needed
OWN = (YUKAWA, LINEAR, DIPOLEISH)


@pytest.fixture(autouse=True)
def own_laws_registered(own_laws_per_test: None) -> None:
    for law in OWN:
        use(law)


def _pairs(dim: int, edges: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Receiver and sender features (f, edges), features first as systems.py takes them; distances 0.1 to 5."""
    rng = np.random.default_rng(seed)
    receiver, sender = rng.normal(size=(2, 2 * dim + 2, edges))
    direction = rng.normal(size=(dim, edges))
    sender[:dim] = receiver[:dim] + np.exp(rng.uniform(np.log(0.1), np.log(5.0), edges)) * direction / np.linalg.norm(
        direction, axis=0
    )
    for nodes in (receiver, sender):
        nodes[-1] = np.exp(nodes[-1])
        nodes[-2] = np.sign(nodes[-2])
    return receiver, sender


def _numbers(expr: sympy.Expr, receiver: np.ndarray, sender: np.ndarray, dim: int) -> np.ndarray:
    delta = receiver[:dim] - sender[:dim]
    symbols = [*deltas(dim), r, m1, m2, q1, q2]
    values = [*delta, np.linalg.norm(delta, axis=0), receiver[-1], sender[-1], receiver[-2], sender[-2]]
    return np.broadcast_to(sympy.lambdify(symbols, expr, "numpy")(*values), delta.shape[1:]).astype(float)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("sim", [*SIM_NAMES, *(law.name for law in OWN)])
def test_the_law_is_the_simulated_pair_force_and_energy(sim: str, dim: int) -> None:
    receiver, sender = _pairs(dim)
    with jax.enable_x64(True):
        simulated = np.asarray(pair_force(sim, jnp.asarray(receiver), jnp.asarray(sender), dim, 4))
        energy = np.asarray(pair_potential(sim, jnp.asarray(receiver), jnp.asarray(sender), dim, 4))
    ours = np.stack([_numbers(f, receiver, sender, dim) for f in force(sim, dim, soft=True)])
    np.testing.assert_allclose(ours, simulated, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_numbers(softened(sim), receiver, sender, dim), energy, rtol=1e-10, atol=1e-12)


def test_the_paper_notation_drops_the_softening_and_keeps_the_bands() -> None:
    assert sympy.simplify(radial_force("charge") - q1 * q2 / r**3) == 0
    assert sympy.simplify(radial_force("r1") + m1 * m2 / r**2) == 0
    assert isinstance(radial_force("discontinuous"), sympy.Piecewise)


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Equal at a few points to the 3 significant digits the constants are shown with."""
    first = dict(zip([*deltas(2), r, m1, m2, q1, q2], [0.7, -1.3, 2.1, 1.7, 0.4, -1.0, 1.0], strict=True))
    return all(
        abs(complex(a.subs(p)) - complex(b.subs(p))) < 1e-3 * abs(complex(b.subs(p)))
        for p in (first, {k: 1.1 * v for k, v in first.items()})
    )


def test_a_fitted_law_reads_as_the_papers_equation() -> None:
    dx, dy = deltas(2)
    law = fitted_law("r2", [-0.8, 0.3], 0.0, "acceleration")  # the judge's weights on F/m₁ = -m₂Δ/r³
    assert _same(law, m2 * (0.8 * dx - 0.3 * dy) / r**3) and not _same(law, m2 * (0.8 * dx + 0.3 * dy) / r**3)
    rounded = fitted_law("charge", [0.123456, 0.0], 0.004321, "force")
    assert rounded.atoms(sympy.Float) == {sympy.Float("0.123", 3), sympy.Float("0.00432", 3)}
    assert _same(fitted_law("spring", [2.0], 0.5, "potential"), 2 * (r - 1) ** 2 + 0.5)
    with pytest.raises(ValueError, match="basis among force, acceleration, potential, not 'receiver'"):
        fitted_law("spring", [1.0, 0.0], 0.0, "receiver")


def test_a_researchers_system_is_a_system_like_the_builtins() -> None:
    assert sympy.simplify(radial_force("yukawa") + m1 * m2 * (r + 2) * sympy.exp(-r / 2) / (2 * r**3)) == 0
    assert get_system("soft").charged and not get_system("linear").charged
    assert law_of("linear") == LINEAR
    register(LINEAR)  # the same law again (a second reader of the same dataset) is no conflict
    with pytest.raises(ValueError, match="two laws named 'linear' in one run"):
        register(PairLaw("linear", "2*m1*m2*r", 0.01))
    with pytest.raises(ValueError, match="'spring' is a built-in system; its law is"):
        register(PairLaw("spring", "(r - 2)**2", 0.01))
    with pytest.raises(ValueError, match="no pair law for 'sprong'; expected a built-in"):
        law_of("sprong")


@pytest.mark.parametrize(
    ("potential", "softening", "says"),
    [
        ("m1*m2", 0.01, "does not depend on r"),
        ("-m1*m2/r", 0.0, "singular at r = 0: set a softening > 0"),
        ("log(r - 3)", 0.01, "U is not finite at r = "),
        ("sqrt(4 - r)", 0.01, "not finite at r = "),
        ("m1*r/m2", 0.01, "changes when the two bodies are exchanged"),
        ("q1*r", 0.01, "changes when the two bodies are exchanged"),
        ("r**2", -0.1, "softening -0.1 is negative"),
        ("exp(r^2)*x", 0.01, "unknown name 'x'"),
        ("__import__('os')", 0.01, "is not allowed"),
    ],
)
def test_a_law_the_simulator_cannot_use_is_refused_saying_why(potential: str, softening: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_law(PairLaw("mine", potential, softening))


def test_check_law_accepts_every_builtin_written_as_text() -> None:
    for sim in ("r1", "r2", "spring", "charge", "superposition"):
        check_law(PairLaw(f"{sim}copy", str(potential(sim)), 0.01))
    for law in OWN:
        check_law(law)


def test_the_operators_a_law_needs_are_named() -> None:
    basic = ["add", "sub", "mul", "div", "square"]
    assert missing_operators("yukawa", basic) == ["exp() (exp)"]
    assert missing_operators("yukawa", [*basic, "exp"]) == []
    assert missing_operators("r2", ["add", "sub", "mul"]) == ["a quotient (div)"]
    assert missing_operators("linear", basic) == []
    assert missing_operators("discontinuous", basic) == ["bands (a piecewise law) (no search operator)"]
