"""Every system's pair law as mathematics (SymPy): the one registry the simulator, the judge and the report read.

Each law is a pair energy U(r, m₁, m₂, q₁, q₂): the eight built-ins below, and a researcher's own, written in
config (``systems.NAME.potential``) and registered here by the stage that reads it (``register``). From the one
expression come the simulator's force (−∇U by JAX autodiff of U, ``symdistill.nbody.systems``), the true pair force of
the message tables and the judge, and the law the report writes in the paper's notation ("≈ 0.37 (Δx − 0.2 Δy)
q₁q₂/r³"): F = −U′(r) Δ/r with Δ = x₁ − x₂, derived here, never written by hand. tests/test_laws.py checks that U
and F, with the softening r → r + s put back, are the functions the simulator integrates, so the law a reader sees
is the law the data obey. The paper writes its laws without the softening, and so does the report.

A job is one process: the stage that needs a researcher's law registers it from its params or from the dataset's
provenance before anything asks for it, and a second, different definition under one name is an error.

The module needs only SymPy and NumPy: the Snakefile checks every configured law with it before any job runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy

from symdistill.core.expressions import ExpressionError, parse
from symdistill.core.specs import Spec

AXES = ("x", "y", "z")
SOFTENING = 0.01  # the built-ins' r → r + 0.01, as the reference

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


SYMBOLS: dict[str, sympy.Symbol] = {"r": r, "m1": m1, "m2": m2, "q1": q1, "q2": q2}


@dataclass(frozen=True)
class PairLaw(Spec):
    """A system's pair energy as config and a dataset's provenance write it."""

    name: str
    potential: str  # U(r, m1, m2, q1, q2) as text: SymPy's for a built-in, the researcher's for their own
    softening: float  # r → r + softening inside U

    @property
    def builtin(self) -> bool:
        return self.name in POTENTIALS


_REGISTERED: dict[str, tuple[PairLaw, sympy.Expr]] = {}


def builtin_law(sim: str) -> PairLaw:
    return PairLaw(sim, str(POTENTIALS[sim]), SOFTENING)


def register(law: PairLaw) -> None:
    """Make a researcher's law known to this process; a built-in's must be the built-in itself."""
    if law.builtin:
        if law != builtin_law(law.name):
            raise ValueError(f"{law.name!r} is a built-in system; its law is {builtin_law(law.name)}, not {law}")
        return
    known = _REGISTERED.get(law.name)
    if known is not None:
        if known[0] != law:
            raise ValueError(f"two laws named {law.name!r} in one run: {known[0]} and {law}")
        return
    energy = parse(law.potential, SYMBOLS)
    _REGISTERED[law.name] = (law, energy)


def law_of(sim: str) -> PairLaw:
    if sim in POTENTIALS:
        return builtin_law(sim)
    try:
        return _REGISTERED[sim][0]
    except KeyError:
        raise ValueError(
            f"no pair law for {sim!r}; expected a built-in ({', '.join(POTENTIALS)}) or a system "
            f"under config 'systems' ({', '.join(_REGISTERED) or 'none registered'})"
        ) from None


def potential(sim: str) -> sympy.Expr:
    """U of ``sim``, without the softening."""
    if sim in POTENTIALS:
        return POTENTIALS[sim]
    law_of(sim)
    return _REGISTERED[sim][1]


def radial_force(sim: str) -> sympy.Expr:
    """−U′(r)/r: the force is this times Δ. Factored, as the paper writes laws (−2(r − 1)/r, not −2 + 2/r);
    a Piecewise law keeps its bands, each factored."""
    return _radial_force(potential(sim))


@cache
def _radial_force(energy: sympy.Expr) -> sympy.Expr:
    law = sympy.simplify(-sympy.diff(energy, r) / r)
    if isinstance(law, sympy.Piecewise):
        return sympy.Piecewise(*((sympy.factor(piece), band) for piece, band in law.args))
    return sympy.factor(law)


def softened(sim: str) -> sympy.Expr:
    """U of ``sim`` with the simulator's r → r + softening, where r is the plain distance."""
    return potential(sim).subs(r, r + sympy.nsimplify(law_of(sim).softening))


def force(sim: str, dim: int, soft: bool = False) -> list[sympy.Expr]:
    """F = −∇₁U, component by component, in Δ and r (``soft``: the softened potential the simulator uses)."""
    u = softened(sim) if soft else potential(sim)
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


