"""Initial values a training protocol asks for: weight schemes for every linear layer, and an
output bias at the data's mean."""

from __future__ import annotations

import math

import torch
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import choice
from pyrovae.config import INIT_BIASES


def _he(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / layer.in_features))


def _glorot(layer: nn.Linear) -> None:
    nn.init.xavier_uniform_(layer.weight)


def _glorot_normal(layer: nn.Linear) -> None:
    nn.init.xavier_normal_(layer.weight)


SCHEMES = {"he": _he, "glorot": _glorot, "glorot_normal": _glorot_normal}


@torch.no_grad()
def init_linear(modules, scheme: str, bias: str = "zero") -> int:
    r"""Re-draw the weights of every ``nn.Linear`` in ``modules`` by ``scheme``: ``he`` (He et al.
    2015), :math:`W_{ij} \sim \mathcal N(0, 2 / n_\text{in})`; ``glorot`` (Glorot and Bengio
    2010), :math:`W_{ij} \sim \mathcal U(\pm\sqrt{6 / (n_\text{in} + n_\text{out})})`;
    ``glorot_normal``, :math:`W_{ij} \sim \mathcal N(0, 2 / (n_\text{in} + n_\text{out}))`;
    ``default`` leaves every layer as built. ``bias``: ``zero`` zeroes the drawn layers' biases,
    ``default`` keeps those they were built with. A layer shared by two modules is drawn once.
    Draws from torch's global generator, which the caller seeded.

    :returns: the number of layers drawn.
    """
    if scheme == "default":
        return 0
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown init '{scheme}'; choose one of: default, "
                          f"{', '.join(SCHEMES)}.")
    choice("init_bias", bias, INIT_BIASES)
    seen: set[int] = set()
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Linear) and id(layer) not in seen:
                seen.add(id(layer))
                SCHEMES[scheme](layer)
                if layer.bias is not None and bias == "zero":
                    layer.bias.zero_()
    return len(seen)


def check_output_bias(model) -> None:
    """Raise :class:`ConfigError` unless ``model`` can take ``output_bias = "data_mean"``."""
    if not callable(getattr(model, "init_output_bias", None)):
        raise ConfigError(f'train.output_bias = "data_mean" needs a model with a method '
                          f'init_output_bias(mean); {type(model).__name__} has none. Leave the '
                          f'option out, or add the method to your model.')


@torch.no_grad()
def init_output_bias(model, x: torch.Tensor) -> None:
    """Call ``model.init_output_bias(mean)`` with the mean data point of ``x`` ``[N, ...]``."""
    check_output_bias(model)
    model.init_output_bias(x.float().mean(0))
