"""Amortized encoders: a network reading a data point (or latent samples) and a posterior
family (:mod:`pyrovae.blocks.families`) on top, :math:`u \\mapsto q(z \\mid u)`. The guides
:mod:`pyrovae.guides.mlp_normal`, :mod:`pyrovae.guides.spec_encoder` and
:mod:`pyrovae.guides.m2` are made of them."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.base.nn import hidden_mlp
from pyrovae.blocks.decoders import ConvFeatures
from pyrovae.blocks.tensors import cat_features


class FlatFeatures(nn.Module):
    """A data point (or a latent vector) as a flat vector.

    :param input_shape: shape of one input.
    """

    def __init__(self, input_shape):
        super().__init__()
        self.rank = len(input_shape)
        self.out_dim = int(torch.Size(input_shape).numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(-self.rank) if self.rank > 1 else x


#: name -> factory(input_shape, channels, activation) of the network reading a data point.
FEATURES = {
    "mlp": lambda shape, channels, act: FlatFeatures(shape),
    "conv": lambda shape, channels, act: ConvFeatures(shape, channels, act),
}


class GroupEncoder(nn.Module):
    r""":math:`q(z \mid u, y) = \text{family}(\mathrm{MLP}([f(u), y]))` for one latent group,
    where :math:`f` is :class:`FlatFeatures` or :class:`~pyrovae.blocks.decoders.ConvFeatures`.

    :param features: the network :math:`f` (with an ``out_dim``).
    :param label_dim: size of the one-hot label, 0 without.
    :param hidden: hidden widths of the MLP (its output is the last hidden layer, activated).
    :param act: activation name.
    :param head_factory: ``head_factory(in_dim)`` builds the posterior family, which reads
        the MLP's output.
    """

    def __init__(self, features: nn.Module, label_dim: int, hidden, act: str, head_factory):
        super().__init__()
        self.features = features
        in_dim = features.out_dim + label_dim
        self.trunk = hidden_mlp([in_dim, *hidden], act) if hidden else \
            nn.Identity()
        self.head = head_factory(hidden[-1] if hidden else in_dim)

    def forward(self, inputs: torch.Tensor, label: torch.Tensor | None = None) -> dist.Distribution:
        return self.head(self.trunk(cat_features(self.features(inputs), label)))


