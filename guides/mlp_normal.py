"""The amortized diagonal-Normal encoder :math:`q_\\phi(z \\mid x)`."""

from __future__ import annotations

from typing import Literal

import pyro
import pyro.distributions as dist
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import Activation
from pyrovae.base.options import PositiveInt, Widths
from pyrovae.blocks.encoders import FlatFeatures, GroupEncoder
from pyrovae.blocks.families import SCALES, DiagNormal, check_scale
from pyrovae.data.info import DataInfo


class DiagNormalEncoder(nn.Module):
    r""":math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma_\phi(x)^2)`
    for the model's latent site ``site``.

    An MLP maps the flattened data point to :math:`(\mu, \sigma)`: the
    :class:`~pyrovae.blocks.encoders.GroupEncoder` of the ``spec`` model's guide, with the
    :class:`~pyrovae.blocks.families.DiagNormal` family.

    :param event_shape: shape of one data point.
    :param latent_dim: dimension of the latent site.
    :param hidden: widths of the hidden layers.
    :param activation: activation between layers.
    :param site: name of the model's latent site this guide samples.
    :param scale: ``softplus`` or ``exp``, and
    :param logvar_clip: ``[low, high]`` or None: how :math:`\sigma` is computed
        (:class:`~pyrovae.blocks.families.DiagNormal`).
    """

    def __init__(self, event_shape, latent_dim, hidden, activation, site="z", scale="softplus",
                 logvar_clip=None):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.site = site
        self.encoder = GroupEncoder(FlatFeatures(event_shape), 0, hidden, activation,
                                    lambda in_dim: DiagNormal(in_dim, self.latent_dim, scale,
                                                                  logvar_clip))

    def posterior_dist(self, x) -> dist.Distribution:
        """:math:`q_\\phi(z \\mid x)` for a batch ``x`` of shape ``[N, *event_shape]``."""
        return self.encoder(x)

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0]):
            return pyro.sample(self.site, self.posterior_dist(x))


def make_mlp_normal(
    model,
    data: DataInfo,
    hidden: Widths = (200, 200),
    activation: Activation = "tanh",
    site: str = "z",
    latent_dim: PositiveInt | None = None,
    scale: Literal[SCALES] = "softplus",
    logvar_clip: list[float] | None = None,
) -> DiagNormalEncoder:
    """Diagonal-Normal MLP encoder for the model's latent site ``site``; ``latent_dim`` defaults
    to the model's ``latent_dim`` attribute. ``scale = "exp"`` makes the network output a
    log-variance, clipped to ``logvar_clip`` (e.g. ``[-6, 2]``) when given."""
    check_scale(scale, logvar_clip)
    latent_dim = latent_dim if latent_dim is not None else getattr(model, "latent_dim", None)
    if latent_dim is None:
        raise ConfigError(
            "guide 'mlp_normal' needs the latent dimension: the model has no 'latent_dim' "
            "attribute, so set guide.latent_dim in the config."
        )
    return DiagNormalEncoder(data.event_shape, latent_dim, list(hidden), activation, site, scale,
                             logvar_clip)
