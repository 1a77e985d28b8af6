"""Distributions the shipped models use, where Pyro's own ones do avoidable work, and the
smallest scales their Normal distributions take."""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch.distributions.utils import _sum_rightmost, broadcast_all

#: Added to the softplus of a latent Normal's (prior's or posterior's) raw scale: keeps its
#: density finite.
LATENT_SCALE_FLOOR = 1e-5
#: Added to the softplus of a learned likelihood scale: a data value cannot pin it to zero.
DATA_SCALE_FLOOR = 1e-3


class IndependentBernoulli(dist.Independent):
    r"""``Bernoulli(logits=eta).to_event(event_dim)``, with a leaner ``log_prob``:

    .. math:: \log p(x) = -\sum_i \mathrm{BCE}(\eta_i, x_i)
        = \sum_i x_i \eta_i - \log(1 + e^{\eta_i}),

    negated after the sum over the event rather than element by element, which saves a pass over
    an image-sized tensor per call (the values are bit for bit the same). Build it with
    :func:`independent_bernoulli`.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.base_dist.logits, value)
        nll = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -_sum_rightmost(nll, self.reinterpreted_batch_ndims)


def independent_bernoulli(logits: torch.Tensor, event_dim: int) -> IndependentBernoulli:
    """Independent Bernoulli values with ``logits``, the rightmost ``event_dim`` dims one event.

    :param logits: log-odds, shaped ``[*batch_shape, *event_shape]``.
    :param event_dim: number of rightmost dims that form one data point.
    """
    return IndependentBernoulli(dist.Bernoulli(logits=logits, validate_args=False), event_dim)


_LOG_2PI = math.log(2 * math.pi)


def _compact(t: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """A view of ``t`` with each broadcast dim (stride 0, size > 1) cut to size 1, and the dims
    cut: the distinct elements of an ``expand`` ed tensor, without copying."""
    index, cut = [], []
    for dim, (size, stride) in enumerate(zip(t.shape, t.stride())):
        broadcast = stride == 0 and size > 1
        index.append(slice(0, 1) if broadcast else slice(None))
        if broadcast:
            cut.append(dim)
    return t[tuple(index)], cut


class IndependentNormal(dist.Independent):
    r"""``Normal(loc, scale).to_event(event_dim)``, with a ``log_prob`` that does less work:

    .. math:: \log p(x) = -\tfrac12 \sum_i \Big(\frac{x_i - \mu_i}{\sigma_i}\Big)^2
        - \sum_i \log \sigma_i - \tfrac{D}{2} \log 2\pi,

    with :math:`D` the number of elements of one event. :math:`\sum_i \log\sigma_i` is
    computed on the distinct elements of ``scale`` only, so a distribution ``expand`` ed over
    particles (as a particle plate does) takes one logarithm per data point, not one per particle
    and data point. Equal to Pyro's ``Normal(loc, scale).to_event(event_dim)`` up to float
    rounding. Build it with :func:`independent_normal`.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        base, d = self.base_dist, self.reinterpreted_batch_ndims
        std = (value - base.loc) / base.scale
        scale, cut = _compact(base.scale)
        log_det = _sum_rightmost(scale.log(), d)
        repeats = math.prod(base.scale.shape[i] for i in cut if i >= scale.dim() - d)
        if repeats != 1:
            log_det = log_det * repeats
        event_numel = math.prod(self.event_shape)
        return -0.5 * _sum_rightmost(std * std, d) - log_det - 0.5 * event_numel * _LOG_2PI


def independent_normal(loc, scale, event_dim: int) -> IndependentNormal:
    """Independent Normal values, the rightmost ``event_dim`` dims one event.

    :param loc: means, a tensor ``[*batch_shape, *event_shape]``.
    :param scale: standard deviations, a tensor or a number broadcastable with ``loc``.
    :param event_dim: number of rightmost dims that form one event.
    """
    return IndependentNormal(dist.Normal(loc, scale), event_dim)
