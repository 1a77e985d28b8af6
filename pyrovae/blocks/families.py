"""Posterior families of the derived guide, by name: encoder features :math:`h` ->
:math:`q(z \\mid h)`, batch shape ``h.shape[:-1]``, event shape ``[dim]``."""

from __future__ import annotations

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions.transforms import ConditionalAffineAutoregressive
from pyro.nn import ConditionalAutoRegressiveNN
from torch import nn

from pyrovae.base.distributions import LATENT_SCALE_FLOOR, independent_normal
from pyrovae.base.errors import ConfigError

#: How a family turns an encoder output into a positive scale.
SCALES = ("softplus", "exp")


def check_scale(scale: str, logvar_clip) -> tuple[float, float] | None:
    """``logvar_clip`` as a pair ``(low, high)`` (or None) after checking it fits ``scale``.

    :raises ConfigError: an unknown scale, a clip that is not two increasing numbers, or a clip
        with the softplus scale (which has no log-variance to clip).
    """
    if scale not in SCALES:
        raise ConfigError(f"guide.scale must be one of {', '.join(SCALES)}; got {scale!r}.")
    if logvar_clip is None:
        return None
    if (not isinstance(logvar_clip, (list, tuple)) or len(logvar_clip) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in logvar_clip)
            or not logvar_clip[0] < logvar_clip[1]):
        raise ConfigError(f"guide.logvar_clip must be two increasing numbers [low, high], e.g. "
                          f"[-6, 2]; got {logvar_clip!r}.")
    if scale != "exp":
        raise ConfigError('guide.logvar_clip clips a log-variance, which only guide.scale = "exp" '
                          'has; add scale = "exp" to [guide].')
    return float(logvar_clip[0]), float(logvar_clip[1])


class DiagNormal(nn.Module):
    r""":math:`q(z \mid h) = \mathcal N(\mu(h), \operatorname{diag}\sigma(h)^2)`, linear in
    :math:`h`: :math:`(\mu, s) = W h + b`.

    With ``scale = "softplus"``, :math:`\sigma = \operatorname{softplus}(s) + \epsilon`; with
    ``scale = "exp"``, :math:`s` is the log-variance, :math:`\sigma = \exp(s / 2)`, clipped
    first to ``logvar_clip`` :math:`= [a, b]` when given (Tomczak and Welling's
    :math:`[-6, 2]`, through a hard tanh, so no gradient flows outside it).

    :param in_dim: size of :math:`h`.
    :param dim: dimension of :math:`z`.
    :param scale: ``softplus`` or ``exp``.
    :param logvar_clip: ``(a, b)`` or None.
    """

    closed_form = True  # log q(z) at any z costs one pass (a VampPrior needs that)
    options = {"scale": "scale", "logvar_clip": "logvar_clip"}

    def __init__(self, in_dim: int, dim: int, scale: str = "softplus", logvar_clip=None):
        super().__init__()
        self.dim = dim
        self.logvar_clip = check_scale(scale, logvar_clip)
        self.scale = scale
        self.linear = nn.Linear(in_dim, 2 * dim)

    def forward(self, h: torch.Tensor) -> dist.Distribution:
        loc, raw_scale = self.linear(h).split(self.dim, dim=-1)
        if self.scale == "softplus":
            return independent_normal(loc, F.softplus(raw_scale) + LATENT_SCALE_FLOOR, 1)
        if self.logvar_clip is not None:
            raw_scale = F.hardtanh(raw_scale, *self.logvar_clip)
        return independent_normal(loc, torch.exp(0.5 * raw_scale), 1)


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


#: name -> the posterior family of the derived guide.
FAMILIES = {"diag": DiagNormal, "full": FullCovNormal, "iaf": IAF}
