"""A formula read as data, never run as code: parsed against a whitelist, with bounded work.

Formulas come from places a run does not control: a pair energy in a shared config (``POTENTIAL``), and every
equation a search wrote into a front or a result file (``EQUATION``), which may be a colleague's results folder.
Python's ``eval`` and SymPy's ``sympify``/``parse_expr`` (which call ``eval``) would run whatever such a string
says. Here Python's own parser turns the text into a syntax tree, and only numbers, the symbols the caller names,
a short list of functions and constants, and the operators + − × ÷ and powers become SymPy; anything else is an
``ExpressionError`` that names the token found and what is allowed. ``^`` is read as a power, as physicists (and
PySR) write it.

The work is bounded before SymPy sees a number. SymPy evaluates numbers exactly (``9**9**9``) or to arbitrary
range (``exp(exp(exp(exp(5))))``), either of which would not finish; so every constant sub-formula is first
evaluated here in double precision, and one whose value overflows or passes 1e300 is refused. A formula's length
and its nesting are bounded too.

Every equation string a stage reads, from a backend or from any file, becomes SymPy through ``to_sympy`` (and
values on a table's rows through ``evaluate``): this is the only parser of equation strings.

Light on purpose (SymPy and NumPy only): the Snakefile parses every configured potential before any job runs.
"""

from __future__ import annotations

import ast
import cmath
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy

if TYPE_CHECKING:  # light on purpose: a table's columns are only read here
    import pandas as pd

Function = Callable[[sympy.Expr], sympy.Expr]
Value = complex | None  # a constant sub-formula's value in double precision; None where it depends on a symbol

LIMIT = 1e300  # the largest magnitude of a constant sub-formula


class ExpressionError(ValueError):
    """A formula that is not one the whitelist allows, or not well formed."""


@dataclass(frozen=True)
class Grammar:
    """What a kind of formula may contain: functions (each with its double-precision twin, which bounds the work),
    named constants, the largest literal exponent, the longest text, and whether complex constants are allowed."""

    functions: Mapping[str, tuple[Function, Callable[[complex], complex]]]
    constants: Mapping[str, sympy.Expr]
    max_exponent: float
    max_length: int
    complex_constants: bool = False


_FUNCTIONS = {
    "exp": (sympy.exp, cmath.exp),
    "log": (sympy.log, cmath.log),
    "sqrt": (sympy.sqrt, cmath.sqrt),
    "abs": (sympy.Abs, abs),
    "sin": (sympy.sin, cmath.sin),
    "cos": (sympy.cos, cmath.cos),
    "tanh": (sympy.tanh, cmath.tanh),
}
# A pair energy in config: a line of mathematics. |p| ≤ 64 in x**p keeps its derivatives and the report's
# simplification small.
POTENTIAL = Grammar(_FUNCTIONS, {"pi": sympy.pi}, max_exponent=64, max_length=1000)
# What the searches write: pyoperon's and PySR's operator names (PySR's cube, inv and neg included: SymPy does
# not know them, and lambdify would map an unknown inv to numpy.linalg.inv), and what SymPy's printer writes back
# into front.parquet's ``sympy`` column (Abs, E, I; zoo, oo and nan for a member that divides by zero).
EQUATION = Grammar(
    {
        **_FUNCTIONS,
        "Abs": _FUNCTIONS["abs"],
        "square": (lambda x: x**2, lambda x: x * x),
        "cube": (lambda x: x**3, lambda x: x * x * x),
        "inv": (lambda x: 1 / x, lambda x: 1 / x),
        "neg": (lambda x: -x, lambda x: -x),
    },
    {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "zoo": sympy.zoo, "nan": sympy.nan},
    max_exponent=1000,
    max_length=20_000,
    complex_constants=True,
)

_BINARY: dict[type[ast.operator], Callable] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_UNARY: dict[type[ast.unaryop], Callable] = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}


