"""Posterior families of the derived guide, by name: encoder features :math:`h` ->
:math:`q(z \\mid h)`, batch shape ``h.shape[:-1]``, event shape ``[dim]``."""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions.transforms import ConditionalAffineAutoregressive
from pyro.nn import ConditionalAutoRegressiveNN
from torch import nn

from pyrovae.distributions import LATENT_SCALE_FLOOR, independent_normal


class DiagNormal(nn.Module):
    r""":math:`q(z \mid h) = \mathcal N(\mu(h), \operatorname{diag}\sigma(h)^2)`, linear in
    :math:`h`, :math:`\sigma` through a softplus.

    :param in_dim: size of :math:`h`.
    :param dim: dimension of :math:`z`.
    """

    closed_form = True  # log q(z) at any z costs one pass (a VampPrior needs that)
    options: dict[str, str] = {}  # constructor parameter -> guide option it takes

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(in_dim, 2 * dim)

    def forward(self, h: torch.Tensor) -> dist.Distribution:
        loc, raw_scale = self.linear(h).split(self.dim, dim=-1)
        return independent_normal(loc, F.softplus(raw_scale) + LATENT_SCALE_FLOOR, 1)


class FullCovNormal(nn.Module):
    r""":math:`q(z \mid h) = \mathcal N(\mu(h), L(h) L(h)^\top)` with a lower-triangular
    Cholesky factor :math:`L`: free entries below the diagonal, a softplus on the diagonal.
    All of :math:`\mu`, :math:`\operatorname{diag} L` and the lower entries are linear in
    :math:`h` (``linear`` then ``tril``).

    :param in_dim: size of :math:`h`.
    :param dim: dimension of :math:`z`.
    """

    closed_form = True
    options: dict[str, str] = {}

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.dim = dim
        rows, cols = torch.tril_indices(dim, dim, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.linear = nn.Linear(in_dim, 2 * dim)
        self.tril = nn.Linear(in_dim, len(rows))

    def scale_tril(self, raw_diag: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
        """:math:`L` ``[..., dim, dim]`` from its raw diagonal and strictly-lower entries."""
        L = lower.new_zeros(*lower.shape[:-1], self.dim, self.dim)
        L[..., self.rows, self.cols] = lower
        return L + torch.diag_embed(F.softplus(raw_diag) + LATENT_SCALE_FLOOR)

    def forward(self, h: torch.Tensor) -> dist.Distribution:
        loc, raw_diag = self.linear(h).split(self.dim, dim=-1)
        return dist.MultivariateNormal(loc, scale_tril=self.scale_tril(raw_diag, self.tril(h)))


class IAF(nn.Module):
    r"""An inverse autoregressive flow (Kingma et al. 2016): :math:`z_0 = \mu_0 + \sigma_0
    \odot \epsilon`, :math:`\epsilon \sim \mathcal N(0, I)`, then ``steps`` times
    :math:`z_t = \sigma_t \odot z_{t-1} + (1 - \sigma_t) \odot m_t` with
    :math:`(m_t, s_t) = \mathrm{MADE}_t(z_{t-1}, c)`, :math:`\sigma_t = \operatorname{sigmoid}(s_t
    + 2)`, where :math:`(\mu_0, \sigma_0, c)` are linear in :math:`h`; the ordering of the
    autoregressive networks alternates between steps. Its density is exact:

    .. math:: \log q(z_T \mid h) = \log \mathcal N(\epsilon; 0, I) - \sum_i \log \sigma_{0,i}
              - \sum_{t=1}^T \sum_i \log \sigma_{t,i}.

    :param in_dim: size of :math:`h`.
    :param dim: dimension of :math:`z`.
    :param steps: :math:`T`.
    :param hidden: hidden widths of each autoregressive network.
    :param context: size of the context :math:`c`.
    """

    closed_form = False
    options = {"steps": "flow_steps", "hidden": "flow_hidden"}

    def __init__(self, in_dim: int, dim: int, steps: int = 2, hidden=(), context: int = 0):
        super().__init__()
        self.dim = dim
        hidden = list(hidden) or [max(4 * dim, 32)]
        self.context = context or max(2 * dim, 16)
        self.linear = nn.Linear(in_dim, 2 * dim + self.context)
        order = torch.arange(dim)
        self.steps = nn.ModuleList(
            ConditionalAffineAutoregressive(
                ConditionalAutoRegressiveNN(dim, self.context, hidden,
                                            permutation=order if t % 2 == 0 else order.flip(0)),
                stable=True,
            )
            for t in range(steps)
        )

    def forward(self, h: torch.Tensor) -> dist.Distribution:
        loc, raw_scale, context = self.linear(h).split([self.dim, self.dim, self.context], dim=-1)
        base = independent_normal(loc, F.softplus(raw_scale) + LATENT_SCALE_FLOOR, 1)
        return dist.TransformedDistribution(base, [step.condition(context) for step in self.steps])


FAMILIES = {"diag": DiagNormal, "full": FullCovNormal, "iaf": IAF}
