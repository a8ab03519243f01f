"""The simulated systems: the reference's eight (MilesCranmer/symbolic_deep_learning, simulate.py) and a researcher's
own pair potentials from config, all entries of one registry.

A node is a feature vector ``[x, y, (z), vx, vy, (vz), q, m]`` laid out *features first*, so the same
potential code runs on one node (shape ``(f,)``) or on a batch of nodes (shape ``(f, B)``).

Each system's ``interaction`` U(x1, x2) between two nodes is its pair energy from ``symdistill.nbody.laws`` (SymPy),
compiled to JAX: the simulator's force is −∇U by autodiff, and the messages' true force and the judge's law come
from the same expression. ``damped`` and ``string`` add a term that the reference adds inside the same pair loop
but that depends on node 1 alone (``external``), written here in JAX as the reference writes it. The total
potential is exactly the reference's: Σ over pairs (i < j; ``string``: only j = i + 1) of
``interaction(x_i, x_j) + external(x_i)``. Keeping the two parts apart lets the message stage evaluate the
true *pair* force on a receiver without the one-body terms, which the node model φv learns instead.

Distances are softened additively, r' = |x1 − x2| + s, with the reference's s = 0.01 for the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import sympy

from symdistill.nbody import laws

Array = jax.Array
PairFn = Callable[[Array, Array, int, int], Array]
SelfFn = Callable[[Array, int, int], Array]


def softened_distance(x1: Array, x2: Array, dim: int, softening: float) -> Array:
    return jnp.sqrt(jnp.sum((x1[:dim] - x2[:dim]) ** 2, axis=0)) + softening


@cache
def _compiled(law: laws.PairLaw) -> Callable[..., Array]:
    """U(r, m1, m2, q1, q2) as a JAX function (SymPy's printer; the expression is the parsed, whitelisted one)."""
    return sympy.lambdify((laws.r, laws.m1, laws.m2, laws.q1, laws.q2), laws.potential(law.name), modules="jax")


def interaction(law: laws.PairLaw, x1: Array, x2: Array, dim: int) -> Array:
    """The pair energy of nodes ``x1`` and ``x2`` at their softened distance."""
    distance = softened_distance(x1, x2, dim, law.softening)
    return jnp.broadcast_to(_compiled(law)(distance, x1[-1], x2[-1], x1[-2], x2[-2]), distance.shape)


def _damping(x1: Array, dim: int, n: int) -> Array:
    # x1 · v1 / n: its gradient in x1 is v1 / n, a drag applied once per pair in which node 1 has the lower index.
    return jnp.sum(x1[:dim] * x1[dim : 2 * dim], axis=0) / n


def _gravity(x1: Array, dim: int, n: int) -> Array:
    return x1[1] * x1[-1]


@dataclass(frozen=True)
class System:
    """One simulated system: its pair law (``laws``) and the reference's choices around it."""

    name: str
    external: SelfFn | None = None
    chain: bool = False  # adjacent pairs only (the string)
    charged: bool = False  # charges drawn as ±1 instead of an unused N(0, 1) feature
    conservative: bool = True
    description: str = ""

    @property
    def law(self) -> laws.PairLaw:
        return laws.law_of(self.name)

    def interaction(self, x1: Array, x2: Array, dim: int, n: int) -> Array:
        return interaction(self.law, x1, x2, dim)

    def potential_terms(self, x1: Array, x2: Array, dim: int, n: int) -> Array:
        """The reference's per-pair summand: interaction plus node 1's one-body term."""
        u = self.interaction(x1, x2, dim, n)
        if self.external is not None:
            u = u + self.external(x1, dim, n)
        return u


BUILTINS: dict[str, System] = {
    s.name: s
    for s in (
        System("r1", description="U = m1 m2 log r'"),
        System("r2", description="U = -m1 m2 / r'"),
        System("spring", description="U = (r' - 1)^2"),
        System(
            "damped",
            external=_damping,
            conservative=False,
            description="U = (r' - 1)^2 + x1.v1/n (drag on the lower-index node of each pair)",
        ),
        System("charge", charged=True, description="U = q1 q2 / r'"),
        System("superposition", charged=True, description="U = q1 q2 / r' - m1 m2 / r'"),
        System("discontinuous", description="U = 0 for r' < 2, (r' - 1)^2 for r' >= 2"),
        System(
            "string",
            external=_gravity,
            chain=True,
            description="U = (r' - 1)^2 + y1 m1 between chain neighbours (gravity on all but the last node)",
        ),
    )
}

SIM_NAMES: tuple[str, ...] = tuple(BUILTINS)


def get_system(name: str) -> System:
    """A built-in, or a researcher's system once its law is registered (``use``)."""
    if name in BUILTINS:
        return BUILTINS[name]
    law = laws.law_of(name)
    charged = bool({laws.q1, laws.q2} & laws.potential(name).free_symbols)
    return System(name, charged=charged, description=f"U = {law.potential} (config systems.{name})")


def use(law: laws.PairLaw | dict) -> System:
    """Register ``law`` (a PairLaw or its fields) in this process and return its system."""
    law = law if isinstance(law, laws.PairLaw) else laws.PairLaw(**law)
    laws.register(law)
    return get_system(law.name)


def interaction_pairs(name: str, n: int) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, whose potential the reference sums; only a built-in is a chain."""
    if name in BUILTINS and BUILTINS[name].chain:
        return [(i, i + 1) for i in range(n - 1)]
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def edge_index(name: str, n: int) -> tuple[list[int], list[int]]:
    """Directed graph edges (senders, receivers), sorted by receiver.

    Fully connected without self-loops, or both directions of the chain for the string. Sorting by
    receiver lets the fast training path sum a node's incoming messages with a reshape.
    """
    pairs = interaction_pairs(name, n)
    directed = sorted({(i, j) for i, j in pairs} | {(j, i) for i, j in pairs}, key=lambda e: (e[1], e[0]))
    return [s for s, _ in directed], [r for _, r in directed]


def total_potential(name: str, nodes: Array, dim: int) -> Array:
    """Σ over the reference's pairs; ``nodes`` has shape (n, f, ...) and the result the trailing shape."""
    system = get_system(name)
    n = nodes.shape[0]
    return sum(system.potential_terms(nodes[i], nodes[j], dim, n) for i, j in interaction_pairs(name, n))


def acceleration(name: str, nodes: Array, dim: int) -> Array:
    """−∇_positions U_total / m for nodes of shape (n, f, ...); returns shape (n, dim, ...)."""
    grad = jax.grad(lambda pos: jnp.sum(total_potential(name, nodes.at[:, :dim].set(pos), dim)))
    return -grad(nodes[:, :dim]) / nodes[:, -1:]


def pair_force(name: str, receiver: Array, sender: Array, dim: int, n: int) -> Array:
    """Force of the interaction alone on the receiver, −∇_{x1} U(x1, x2); inputs (f, E), output (dim, E)."""
    interaction = get_system(name).interaction
    grad = jax.grad(lambda pos: jnp.sum(interaction(receiver.at[:dim].set(pos), sender, dim, n)))
    return -grad(receiver[:dim])


def pair_potential(name: str, receiver: Array, sender: Array, dim: int, n: int) -> Array:
    """The interaction energy U(x1, x2) of each pair, without one-body terms; inputs (f, E), output (E,).

    What FlatHGN's pair energy should encode, up to a scale and an additive function of charges and masses.
    """
    return get_system(name).interaction(receiver, sender, dim, n)
