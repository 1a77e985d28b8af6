"""The discretized logistic distribution of 8-bit images (Salimans et al. 2017, PixelCNN++)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

LEVELS = 256


class _Grid(constraints.Constraint):
    """The grid :math:`\\{0, 1, \\ldots, 255\\} / 255`."""

    is_discrete = True
    event_dim = 0

    def check(self, value):
        scaled = value * (LEVELS - 1)
        return (value >= 0) & (value <= 1) & ((scaled - scaled.round()).abs() < 1e-3)

    def __repr__(self):
        return "grid({0, ..., 255}/255)"


grid = _Grid()


class DiscretizedLogistic(TorchDistribution):
    r"""A logistic distribution with location :math:`\mu` and scale :math:`s = e^{\log s}`,
    discretized to the bins of width :math:`\delta = 1/255` centred on the grid
    :math:`x \in \{0, \ldots, 255\}/255`, with the outer bins stretched to :math:`\pm\infty`:

    .. math:: P(x) = \sigma\Big(\frac{x + \delta/2 - \mu}{s}\Big)
                   - \sigma\Big(\frac{x - \delta/2 - \mu}{s}\Big),

    where :math:`\sigma(\cdot)` at :math:`x + \delta/2` is 1 for :math:`x = 1` and at
    :math:`x - \delta/2` is 0 for :math:`x = 0`. The difference is computed in log space as
    :math:`\log\sigma(a) + \log\sigma(-b) + \log(1 - e^{b-a})`, exact for any :math:`a > b`.

    :param loc: :math:`\mu`.
    :param log_scale: :math:`\log s`.
    """

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = grid
    has_rsample = False

    def __init__(self, loc, log_scale, validate_args=None):
        self.loc, self.log_scale = broadcast_all(loc, log_scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(DiscretizedLogistic, _instance)
        new.loc = self.loc.expand(batch_shape)
        new.log_scale = self.log_scale.expand(batch_shape)
        super(DiscretizedLogistic, new).__init__(torch.Size(batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        """The location clamped to [0, 1] (the exact mean differs only through the outer bins)."""
        return self.loc.clamp(0, 1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        half_bin = 0.5 / (LEVELS - 1)
        inv_scale = torch.exp(-self.log_scale)
        upper = (value - self.loc + half_bin) * inv_scale  # a
        lower = (value - self.loc - half_bin) * inv_scale  # b
        top = value > 1 - half_bin
        bottom = value < half_bin
        log_upper = torch.where(top, torch.zeros_like(upper), F.logsigmoid(upper))
        log_not_lower = torch.where(bottom, torch.zeros_like(lower), F.logsigmoid(-lower))
        width = torch.where(top | bottom, torch.full_like(upper, math.inf), upper - lower)
        return log_upper + log_not_lower + torch.log(-torch.expm1(-width))

    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
            u = u.clamp(1e-6, 1 - 1e-6)
            logistic = u.log() - (-u).log1p()
            x = self.loc.expand(shape) + self.log_scale.exp().expand(shape) * logistic
            return (x.clamp(0, 1) * (LEVELS - 1)).round() / (LEVELS - 1)
