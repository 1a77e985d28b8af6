"""Priors of latent groups, by name: :math:`p(z)` for a top group, :math:`p(z \\mid
\\text{parents})` for a group given others.

A top-group prior is a module with ``dist(n, like)`` returning a distribution with batch shape
``[n]`` and event shape ``[dim]`` on ``like``'s device and dtype.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyrovae.base.distributions import LATENT_SCALE_FLOOR, DiagonalNormalMixture, independent_normal
from pyrovae.base.errors import ModelGuideError
from pyrovae.base.nn import mlp
from pyrovae.base.options import choice

SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(SOFTPLUS_ONE) = 1


class StandardNormal(nn.Module):
    r""":math:`p(z) = \mathcal N(0, I)`."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def dist(self, n: int, like: torch.Tensor) -> dist.Distribution:
        return independent_normal(like.new_zeros(n, self.dim), 1.0, 1)


class LearnedNormal(nn.Module):
    r""":math:`p(z) = \mathcal N(\mu, \operatorname{diag}\sigma^2)` with learned
    :math:`\mu, \sigma` (initially :math:`\mathcal N(0, I)`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.raw_scale = nn.Parameter(torch.full((dim,), SOFTPLUS_ONE))

    def dist(self, n: int, like: torch.Tensor) -> dist.Distribution:
        scale = F.softplus(self.raw_scale) + LATENT_SCALE_FLOOR
        return independent_normal(self.loc, scale, 1).expand([n])


def mixture_dist(logits: torch.Tensor, components: dist.Distribution, n: int):
    r""":math:`\sum_k \pi_k\, p_k(z)`, :math:`\pi = \operatorname{softmax}(\text{logits})`, for
    ``components`` with batch shape ``[K]``, expanded to batch shape ``[n]``: a
    :class:`~pyrovae.base.distributions.DiagonalNormalMixture` when the components are diagonal
    Normals on vectors, else Pyro's ``MixtureSameFamily``."""
    if (isinstance(components, torch.distributions.Independent)
            and components.reinterpreted_batch_ndims == 1
            and isinstance(components.base_dist, torch.distributions.Normal)):
        normal = components.base_dist
        return DiagonalNormalMixture(logits, normal.loc, normal.scale).expand([n])
    return dist.MixtureSameFamily(dist.Categorical(logits=logits), components).expand([n])


class MixturePrior(nn.Module):
    r"""A learned mixture of :math:`K` diagonal Gaussians,
    :math:`p(z) = \sum_{k=1}^K \pi_k \mathcal N(z; \mu_k, \operatorname{diag}\sigma_k^2)`.

    Means start at random (standard Normal), scales at 1 and weights uniform.

    :param dim: dimension of :math:`z`.
    :param components: :math:`K`.
    """

    def __init__(self, dim: int, components: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(components))
        self.locs = nn.Parameter(torch.randn(components, dim))
        self.raw_scales = nn.Parameter(torch.full((components, dim), SOFTPLUS_ONE))

    def components_dist(self) -> dist.Distribution:
        """The :math:`K` Gaussians, batch shape ``[K]``."""
        return independent_normal(self.locs, F.softplus(self.raw_scales) + LATENT_SCALE_FLOOR, 1)

    def dist(self, n: int, like: torch.Tensor) -> dist.Distribution:
        return mixture_dist(self.logits, self.components_dist(), n)


#: How a VampPrior's pseudo-inputs reach the encoder: as learned (``free``), or through a hard tanh
#: to [0, 1], the range of binary and grayscale data (``hardtanh``, Tomczak and Welling's code).
PSEUDO_INPUTS = ("free", "hardtanh")


