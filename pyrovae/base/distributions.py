"""Distributions the shipped models use, where Pyro's own ones do avoidable work, and the
smallest scales their Normal distributions take."""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

#: Added to the softplus of a latent Normal's (prior's or posterior's) raw scale: keeps its
#: density finite.
LATENT_SCALE_FLOOR = 1e-5
#: Added to the softplus of a learned likelihood scale: a data value cannot pin it to zero.
DATA_SCALE_FLOOR = 1e-3


def sum_rightmost(value: torch.Tensor, dim: int) -> torch.Tensor:
    """``value`` summed over its ``dim`` rightmost dims, as torch's distributions sum an event
    (one reshape and one sum, so the rounding is theirs)."""
    if dim == 0:
        return value
    return value.reshape(value.shape[:-dim] + (-1,)).sum(-1)


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
        return -sum_rightmost(nll, self.reinterpreted_batch_ndims)


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
        log_det = sum_rightmost(scale.log(), d)
        repeats = math.prod(base.scale.shape[i] for i in cut if i >= scale.dim() - d)
        if repeats != 1:
            log_det = log_det * repeats
        event_numel = math.prod(self.event_shape)
        return -0.5 * sum_rightmost(std * std, d) - log_det - 0.5 * event_numel * _LOG_2PI


def independent_normal(loc, scale, event_dim: int) -> IndependentNormal:
    """Independent Normal values, the rightmost ``event_dim`` dims one event.

    :param loc: means, a tensor ``[*batch_shape, *event_shape]``.
    :param scale: standard deviations, a tensor or a number broadcastable with ``loc``.
    :param event_dim: number of rightmost dims that form one event.
    """
    return IndependentNormal(dist.Normal(loc, scale), event_dim)


class DiagonalNormalMixture(TorchDistribution):
    r"""A mixture of :math:`K` diagonal Normals on :math:`\mathbb R^D`,
    :math:`p(z) = \sum_k \pi_k \mathcal N(z; \mu_k, \operatorname{diag}\sigma_k^2)`, the same
    distribution as Pyro's ``MixtureSameFamily(Categorical(logits), Normal(locs,
    scales).to_event(1))`` with a ``log_prob`` that never forms a ``[..., K, D]`` tensor.

    Each component's quadratic form is expanded into matrix products over the rows of ``value``
    (flattened to :math:`[N, D]`), around a centre :math:`c` (the mean of the :math:`\mu_k`, held
    constant):

    .. math:: \sum_d \frac{(z_d - \mu_{kd})^2}{\sigma_{kd}^2}
        = \underbrace{(z - c)^2 \cdot \sigma_k^{-2}}_{s_k}
          - 2\, (z - c) \cdot \frac{\mu_k - c}{\sigma_k^2}
          + \underbrace{\sum_d \frac{(\mu_{kd} - c_d)^2}{\sigma_{kd}^2}}_{a_k},

    .. math:: \log p(z) = \operatorname{logsumexp}_k \Big(\log\pi_k - \tfrac12 (\ldots)
        - \sum_d \log\sigma_{kd}\Big) - \tfrac D2 \log 2\pi.

    This is an exact reformulation, so values and gradients equal Pyro's up to rounding; but the
    expansion cancels large terms when a point lies close to a narrow component. Each row's
    rounding error is estimated (:func:`mixture_log_prob`), and rows whose estimate exceeds
    :data:`MIXTURE_TOLERANCE` are computed again in float64, so a collapsed component does not
    cost accuracy (checked against ``MixtureSameFamily`` for variances from 1e-6 to 1e6).
    ``sample`` draws a component, then its Normal (not reparameterized, as Pyro's mixture).

    :param logits: unnormalized log weights ``[K]``.
    :param locs: component means ``[K, D]``.
    :param scales: component standard deviations, broadcastable to ``[K, D]``.
    :param batch_shape: batch shape of the mixture (each batch element is the same mixture).
    """

    arg_constraints = {"logits": constraints.real, "locs": constraints.real,
                       "scales": constraints.positive}
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, logits, locs, scales, batch_shape=torch.Size(), validate_args=None):
        self.logits = logits
        self.locs = locs
        self.scales = scales.expand_as(locs)
        super().__init__(torch.Size(batch_shape), locs.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return type(self)(self.logits, self.locs, self.scales, batch_shape,
                          validate_args=self._validate_args)

    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)[:-1]
        with torch.no_grad():
            k = torch.distributions.Categorical(logits=self.logits).sample(shape)
            return torch.normal(self.locs[k], self.scales[k])

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        dim = value.shape[-1]
        rows = value.reshape(-1, dim)
        out = mixture_log_prob(rows, self.logits, self.locs, self.scales).reshape(value.shape[:-1])
        shape = torch.broadcast_shapes(out.shape, self.batch_shape)
        return out.expand(shape)


