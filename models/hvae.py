"""Tomczak and Welling's two-level hierarchical VAE (HVAE): both latent layers generate the
data, and a learned prior (a VampPrior) sits on the top one.

.. code-block:: toml

    [model]
    name = "hvae"
    z1_dim = 40
    z2_dim = 40
    hidden = 300
    activation = "gated"
    prior = "vamp"
"""

from __future__ import annotations

import inspect
import math
from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.nn import Activation, hidden_mlp
from pyrovae.base.options import NonNegativeFloat, PositiveInt, choice
from pyrovae.blocks.families import DiagNormal
from pyrovae.blocks.likelihoods import LIKELIHOODS
from pyrovae.blocks.priors import DEFAULT_COMPONENTS, PRIORS, PSEUDO_INPUTS
from pyrovae.blocks.tensors import cat_features
from pyrovae.data.info import DataInfo

#: Tomczak and Welling clip every log-variance of their networks to this interval.
LOGVAR_CLIP = (-6.0, 2.0)


class TwoLevelVAE(nn.Module):
    r"""The generative model of Tomczak and Welling's (2018) HVAE,

    .. math:: p(x, z_1, z_2) = p(z_2)\, p(z_1 \mid z_2)\, p(x \mid z_1, z_2),

    with sample sites ``z2``, ``z1``, ``x`` in that order. :math:`p(z_2)` is a top-group prior
    of :data:`~pyrovae.blocks.priors.PRIORS` (``vamp``: the guide's :math:`q(z_2 \mid u_k)` at
    learned pseudo-inputs, so the model is built with its guide,
    :func:`pyrovae.guides.hvae.make_hvae_pair`). :math:`p(z_1 \mid z_2)` is a diagonal Normal
    whose mean and log-variance (clipped to :data:`LOGVAR_CLIP` unless ``logvar_clip`` is
    false) are linear in two hidden layers of :math:`z_2`. The decoder reads both latents: one
    hidden layer of each, a joint hidden layer of the two, then the likelihood's parameters.

    :param event_shape: shape of one data point.
    :param z1_dim: dimension of :math:`z_1` (the bottom latent).
    :param z2_dim: dimension of :math:`z_2` (the top latent).
    :param hidden: width of every hidden layer.
    :param activation: ``gated`` (their networks) or a pointwise activation.
    :param likelihood: a key of :data:`~pyrovae.blocks.likelihoods.LIKELIHOODS`.
    :param prior: a key of :data:`~pyrovae.blocks.priors.PRIORS`.
    :param components: number of mixture components (``vamp``: pseudo-inputs).
    :param vamp_options: ``vamp`` only: :class:`~pyrovae.blocks.priors.VampPrior`'s
        ``pseudo_inputs``, ``init_mean`` and ``init_std``.
    :param logvar_clip: clip the log-variances of :math:`p(z_1 \mid z_2)` and of the guide
        (which reads this attribute) to :data:`LOGVAR_CLIP`, as the authors' code does since
        August 2017 (its first version did not).
    """

    def __init__(self, event_shape, z1_dim, z2_dim, hidden, activation, likelihood, prior,
                 components, vamp_options=None, logvar_clip=True):
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.z1_dim, self.z2_dim = int(z1_dim), int(z2_dim)
        self.hidden, self.activation = int(hidden), activation  # the guide's defaults
        self.logvar_clip = LOGVAR_CLIP if logvar_clip else None
        self.prior = PRIORS[prior](self.z2_dim, components, self.event_shape,
                                   **(vamp_options or {}))
        self.p_z1 = nn.Sequential(hidden_mlp([self.z2_dim, hidden, hidden], activation),
                                  DiagNormal(hidden, self.z1_dim, "exp", self.logvar_clip))
        self.likelihood = LIKELIHOODS[likelihood](self.event_shape)
        self.from_z1 = hidden_mlp([self.z1_dim, hidden], activation)
        self.from_z2 = hidden_mlp([self.z2_dim, hidden], activation)
        self.joint = hidden_mlp([2 * hidden, hidden], activation)
        self.out = nn.Linear(hidden, self.likelihood.num_params * math.prod(self.event_shape))

    def likelihood_dist(self, z1: torch.Tensor, z2: torch.Tensor) -> dist.Distribution:
        r""":math:`p(x \mid z_1, z_2)`, with event shape ``event_shape``."""
        h = self.joint(cat_features(self.from_z1(z1), self.from_z2(z2)))
        shape = (*h.shape[:-1], self.likelihood.num_params, *self.event_shape)
        return self.likelihood(self.out(h).view(shape))

    @torch.no_grad()
    def init_output_bias(self, mean: torch.Tensor) -> None:
        """Set the output bias so that the likelihood's mean at it is ``mean``, the training
        data's mean point (``train.output_bias = "data_mean"``)."""
        self.out.bias.copy_(self.likelihood.output_bias(mean).reshape(-1))

    def forward(self, x=None, *, batch_size=None):
        n = x.shape[0] if x is not None else batch_size
        like = x if x is not None else self.out.weight
        with pyro.plate("data", n):
            z2 = pyro.sample("z2", self.prior.dist(n, like))
            z1 = pyro.sample("z1", self.p_z1(z2))
            return pyro.sample("x", self.likelihood_dist(z1, z2), obs=x)


