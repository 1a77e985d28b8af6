"""The amortized diagonal-Normal encoder :math:`q_\\phi(z \\mid x)`."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch.nn.functional as F

from pyrovae.distributions import independent_normal
from pyrovae.errors import ConfigError
from pyrovae.nn import Activation, mlp
from pyrovae.options import PositiveInt, Widths
from pyrovae.registry import DataInfo, register_guide
from torch import nn


class DiagNormalEncoder(nn.Module):
    r""":math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma_\phi(x)^2)`.

    An MLP maps the flattened data point to :math:`(\mu, \sigma)`, with
    :math:`\sigma = \operatorname{softplus}(\cdot) + 10^{-5}`.

    :param event_shape: shape of one data point.
    :param latent_dim: dimension of the latent site.
    :param hidden: widths of the hidden layers.
    :param activation: activation between layers.
    :param site: name of the model's latent site this guide samples.
    """

    def __init__(self, event_shape, latent_dim, hidden, activation, site="z"):
        super().__init__()
        self.rank = len(event_shape)
        self.latent_dim = int(latent_dim)
        self.site = site
        self.net = mlp([math.prod(event_shape), *hidden, 2 * self.latent_dim], activation)

    def posterior_dist(self, x) -> dist.Distribution:
        """:math:`q_\\phi(z \\mid x)` for a batch ``x`` of shape ``[N, *event_shape]``."""
        out = self.net(x.flatten(-self.rank))
        loc, raw_scale = out.split(self.latent_dim, dim=-1)
        return independent_normal(loc, F.softplus(raw_scale) + 1e-5, 1)

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0]):
            return pyro.sample(self.site, self.posterior_dist(x))


@register_guide("mlp_normal")
def make_mlp_normal(
    model,
    data: DataInfo,
    hidden: Widths = (200, 200),
    activation: Activation = "tanh",
    site: str = "z",
    latent_dim: PositiveInt | None = None,
) -> DiagNormalEncoder:
    """Diagonal-Normal MLP encoder for the model's latent site ``site``; ``latent_dim`` defaults
    to the model's ``latent_dim`` attribute."""
    latent_dim = latent_dim if latent_dim is not None else getattr(model, "latent_dim", None)
    if latent_dim is None:
        raise ConfigError(
            "guide 'mlp_normal' needs the latent dimension: the model has no 'latent_dim' "
            "attribute, so set guide.latent_dim in the config."
        )
    return DiagNormalEncoder(data.event_shape, latent_dim, list(hidden), activation, site)