def check_law(law: PairLaw, samples: int = 2000) -> None:
    """Raise ValueError, saying what is wrong, unless the simulator and the judge can use ``law``.

    Checked on sampled pairs as the simulator meets them (distances 0 to 10 plus the softening, masses
    exp(N(0, 1)), charges ±1): U depends on r; it is symmetric under exchanging the two bodies (the messages
    are −∇₁U(x₁, x₂) for either order); U and its force are finite, and at r = 0 in particular.
    """
    try:
        energy = parse(law.potential, SYMBOLS)
    except ExpressionError as err:
        raise ValueError(str(err)) from None
    if r not in energy.free_symbols:
        raise ValueError(f"U = {energy} does not depend on r: there is no force")
    if law.softening < 0:
        raise ValueError(f"softening {law.softening} is negative")
    rng = np.random.default_rng(0)
    dist = np.concatenate([[0.0], rng.uniform(0, 10, samples - 1)]) + law.softening
    mass, charge = np.exp(rng.normal(size=(2, samples))), np.sign(rng.normal(size=(2, samples)))
    symbols = (r, m1, m2, q1, q2)
    with np.errstate(all="ignore"):
        values = {
            name: np.broadcast_to(sympy.lambdify(symbols, expr, "numpy")(*args), dist.shape).astype(float)
            for name, expr, args in (
                ("U", energy, (dist, mass[0], mass[1], charge[0], charge[1])),
                ("exchanged", energy, (dist, mass[1], mass[0], charge[1], charge[0])),
                ("force", -sympy.diff(energy, r), (dist, mass[0], mass[1], charge[0], charge[1])),
            )
        }
    for name in ("U", "force"):
        bad = ~np.isfinite(values[name])
        if bad[0] and law.softening == 0:
            raise ValueError(f"{name} is singular at r = 0: set a softening > 0 (the built-ins use {SOFTENING})")
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                f"{name} is not finite at r = {dist[k] - law.softening:.3g} (softened {dist[k]:.3g}), "
                f"m1 = {mass[0, k]:.3g}, m2 = {mass[1, k]:.3g}, q1 = {charge[0, k]:g}, q2 = {charge[1, k]:g}"
            )
    if not np.allclose(values["U"], values["exchanged"], rtol=1e-9, atol=1e-12):
        raise ValueError(
            f"U = {energy} changes when the two bodies are exchanged (m1 ↔ m2, q1 ↔ q2): a pair energy is symmetric"
        )


# What the search must write for a law, as (what, the operators any one of which writes it). A message is an
# affine map of w · F = (w · Δ) (−U′(r)/r): sums and products always, and whatever −U′(r)/r contains.
ALWAYS = (("a sum", ("add", "sub")), ("a product", ("mul",)))


def required_operators(sim: str) -> list[tuple[str, tuple[str, ...]]]:
    """The operators ``sim``'s force law needs in the search, from its radial factor −U′(r)/r."""
    needs = dict(ALWAYS)
    for node in sympy.preorder_traversal(radial_force(sim)):
        needs.update(_needs(node))
    return sorted(needs.items())


def _needs(node: sympy.Basic) -> dict[str, tuple[str, ...]]:
    if isinstance(node, sympy.Piecewise):
        return {"bands (a piecewise law)": ()}
    if isinstance(node, sympy.Pow):
        exponent = node.exp
        found = {"a quotient": ("div",)} if exponent.is_negative else {}
        if exponent.is_Integer:
            return {**found, **({"a power": ("square", "mul", "pow")} if abs(exponent) >= 2 else {})}
        if abs(exponent) == sympy.Rational(1, 2):
            return {**found, "a square root": ("sqrt", "pow")}
        return {**found, f"the power {exponent}": ("pow",)}
    if isinstance(node, sympy.Function):
        name = {sympy.Abs: "abs"}.get(type(node), type(node).__name__)
        return {f"{name}()": (name,) if name in ("exp", "log", "abs", "sqrt") else ()}
    return {}


def missing_operators(sim: str, operators: Sequence[str]) -> list[str]:
    """What in ``sim``'s law the search with ``operators`` cannot write, in words; empty when it can."""
    return [
        f"{what} ({' or '.join(choices)})" if choices else f"{what} (no search operator)"
        for what, choices in required_operators(sim)
        if not set(choices) & set(operators)
    ]