def make_hvae(
    data: DataInfo,
    z1_dim: PositiveInt = 40,
    z2_dim: PositiveInt = 40,
    hidden: PositiveInt = 300,
    activation: Activation = "gated",
    likelihood: Literal[("auto", *LIKELIHOODS)] = "auto",
    prior: Literal[tuple(PRIORS)] = "vamp",
    components: PositiveInt | None = None,
    pseudo_inputs: Literal[PSEUDO_INPUTS] = "free",
    pseudo_inputs_mean: float = 0.05,
    pseudo_inputs_std: NonNegativeFloat = 0.01,
    logvar_clip: bool = True,
) -> TwoLevelVAE:
    r"""Two-level HVAE of Tomczak and Welling (2018) for ``data``; ``likelihood = "auto"`` is a
    Bernoulli for binary data, a Normal with a learned scale otherwise; ``components`` defaults
    to 500 for ``vamp`` and 10 for ``mixture``.

    The VampPrior's options: ``pseudo_inputs = "hardtanh"`` passes its pseudo-inputs through a
    hard tanh to [0, 1], as the authors' code does; they start at
    :math:`\mathcal N(\text{pseudo\_inputs\_mean}, \text{pseudo\_inputs\_std}^2)`.
    ``logvar_clip = false`` leaves every log-variance of model and guide unclipped."""
    choice("model.likelihood", likelihood, ("auto", *LIKELIHOODS))
    choice("model.prior", prior, tuple(PRIORS))
    choice("model.pseudo_inputs", pseudo_inputs, PSEUDO_INPUTS)
    vamp_options = {"pseudo_inputs": pseudo_inputs, "init_mean": pseudo_inputs_mean,
                    "init_std": pseudo_inputs_std}
    if prior != "vamp":
        defaults = inspect.signature(make_hvae).parameters
        given = {"pseudo_inputs": pseudo_inputs, "pseudo_inputs_mean": pseudo_inputs_mean,
                 "pseudo_inputs_std": pseudo_inputs_std}
        changed = [f"{key} = {value!r}" for key, value in given.items()
                   if value != defaults[key].default]
        if changed:
            raise ConfigError(f"model.{changed[0]} applies to the VampPrior (prior = 'vamp'), "
                              f"not to prior = '{prior}'.")
        vamp_options = None
    if likelihood == "auto":
        likelihood = "bernoulli" if data.binary else "normal"
    if components is None:
        components = DEFAULT_COMPONENTS.get(prior, 1)
    return TwoLevelVAE(data.event_shape, z1_dim, z2_dim, hidden, activation, likelihood, prior,
                       components, vamp_options, logvar_clip)