def parse(text: str, symbols: Mapping[str, sympy.Symbol], grammar: Grammar = POTENTIAL) -> sympy.Expr:
    """``text`` as a SymPy expression in ``symbols``, built node by node from Python's syntax tree."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expected a formula as text, got {_shown(text)}")
    if len(text) > grammar.max_length:
        raise ExpressionError(f"a formula of {len(text)} characters; at most {grammar.max_length} are read")
    try:
        # ^ as ** before parsing: Python's ^ binds looser than * and /, so q1*q2/r^2 would read as (q1*q2/r)^2
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
        return _Builder(symbols, grammar).build(tree.body)[0]
    except SyntaxError as err:
        raise ExpressionError(f"not a formula: {err.msg} at character {err.offset} of {_shown(text)}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"a formula nested too deeply to read: {_shown(text)}") from None


def _shown(text: object, limit: int = 200) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(shown)} characters)"


class _Builder:
    """SymPy from a syntax tree, each constant sub-formula's value computed alongside in double precision."""

    def __init__(self, symbols: Mapping[str, sympy.Symbol], grammar: Grammar):
        self.symbols, self.grammar = symbols, grammar

    def build(self, node: ast.expr) -> tuple[sympy.Expr, Value]:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            value = self._bounded(lambda: complex(node.value), lambda: _shown(ast.unparse(node), 40))
            number = sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
            return number, value
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._binary(node)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            operand, value = self.build(node.operand)
            apply = _UNARY[type(node.op)]
            return apply(operand), None if value is None else apply(value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.grammar.functions:
            if node.keywords or len(node.args) != 1:
                raise ExpressionError(f"{node.func.id}() takes exactly one argument")
            exact, approximate = self.grammar.functions[node.func.id]
            argument, value = self.build(node.args[0])
            if value is not None:
                value = self._bounded(lambda: approximate(value), lambda: _shown(ast.unparse(node), 80))
            return exact(argument), value
        raise ExpressionError(
            f"{_shown(ast.unparse(node), 80)} is not allowed in a formula; allowed: {self._allowed()}"
        )

    def _name(self, name: str) -> tuple[sympy.Expr, Value]:
        if name in self.symbols:
            return self.symbols[name], None
        if name in self.grammar.constants:
            constant = self.grammar.constants[name]
            value = complex(constant) if constant.is_finite else None
            return constant, self._checked(value, name)
        raise ExpressionError(f"unknown name {name!r}; allowed: {self._allowed()}")

    def _binary(self, node: ast.BinOp) -> tuple[sympy.Expr, Value]:
        (left, a), (right, b) = self.build(node.left), self.build(node.right)
        apply = _BINARY[type(node.op)]
        if isinstance(node.op, ast.Pow) and b is not None and abs(b) > self.grammar.max_exponent:
            raise ExpressionError(f"the exponent {right} is beyond ±{self.grammar.max_exponent:g}")
        value = None
        if a is not None and b is not None:
            value = self._bounded(lambda: apply(a, b), lambda: _shown(ast.unparse(node), 80))
        return apply(left, right), value

    def _bounded(self, compute: Callable[[], complex], text: Callable[[], str]) -> Value:
        """``compute()``, refused where it overflows, is not finite or passes LIMIT: SymPy would compute it exactly."""
        try:
            value = complex(compute())
        except ZeroDivisionError:
            return None  # SymPy writes zoo; nothing to compute
        except (OverflowError, ValueError):
            value = complex(math.inf)
        if not (cmath.isfinite(value) and abs(value) <= LIMIT):
            raise ExpressionError(f"the number {text()} is beyond 1e300")
        return self._checked(value, text())

    def _checked(self, value: Value, text: str) -> Value:
        if value is not None and value.imag != 0 and not self.grammar.complex_constants:
            raise ExpressionError(f"the number {text} is not real ({value:.3g}): a formula here has real values")
        return value

    def _allowed(self) -> str:
        return (
            f"symbols {', '.join(self.symbols)}; functions {', '.join(self.grammar.functions)}; "
            f"constants {', '.join(self.grammar.constants)}; numbers and + - * / ** (or ^)"
        )


# ---------------------------------------------------------------- an equation string from a search or a file


def to_sympy(text: str, names: list[str]) -> sympy.Expr:
    """A backend's equation string, or one read back from a front, as SymPy in the inputs ``names``.

    Through the whitelist parser (``EQUATION``), never SymPy's ``parse_expr``, which calls
    ``eval``: a front is a file, and a colleague's results folder may hold one that says ``__import__('os')…``.
    Both backends' operator names (PySR's cube, inv and neg included) are read as the functions they mean; any
    other name raises ``ExpressionError``, naming it.
    """
    return parse(text, {n: sympy.Symbol(n) for n in names}, EQUATION)


def evaluate(expression: str, names: list[str], data: pd.DataFrame) -> np.ndarray:
    """An expression's values on the rows of ``data`` (float64; a constant broadcast to every row)."""
    expr = to_sympy(expression, names)
    function = sympy.lambdify([sympy.Symbol(n) for n in names], expr, modules="numpy")
    with np.errstate(all="ignore"):
        values = function(*(data[n].to_numpy(np.float64) for n in names))
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (len(data),)).copy()