class VampPrior(nn.Module):
    r"""The variational mixture of posteriors (Tomczak and Welling 2018),
    :math:`p(z) = \frac1K \sum_{k=1}^K q_\phi(z \mid u_k)`, with learned pseudo-inputs
    :math:`u_k` and the guide's own encoder :math:`q_\phi`.

    The pseudo-inputs are this module's parameters. The encoder is the guide's: the model and
    its default guide are built together (:func:`pyrovae.guides.spec_encoder.make_spec_pair`,
    :func:`pyrovae.guides.hvae.make_hvae_pair`), which sets ``encoder`` to the guide's encoder
    of this latent group, a submodule of both.

    :param dim: dimension of :math:`z`.
    :param components: :math:`K`.
    :param input_shape: shape of one encoder input (a data point for a group that generates
        the data).
    :param init_mean: the pseudo-inputs start at
        :math:`\mathcal N(\text{init\_mean}, \text{init\_std}^2)` (Tomczak and Welling:
        0.05, with ``init_std`` 0.01).
    :param init_std: see ``init_mean``.
    :param pseudo_inputs: one of :data:`PSEUDO_INPUTS`: the encoder reads :math:`u_k` (``free``)
        or :math:`\min(\max(u_k, 0), 1)` (``hardtanh``; a pseudo-input element outside [0, 1]
        then gets no gradient).
    """

    def __init__(self, dim: int, components: int, input_shape, init_mean: float = 0.05,
                 pseudo_inputs: str = "free", init_std: float = 0.01):
        super().__init__()
        choice("pseudo_inputs", pseudo_inputs, PSEUDO_INPUTS)
        self.dim, self.squash = dim, pseudo_inputs == "hardtanh"
        self.pseudo_inputs = nn.Parameter(
            init_mean + init_std * torch.randn(components, *input_shape))
        self.encoder: nn.Module | None = None  # encoder(u) -> q(z | u), batch shape [K]

    def inputs(self) -> torch.Tensor:
        """What the encoder reads: the pseudo-inputs, through the hard tanh when asked."""
        return F.hardtanh(self.pseudo_inputs, 0.0, 1.0) if self.squash else self.pseudo_inputs

    def dist(self, n: int, like: torch.Tensor) -> dist.Distribution:
        if self.encoder is None:
            raise ModelGuideError(
                "a VampPrior is a mixture of the guide's posteriors at its pseudo-inputs, so the "
                "model is built together with its guide: use the model's default guide "
                "('spec_encoder' for 'spec', 'hvae_encoder' for 'hvae')."
            )
        logits = self.pseudo_inputs.new_zeros(self.pseudo_inputs.shape[0])
        return mixture_dist(logits, self.encoder(self.inputs()), n)


class ConditionalNormal(nn.Module):
    r""":math:`p(z \mid h) = \mathcal N(\mu(h), \operatorname{diag}\sigma(h)^2)` with
    :math:`(\mu, \sigma) = \mathrm{MLP}(h)`, :math:`\sigma` through a softplus.

    :param in_dim: size of :math:`h` (the parent groups, and the label when conditioned).
    :param dim: dimension of :math:`z`.
    :param hidden: hidden layer widths.
    :param act: activation name.
    """

    def __init__(self, in_dim: int, dim: int, hidden, act: str):
        super().__init__()
        self.dim = dim
        self.net = mlp([in_dim, *hidden, 2 * dim], act)

    def dist(self, h: torch.Tensor) -> dist.Distribution:
        loc, raw_scale = self.net(h).split(self.dim, dim=-1)
        return independent_normal(loc, F.softplus(raw_scale) + LATENT_SCALE_FLOOR, 1)


#: name -> factory(dim, components, input_shape) of a top group's prior; ``vamp``'s also takes
#: ``pseudo_inputs`` (:data:`PSEUDO_INPUTS`).
PRIORS = {
    "normal": lambda dim, components, input_shape: StandardNormal(dim),
    "learned_normal": lambda dim, components, input_shape: LearnedNormal(dim),
    "mixture": lambda dim, components, input_shape: MixturePrior(dim, components),
    "vamp": lambda dim, components, input_shape, **options: VampPrior(
        dim, components, input_shape, **options),
}
DEFAULT_COMPONENTS = {"mixture": 10, "vamp": 500}
#: Priors a group given other groups may name: its prior is a conditional Normal.
CONDITIONAL_PRIORS = ("normal",)
