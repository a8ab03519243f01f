"""The eight systems' pair laws as mathematics (SymPy), so the report can write a recovered equation's law in the
paper's notation: "≈ 0.37 (Δx − 0.2 Δy) q₁q₂/r³".

Each law is the pair energy U(r, m₁, m₂, q₁, q₂) of ``symdistill.systems``; the force on the receiver is
F = −U′(r) Δ/r with Δ = x₁ − x₂, derived here, never written by hand. tests/test_laws.py checks that U and F,
with the softening r → r + 0.01 put back, are the functions the simulator integrates, so the law a reader sees
is the law the data obey. The paper writes its laws without the softening, and so does the report.

The module needs only SymPy: the report rule stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sympy

AXES = ("x", "y", "z")
SOFTENING = sympy.Rational(1, 100)  # systems.SOFTENING, as an exact number

r, m1, m2, q1, q2 = sympy.symbols("r m1 m2 q1 q2", positive=True)
_spring = (r - 1) ** 2
POTENTIALS: dict[str, sympy.Expr] = {
    "r1": m1 * m2 * sympy.log(r),
    "r2": -m1 * m2 / r,
    "spring": _spring,
    "damped": _spring,  # the drag is a one-body term, which φv learns, not the messages
    "charge": q1 * q2 / r,
    "superposition": q1 * q2 / r - m1 * m2 / r,
    "discontinuous": sympy.Piecewise((0, r < 2), (_spring, True)),
    "string": _spring,  # gravity is a one-body term
}


def deltas(dim: int) -> list[sympy.Symbol]:
    """Δx, Δy, (Δz): receiver minus sender, as the messages' inputs dx, dy, (dz) are."""
    return [sympy.Symbol(f"Δ{a}", real=True) for a in AXES[:dim]]


@cache
def potential(sim: str) -> sympy.Expr:
    try:
        return POTENTIALS[sim]
    except KeyError:
        raise ValueError(f"no pair law for {sim!r}; expected one of {', '.join(POTENTIALS)}") from None


@cache
def radial_force(sim: str) -> sympy.Expr:
    """−U′(r)/r: the force is this times Δ. Factored, as the paper writes laws (−2(r − 1)/r, not −2 + 2/r);
    a Piecewise law keeps its bands, each factored."""
    law = sympy.simplify(-sympy.diff(potential(sim), r) / r)
    if isinstance(law, sympy.Piecewise):
        return sympy.Piecewise(*((sympy.factor(piece), band) for piece, band in law.args))
    return sympy.factor(law)


def softened(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with the simulator's r → r + softening, where r is the plain distance."""
    return expr.subs(r, r + SOFTENING)


def force(sim: str, dim: int, soft: bool = False) -> list[sympy.Expr]:
    """F = −∇₁U, component by component, in Δ and r (``soft``: the softened potential the simulator uses)."""
    u = softened(potential(sim)) if soft else potential(sim)
    return [-sympy.diff(u, r) * d / r for d in deltas(dim)]


def round_constants(expr: sympy.Expr, digits: int) -> sympy.Expr:
    """Every float in ``expr`` to ``digits`` significant digits (integers and rationals stay exact)."""
    return expr.xreplace({f: sympy.Float(float(f"{float(f):.{digits}g}"), digits) for f in expr.atoms(sympy.Float)})


LAW_BASES = ("force", "acceleration", "potential")  # the judge's bases with one affine fit (no receiver groups)


def fitted_law(sim: str, weights: Sequence[float], offset: float, basis: str, digits: int = 3) -> sympy.Expr:
    """The judge's affine fit of a front member on the law, written as the paper writes its laws: ``w · F + c``
    (basis "force") as the direction w · Δ times −U′(r)/r, ``w · F/m₁ + c`` ("acceleration"), or ``w U + c``
    ("potential", FlatHGN's pair energy)."""
    if basis not in LAW_BASES:
        raise ValueError(f"a law in the paper's notation has a basis among {', '.join(LAW_BASES)}, not {basis!r}")
    if basis == "potential":
        (w,) = weights
        return round_constants(sympy.Float(w), digits) * potential(sim) + round_constants(sympy.Float(offset), digits)
    direction = sum(
        (round_constants(sympy.Float(w), digits) * d for w, d in zip(weights, deltas(len(weights)), strict=True)),
        sympy.Integer(0),
    )
    scale = radial_force(sim) / (m1 if basis == "acceleration" else 1)
    return direction * scale + round_constants(sympy.Float(offset), digits)
