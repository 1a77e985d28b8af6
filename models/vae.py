"""The variational autoencoder: a standard Normal prior and an MLP decoder."""

from __future__ import annotations

import math
from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.base.distributions import independent_normal
from pyrovae.base.nn import Activation, mlp
from pyrovae.base.options import PositiveInt, Widths, choice
from pyrovae.blocks.likelihoods import LIKELIHOODS
from pyrovae.data.info import DataInfo


class VAE(nn.Module):
    r"""Latent-variable model :math:`z \sim \mathcal N(0, I)`, :math:`x \mid z \sim p_\theta(x \mid z)`.

    The decoder is an MLP from ``latent_dim`` to the likelihood's parameters of every data value;
    the likelihood is one of the ``spec`` model's (:data:`~pyrovae.blocks.likelihoods.LIKELIHOODS`):
    a Bernoulli (logits) for binary data, a Normal with a learned scale per data value, ...

    :param event_shape: shape of one data point.
    :param latent_dim: dimension of :math:`z`.
    :param hidden: widths of the decoder's hidden layers.
    :param activation: activation between the decoder's layers.
    :param likelihood: a key of :data:`~pyrovae.blocks.likelihoods.LIKELIHOODS`.
    """

    def __init__(self, event_shape, latent_dim, hidden, activation, likelihood):
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.latent_dim = int(latent_dim)
        self.likelihood = LIKELIHOODS[likelihood](self.event_shape)
        self.decoder = mlp([self.latent_dim, *hidden,
                            self.likelihood.num_params * math.prod(self.event_shape)], activation)

    def prior_dist(self, n: int, like: torch.Tensor) -> dist.Distribution:
        """:math:`\\mathcal N(0, I)` over ``n`` latent vectors, on ``like``'s device and dtype."""
        zeros = like.new_zeros((n, self.latent_dim))
        return independent_normal(zeros, 1.0, 1)

    def likelihood_dist(self, z: torch.Tensor) -> dist.Distribution:
        """:math:`p_\\theta(x \\mid z)`, with event shape ``event_shape``."""
        shape = (*z.shape[:-1], self.likelihood.num_params, *self.event_shape)
        return self.likelihood(self.decoder(z).view(shape))

    @torch.no_grad()
    def init_output_bias(self, mean: torch.Tensor) -> None:
        """Set the decoder's output bias so that the likelihood's mean at it is ``mean``, the
        training data's mean point (``train.output_bias = "data_mean"``)."""
        self.decoder[-1].bias.copy_(self.likelihood.output_bias(mean).reshape(-1))

    def forward(self, x=None, *, batch_size=None):
        n = x.shape[0] if x is not None else batch_size
        like = x if x is not None else self.decoder[0].weight
        with pyro.plate("data", n):
            z = pyro.sample("z", self.prior_dist(n, like))
            return pyro.sample("x", self.likelihood_dist(z), obs=x)


def make_vae(
    data: DataInfo,
    latent_dim: PositiveInt = 10,
    hidden: Widths = (200, 200),
    activation: Activation = "tanh",
    likelihood: Literal[("auto", *LIKELIHOODS)] = "auto",
) -> VAE:
    """VAE whose likelihood is chosen for the data when ``likelihood = "auto"``:
    Bernoulli for binary data, Normal with a learned scale otherwise."""
    choice("model.likelihood", likelihood, ("auto", *LIKELIHOODS))
    if likelihood == "auto":
        likelihood = "bernoulli" if data.binary else "normal"
    return VAE(data.event_shape, latent_dim, list(hidden), activation, likelihood)
