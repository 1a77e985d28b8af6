"""The semi-supervised generative model M2 of Kingma et al. (2014), "Semi-supervised learning
with deep generative models": the label is a latent variable, observed where it is known."""

from __future__ import annotations

from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from pyrovae.base.distributions import independent_normal
from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import Activation
from pyrovae.base.options import PositiveInt, Widths
from pyrovae.blocks import fields
from pyrovae.blocks.decoders import MLPDecoder
from pyrovae.blocks.likelihoods import LIKELIHOODS
from pyrovae.blocks.tensors import cat_features, one_hot
from pyrovae.data.info import DataInfo


def known_labels(y: torch.Tensor | None) -> torch.Tensor | None:
    """Where a label is given (the data mark unlabelled points -1), or None without labels."""
    return None if y is None else y >= 0


class M2(nn.Module):
    r""":math:`y \sim \mathrm{Cat}(1/C)`, :math:`z \sim \mathcal N(0, I)`,
    :math:`x \mid y, z \sim p(x \mid \mathrm{MLP}([z, \text{onehot}(y)]))`.

    Site ``y`` is latent on the unlabelled points and masked out on the labelled ones, where the
    site ``y_label`` observes the label under the same prior: every point counts
    :math:`\log p(y)` once. With ``y`` not given (evaluation of :math:`\log p(x)`, prior samples)
    every label is latent. ``label_role = "observed"``: training gets the labels it has, and
    evaluation estimates :math:`\log p(x) = \log \sum_y \int p(x, y, z)\,dz` with the guide.

    :param event_shape: shape of one data point.
    :param num_classes: :math:`C`.
    :param latent_dim: dimension of :math:`z`.
    :param hidden: hidden widths of the decoder.
    :param act: activation name.
    :param likelihood: a key of :data:`~pyrovae.blocks.likelihoods.LIKELIHOODS`.
    """

    uses_labels = True
    label_role = "observed"

    def __init__(self, event_shape, num_classes, latent_dim, hidden, act, likelihood):
        super().__init__()
        self.register_buffer("anchor", torch.zeros(()), persistent=False)
        self.event_shape = tuple(event_shape)
        self.num_classes = int(num_classes)
        self.latent_dim = int(latent_dim)
        self.likelihood = LIKELIHOODS[likelihood](self.event_shape)
        self.decoder = MLPDecoder(self.latent_dim + self.num_classes, self.event_shape,
                                  self.likelihood.num_params, hidden, act)

    def label_prior(self, n: int, like: torch.Tensor) -> dist.Distribution:
        """:math:`p(y) = \\mathrm{Cat}(1/C)` for ``n`` points."""
        return dist.Categorical(logits=like.new_zeros(n, self.num_classes))

    def forward(self, x=None, y=None, *, batch_size=None):
        n = x.shape[0] if x is not None else y.shape[0] if y is not None else batch_size
        like = x if x is not None else self.anchor
        known = known_labels(y)
        with pyro.plate("data", n):
            z = pyro.sample("z", independent_normal(like.new_zeros(n, self.latent_dim), 1.0, 1))
            with poutine.mask(mask=True if known is None else ~known):
                label = pyro.sample("y", self.label_prior(n, like))
            if known is not None:
                label = torch.where(known, y, label)
            h = cat_features(z, one_hot(label, self.num_classes, z))
            x = pyro.sample("x", self.likelihood(self.decoder(h)), obs=x)
            if known is not None:  # after x: the data are the first observed site
                with poutine.mask(mask=known):
                    pyro.sample("y_label", self.label_prior(n, like), obs=y.clamp(min=0))
            return x


def make_m2(
    data: DataInfo,
    latent_dim: PositiveInt = 50,
    hidden: Widths = (500,),
    activation: Activation = "softplus",
    likelihood: Literal[tuple(LIKELIHOODS)] = "bernoulli",
) -> M2:
    """M2 for labelled data (some labels may be missing: ``data.num_labelled``)."""
    if data.num_classes == 0:
        raise ConfigError("model 'm2' needs labelled data (it models the label), but this dataset "
                          "has no labels. Use a labelled dataset (mnist, sprites).")
    fields.choice("model.likelihood", likelihood, list(LIKELIHOODS))
    if LIKELIHOODS[likelihood].needs_binary and not data.binary:
        fitting = [k for k, v in LIKELIHOODS.items() if not v.needs_binary]
        raise ConfigError(f"model.likelihood = '{likelihood}' needs binary data, but these data "
                          f"are not binary. Choose one of: {', '.join(fitting)}.")
    fields.positive_int("model.latent_dim", latent_dim)
    return M2(data.event_shape, data.num_classes, latent_dim,
              fields.int_list("model.hidden", hidden), activation, likelihood)
