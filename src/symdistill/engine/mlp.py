"""The multilayer perceptron every network of the package is built from."""

from __future__ import annotations

from torch import nn


def mlp(n_in: int, hidden: int, n_out: int, activation: type[nn.Module] = nn.ReLU, layers: int = 3) -> nn.Sequential:
    """``layers`` hidden layers: three by default, as the reference's code (its paper text says two; the cosmology
    experiment's network, which the paper describes on its own, takes two)."""
    widths = [n_in, *[hidden] * layers]
    blocks: list[nn.Module] = []
    for a, b in zip(widths, widths[1:], strict=False):
        blocks += [nn.Linear(a, b), activation()]
    return nn.Sequential(*blocks, nn.Linear(hidden, n_out))
