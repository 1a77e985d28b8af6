"""Likelihoods :math:`p(x \\mid \\eta)` of a decoder's output :math:`\\eta`, by name.

A likelihood reads ``num_params`` decoder outputs per data value: the decoder emits a tensor
``[..., num_params, *event_shape]``.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from pyrovae.base.distributions import (
    DATA_SCALE_FLOOR,
    independent_bernoulli,
    independent_normal,
)
from pyrovae.base.errors import ConfigError
from pyrovae.blocks.discretized_logistic import DiscretizedLogistic

# the data mean a Bernoulli output bias is set to stays this far from 0 and 1
OUTPUT_MEAN_CLIP = 1e-3
LOG_SCALE_MIN = -7.0  # keeps a discretized logistic's bins from collapsing to a point mass


class LikelihoodModule(nn.Module):
    """Base class: a table of distribution parameters per data value -> a distribution.

    :param event_shape: shape of one data point.
    """

    num_params = 1
    needs_binary = False
    options: tuple[str, ...] = ()  # fields of the spec's likelihood table this one reads

    def __init__(self, event_shape):
        super().__init__()
        self.event_shape = tuple(event_shape)

    def forward(self, params: torch.Tensor) -> dist.Distribution:
        """:math:`p(x \\mid \\eta)` for decoder outputs ``[..., num_params, *event_shape]``,
        with event shape ``event_shape``."""
        return self.event_dist(*params.unbind(-1 - len(self.event_shape)))

    def event_dist(self, *parts) -> dist.Distribution:
        """The distribution of one data point (event shape ``event_shape``) from its parameters."""
        return self.values_dist(*parts).to_event(len(self.event_shape))

    def values_dist(self, *parts) -> dist.Distribution:
        """The distribution of each data value, independent across values."""
        raise NotImplementedError

    def output_bias(self, mean: torch.Tensor) -> torch.Tensor:
        """Decoder outputs ``[num_params, *event_shape]`` whose distribution has mean ``mean``
        (``[*event_shape]``): an output layer's bias under ``train.output_bias = "data_mean"``."""
        raise ConfigError(f'train.output_bias = "data_mean" is defined for the bernoulli '
                          f'likelihood, not {type(self).__name__}; leave the option out.')


class Bernoulli(LikelihoodModule):
    r""":math:`x_i \sim \mathrm{Bernoulli}(\sigma(\eta_i))`, for binary data."""

    needs_binary = True

    def event_dist(self, logits):
        return independent_bernoulli(logits, len(self.event_shape))

    def output_bias(self, mean: torch.Tensor) -> torch.Tensor:
        """:math:`\\operatorname{logit}(\\bar x)`, the mean clipped to :math:`[10^{-3},
        1 - 10^{-3}]` so that a pixel never on in the data gets a finite bias."""
        return torch.logit(mean.clamp(OUTPUT_MEAN_CLIP, 1 - OUTPUT_MEAN_CLIP)).unsqueeze(0)


class ContinuousBernoulli(LikelihoodModule):
    r""":math:`x_i \sim \mathcal{CB}(\sigma(\eta_i))` on :math:`[0, 1]` (Loaiza-Ganem and
    Cunningham 2019), the normalized Bernoulli density for grayscale data."""

    def values_dist(self, logits):
        return dist.ContinuousBernoulli(logits=logits)


class Normal(LikelihoodModule):
    r""":math:`x_i \sim \mathcal N(\eta_i, s_i^2)` with a learned per-value scale
    :math:`s_i = \operatorname{softplus}(\rho_i) + 10^{-3}`, or a fixed scale :math:`s`.

    :param scale: ``"learned"`` or a positive number.
    """

    options = ("scale",)

    def __init__(self, event_shape, scale="learned"):
        super().__init__(event_shape)
        self.learned = scale == "learned"
        if self.learned:
            self.raw_scale = nn.Parameter(torch.full(self.event_shape, math.log(math.e - 1.0)))
        else:
            self.register_buffer("fixed_scale", torch.tensor(float(scale)))

    def scale(self) -> torch.Tensor:
        """:math:`s`, ``event_shape`` (learned) or a scalar (fixed)."""
        return F.softplus(self.raw_scale) + DATA_SCALE_FLOOR if self.learned else self.fixed_scale

    def event_dist(self, loc):
        return independent_normal(loc, self.scale(), len(self.event_shape))


class DiscretizedLogisticLikelihood(LikelihoodModule):
    r""":math:`x_i \sim \mathrm{DiscretizedLogistic}(\eta_{i,1}, \max(\eta_{i,2}, -7))` on the
    8-bit grid :math:`\{0, \ldots, 255\}/255`; see
    :class:`~pyrovae.blocks.discretized_logistic.DiscretizedLogistic`."""

    num_params = 2

    def values_dist(self, loc, log_scale):
        return DiscretizedLogistic(loc, log_scale.clamp(min=LOG_SCALE_MIN))


#: name -> the likelihood p(x | eta) of a decoder's output, by name.
LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "continuous_bernoulli": ContinuousBernoulli,
    "normal": Normal,
    "discretized_logistic": DiscretizedLogisticLikelihood,
}
