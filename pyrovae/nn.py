"""Small neural-network building blocks shared by models and guides."""

from __future__ import annotations

from typing import Literal

from torch import nn

from pyrovae.errors import ConfigError
from pyrovae.options import suggest

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}

# The annotation of an activation option: its choices are the keys above.
Activation = Literal[tuple(ACTIVATIONS)]


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (``tanh``, ``relu``, ...)."""
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation '{name}'.{suggest(name, ACTIVATIONS)} "
            f"Choose one of: {', '.join(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def mlp(sizes, act: str = "tanh") -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``, ``act`` between layers, linear output.

    :param sizes: layer widths, input first and output last.
    :param act: activation name used after every hidden layer.
    """
    sizes = [int(s) for s in sizes]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation(act))
    return nn.Sequential(*layers)
