"""A formula written in config, read as data: parsed against a whitelist, never evaluated as code.

A config is shared between colleagues, so a string in it must not be able to run anything. Python's ``eval``
and SymPy's ``sympify``/``parse_expr`` (which call ``eval``) would run whatever the string says. Here Python's
own parser turns the text into a syntax tree, and only numbers, the symbols the caller names, a short list of
functions and the operators + − × ÷ and powers become SymPy; anything else is an ``ExpressionError`` that says
what was found and what is allowed. ``^`` is read as a power, as physicists (and PySR) write it.

Light on purpose (SymPy only): the Snakefile parses every configured potential before any job runs.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

import sympy

FUNCTIONS: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tanh": sympy.tanh,
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi}
MAX_LENGTH = 1000  # characters; a pair energy is a line of mathematics
MAX_EXPONENT = 64  # |p| in x**p for a literal p: 10**10**10 would otherwise make SymPy compute a huge integer

_BINARY: dict[type[ast.operator], Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_UNARY: dict[type[ast.unaryop], Callable[[sympy.Expr], sympy.Expr]] = {
    ast.USub: lambda a: -a,
    ast.UAdd: lambda a: a,
}


class ExpressionError(ValueError):
    """A formula that is not one the whitelist allows, or not well formed."""


def parse(text: str, symbols: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """``text`` as a SymPy expression in ``symbols``, built node by node from Python's syntax tree."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expected a formula as text, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"a formula of {len(text)} characters; at most {MAX_LENGTH} are read")
    try:
        # ^ as ** before parsing: Python's ^ binds looser than * and /, so q1*q2/r^2 would read as (q1*q2/r)^2
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"not a formula: {err.msg} at character {err.offset} of {text!r}") from None
    return _build(tree.body, symbols)


def _allowed(symbols: Mapping[str, sympy.Symbol]) -> str:
    return (
        f"symbols {', '.join(symbols)}; functions {', '.join(FUNCTIONS)}; constants {', '.join(CONSTANTS)}; "
        "numbers and + - * / ** (or ^)"
    )


def _build(node: ast.expr, symbols: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
    if isinstance(node, ast.Name):
        if node.id in symbols:
            return symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ExpressionError(f"unknown name {node.id!r}; allowed: {_allowed(symbols)}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left, symbols), _build(node.right, symbols)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_build(node.operand, symbols))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if node.keywords or len(node.args) != 1:
            raise ExpressionError(f"{node.func.id}() takes exactly one argument")
        return FUNCTIONS[node.func.id](_build(node.args[0], symbols))
    raise ExpressionError(f"{ast.unparse(node)!r} is not allowed in a formula; allowed: {_allowed(symbols)}")


def _check_power(base: sympy.Expr, exponent: sympy.Expr) -> None:
    """Bounded powers only: SymPy computes a power of two numbers exactly, and 9**9**9 would not finish."""
    if exponent.is_number and abs(complex(exponent)) > MAX_EXPONENT:
        raise ExpressionError(f"the exponent {exponent} is beyond ±{MAX_EXPONENT}")
    if base.is_number and exponent.is_number:
        try:
            size = abs(complex(base) ** complex(exponent))
        except (OverflowError, ZeroDivisionError):
            size = float("inf")
        if not size < 1e300:
            raise ExpressionError(f"the number {base}**{exponent} is beyond 1e300")
