"""A formula in a shared config is data: the whitelist parser builds SymPy, and refuses anything that could run."""

from __future__ import annotations

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symdistill.core.expressions import EQUATION, POTENTIAL, ExpressionError, parse
from symdistill.nbody.laws import SYMBOLS, m1, m2, q1, q2, r


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m1*m2*log(r)", m1 * m2 * sympy.log(r)),
        ("-m1 * m2 * exp(-r / 2) / r", -m1 * m2 * sympy.exp(-r / 2) / r),
        ("q1*q2/r^2", q1 * q2 / r**2),  # ^ is a power, as physicists write it
        ("(r - 1)**2 + 0.5*pi", (r - 1) ** 2 + sympy.Rational(1, 2) * sympy.pi),
        ("sqrt(abs(r)) * tanh(r) + sin(r) * cos(r)", sympy.sqrt(r) * sympy.tanh(r) + sympy.sin(r) * sympy.cos(r)),
        ("+r", r),
    ],
)
def test_formulas_become_the_sympy_they_say(text: str, expected: sympy.Expr) -> None:
    assert sympy.simplify(parse(text, SYMBOLS) - expected) == 0


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("__import__('os').system('true')", "is not allowed"),
        ("r.__class__", "is not allowed"),
        ("open('/etc/passwd')", "is not allowed"),
        ("(lambda: 0)()", "is not allowed"),
        ("sympy.exp(r)", "is not allowed"),
        ("x * r", "unknown name 'x'"),
        ("E * r", "unknown name 'E'"),
        ("'r' * 2", "is not allowed"),
        ("True * r", "is not allowed"),
        ("1j * r", "is not allowed"),
        ("r < 2", "is not allowed"),
        ("[r, r]", "is not allowed"),
        ("r if r else 1", "is not allowed"),
        ("exp(r, 2)", "exactly one argument"),
        ("exp(x=r)", "exactly one argument"),
        ("r ** 1000", "beyond ±64"),
        ("9**9**9", "beyond"),
        ("1e10**40 * r", "beyond 1e300"),
        # bounded work: each of these hung, or raised an OverflowError that named nothing
        ("r**exp(exp(exp(exp(5))))", "beyond 1e300"),
        ("exp(exp(exp(exp(5.0)))) * r", "beyond 1e300"),
        ("1" + "0" * 330 + " * r", "beyond 1e300"),
        ("(-1)**(1/2)*m1*m2*r", "is not real"),
        ("sqrt(-2) * r", "is not real"),
        ("r" + " + r" * 3000, "at most"),
        ("m1 * m2 *", "not a formula"),
        ("r; import os", "not a formula"),
        ("", "expected a formula"),
        ("r + " * POTENTIAL.max_length + "r", "at most"),
    ],
)
def test_anything_else_is_refused_with_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(ExpressionError, match=says):
        parse(text, SYMBOLS)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ExpressionError, match="expected a formula as text"):
        parse(3, SYMBOLS)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="rmq12+-*/^().,_ ablmdxpoinsqte'\"[]{}:;=<>!@#$%&|~`\\", max_size=60))
def test_any_text_is_a_formula_or_one_expression_error(text: str) -> None:
    """Fuzzed: nothing but an ExpressionError (a ValueError with a message) ever comes out of the parser."""
    try:
        expr = parse(text, SYMBOLS)
    except ExpressionError as err:
        assert str(err)
    else:
        assert isinstance(expr, sympy.Basic)


def test_bounded_work_is_checked_before_sympy_evaluates_a_number() -> None:
    """``r**exp(exp(exp(exp(5))))`` hung every Snakemake call (SymPy evaluated the exponent); it is refused at once,
    as is a sum nested beyond Python's recursion (within the equation grammar's length)."""
    with pytest.raises(ExpressionError, match="beyond 1e300"):
        parse("r**exp(exp(exp(exp(5))))", SYMBOLS)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("r" + "+r" * 5000, SYMBOLS, EQUATION)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("square(dx) + cube(r) - inv(m1) * neg(q2)", sympy.Symbol("dx") ** 2 + r**3 + q2 / m1),  # PySR's names
        ("Abs(dx)*E + 1.0e-20*r", sympy.Abs(sympy.Symbol("dx")) * sympy.E + sympy.Float(1e-20) * r),  # SymPy's str
        ("1.4142135623731*I*r", sympy.Float(1.4142135623731) * sympy.I * r),
        ("zoo*r", sympy.zoo * r),
        ("(dx ^ 2.0) / r", sympy.Symbol("dx") ** 2.0 / r),
    ],
)
def test_equations_read_what_the_searches_and_sympy_write(text: str, expected: sympy.Expr) -> None:
    symbols = {**SYMBOLS, "dx": sympy.Symbol("dx")}
    assert parse(text, symbols, EQUATION) == expected


@pytest.mark.parametrize("text", ["__import__('os').system('true') + dx", "dx.__class__", "getattr(dx, 'x')"])
def test_the_equation_grammar_runs_nothing(text: str) -> None:
    with pytest.raises(ExpressionError, match="is not allowed"):
        parse(text, {"dx": sympy.Symbol("dx")}, EQUATION)
