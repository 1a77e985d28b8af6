"""The variational autoencoder: a standard Normal prior and an MLP decoder."""

from __future__ import annotations

import math
from typing import Literal

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyrovae.distributions import independent_bernoulli, independent_normal
from pyrovae.errors import ConfigError
from pyrovae.nn import Activation, mlp
from pyrovae.options import PositiveFloat, PositiveInt, Widths
from pyrovae.registry import DataInfo, register_model, suggest

LIKELIHOODS = ("auto", "bernoulli", "normal")


class VAE(nn.Module):
    r"""Latent-variable model :math:`z \sim \mathcal N(0, I)`, :math:`x \mid z \sim p_\theta(x \mid z)`.

    The decoder is an MLP from ``latent_dim`` to the flattened data; the likelihood is a Bernoulli
    (logits) for binary data or a Normal with a learned per-dimension scale for continuous data.

    :param event_shape: shape of one data point.
    :param latent_dim: dimension of :math:`z`.
    :param hidden: widths of the decoder's hidden layers.
    :param activation: activation between the decoder's layers.
    :param likelihood: ``"bernoulli"`` or ``"normal"``.
    :param scale_floor: lower bound of the Normal's scale (keeps the density finite).
    """

    def __init__(self, event_shape, latent_dim, hidden, activation, likelihood, scale_floor=1e-3):
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.scale_floor = float(scale_floor)
        data_dim = math.prod(self.event_shape)
        self.decoder = mlp([self.latent_dim, *hidden, data_dim], activation)
        if likelihood == "normal":
            self.raw_scale = nn.Parameter(torch.full((data_dim,), math.log(math.e - 1.0)))

    def prior_dist(self, n: int, like: torch.Tensor) -> dist.Distribution:
        """:math:`\\mathcal N(0, I)` over ``n`` latent vectors, on ``like``'s device and dtype."""
        zeros = like.new_zeros((n, self.latent_dim))
        return independent_normal(zeros, 1.0, 1)

    def likelihood_dist(self, z: torch.Tensor) -> dist.Distribution:
        """:math:`p_\\theta(x \\mid z)`, with event shape ``event_shape``."""
        out = self.decoder(z)
        shape = (*z.shape[:-1], *self.event_shape)
        rank = len(self.event_shape)
        if self.likelihood == "bernoulli":
            return independent_bernoulli(out.view(shape), rank)
        scale = F.softplus(self.raw_scale) + self.scale_floor
        return independent_normal(out.view(shape), scale.view(self.event_shape), rank)

    def forward(self, x=None, *, batch_size=None):
        n = x.shape[0] if x is not None else batch_size
        like = x if x is not None else self.decoder[0].weight
        with pyro.plate("data", n):
            z = pyro.sample("z", self.prior_dist(n, like))
            return pyro.sample("x", self.likelihood_dist(z), obs=x)


@register_model("vae", default_guide="mlp_normal")
def make_vae(
    data: DataInfo,
    latent_dim: PositiveInt = 10,
    hidden: Widths = (200, 200),
    activation: Activation = "tanh",
    likelihood: Literal[LIKELIHOODS] = "auto",
    scale_floor: PositiveFloat = 1e-3,
) -> VAE:
    """VAE whose likelihood is chosen for the data when ``likelihood = "auto"``:
    Bernoulli for binary data, Normal with a learned scale otherwise."""
    if likelihood not in LIKELIHOODS:
        raise ConfigError(
            f"unknown model.likelihood '{likelihood}'.{suggest(likelihood, LIKELIHOODS)} "
            f"Choose one of: {', '.join(LIKELIHOODS)}."
        )
    if likelihood == "auto":
        likelihood = "bernoulli" if data.binary else "normal"
    return VAE(data.event_shape, latent_dim, list(hidden), activation, likelihood, scale_floor)