#: Largest estimated rounding error (nats) a row of :class:`DiagonalNormalMixture` may carry
#: before it is computed again in float64.
MIXTURE_TOLERANCE = 1e-2
#: Rows times components up to which :func:`mixture_log_prob` computes in float64 throughout.
MIXTURE_SMALL = 2**18


def _mixture_terms(rows, logits, locs, scales):
    r"""Per row and component, :math:`\log\pi_k - \frac12 Q_k - \sum_d\log\sigma_{kd}` (one
    matrix product of ``[(z - c)^2, z - c]`` with the components' coefficients), and per
    component :math:`\log\pi_k - \sum_d\log\sigma_{kd}` and :math:`a_k` of
    :class:`DiagonalNormalMixture`."""
    centre = locs.detach().mean(0)
    shifted = locs - centre
    precision = scales.pow(-2)
    weighted = shifted * precision
    a = (shifted * weighted).sum(-1)
    log_norm = torch.log_softmax(logits, -1) - scales.log().sum(-1)
    z = rows - centre
    features = torch.cat([z * z, z], -1)
    coefficients = torch.cat([-0.5 * precision, weighted], -1)
    return torch.addmm(log_norm - 0.5 * a, features, coefficients.T), log_norm, a


def mixture_log_prob(rows: torch.Tensor, logits, locs, scales) -> torch.Tensor:
    r""":math:`\log p(z)` of :class:`DiagonalNormalMixture` for ``rows`` ``[N, D]``, as ``[N]``
    in ``rows``' dtype; rows whose estimated rounding error exceeds :data:`MIXTURE_TOLERANCE`
    are computed again in float64. Small inputs (rows times components at most
    :data:`MIXTURE_SMALL`, as in a training batch) are computed in float64 throughout: that costs
    little, and their operations keep fixed shapes, which the training replay needs.

    The estimate, :math:`\sqrt D\, u \sum_k w_k (2 Q_k + 3 a_k)` with :math:`w` the softmax
    over components, bounds :math:`\sqrt D\, u \sum_k w_k (s_k + a_k)` (the probabilistic
    rounding-error bound of the expansion, Higham and Mary 2019) through
    :math:`|(z-c)\cdot(\mu_k-c)/\sigma_k^2| \le \sqrt{s_k a_k}`, so it needs no second
    matrix product. It is itself bounded, per row and without a pass over the components, by
    :math:`\sqrt D\, u\, (4 (\max_k \log \tilde\pi_k - \log p(z) + \log K) + 3 \max_k a_k)`
    (:math:`\log\tilde\pi_k = \log\pi_k - \sum_d \log\sigma_{kd}`; the entropy of
    :math:`w` is at most :math:`\log K`); only rows above the tolerance there are looked at.
    """
    dim = rows.shape[-1]
    if rows.shape[0] * locs.shape[0] <= MIXTURE_SMALL:
        wide = [t.double() for t in (rows, logits, locs, scales)]
        return (_mixture_terms(*wide)[0].logsumexp(-1) - 0.5 * dim * _LOG_2PI).to(rows.dtype)
    terms, log_norm, a = _mixture_terms(rows, logits, locs, scales)
    out = terms.logsumexp(-1)
    if rows.dtype != torch.float64:
        with torch.no_grad():
            factor = math.sqrt(dim) * torch.finfo(rows.dtype).eps / 2
            # sum_k w_k Q_k <= 2 (max_k log_norm_k - logsumexp + log K): no pass over [N, K]
            cheap = factor * (4 * (log_norm.max() - out + math.log(len(a))) + 3 * a.max())
            rows_to_check = (cheap > MIXTURE_TOLERANCE).nonzero().squeeze(-1)
            if rows_to_check.numel():
                checked = terms[rows_to_check]
                w = torch.softmax(checked, -1)
                mean_quad = 2 * (w @ log_norm - (w * checked).sum(-1))
                error = factor * (2 * mean_quad + 3 * (w @ a))
                poor = rows_to_check[error > MIXTURE_TOLERANCE]
        if rows_to_check.numel() and poor.numel():
            wide = [t.double() for t in (rows[poor], logits, locs, scales)]
            exact = _mixture_terms(*wide)[0].logsumexp(-1).to(rows.dtype)
            out = out.index_put((poor,), exact)
    return out - 0.5 * dim * _LOG_2PI
