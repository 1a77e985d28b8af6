"""Probabilistic PCA: a linear-Gaussian latent model whose marginal likelihood is exact.

:math:`z \\sim \\mathcal N(0, I_d)`, :math:`x \\mid z \\sim \\mathcal N(Wz + b, s^2 I_D)`, so
:math:`x \\sim \\mathcal N(b, WW^\\top + s^2 I_D)`. Used to check estimators of :math:`\\log p(x)`.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.base.distributions import independent_normal
from pyrovae.base.errors import DataError
from pyrovae.base.options import NonNegativeFloat, PositiveFloat, PositiveInt
from pyrovae.data.info import DataInfo


class PPCAWeights(nn.Module):
    """The parameters of PPCA, ``W`` ``[D, d]``, ``b`` ``[D]`` and ``log_s`` (scalar): a module of
    their own, which the model and its exact posterior (:mod:`pyrovae.guides.ppca`) both hold.

    :param data_dim: ``D``, size of a (flat) data point.
    :param latent_dim: ``d``.
    :param init_scale: standard deviation of the random initial ``W``.
    :param noise_scale: initial :math:`s`.
    """

    def __init__(self, data_dim: int, latent_dim: int, init_scale: float, noise_scale: float):
        super().__init__()
        self.W = nn.Parameter(init_scale * torch.randn(data_dim, latent_dim))
        self.b = nn.Parameter(torch.zeros(data_dim))
        self.log_s = nn.Parameter(torch.tensor(math.log(noise_scale)))


class PPCA(nn.Module):
    """Probabilistic PCA with parameters ``W`` ``[D, d]``, ``b`` ``[D]`` and ``log_s`` (scalar),
    held in ``weights`` (a :class:`PPCAWeights`).

    :param data_dim: ``D``, size of a (flat) data point.
    :param latent_dim: ``d``.
    :param init_scale: standard deviation of the random initial ``W``.
    :param noise_scale: initial :math:`s`.
    """

    def __init__(
        self,
        data_dim: int,
        latent_dim: int = 2,
        init_scale: float = 0.1,
        noise_scale: float = 1.0,
    ):
        super().__init__()
        self.data_dim = data_dim
        self.latent_dim = latent_dim
        self.weights = PPCAWeights(data_dim, latent_dim, init_scale, noise_scale)

    @property
    def W(self) -> nn.Parameter:
        return self.weights.W

    @property
    def b(self) -> nn.Parameter:
        return self.weights.b

    @property
    def log_s(self) -> nn.Parameter:
        return self.weights.log_s

    def prior_dist(self) -> dist.Distribution:
        """:math:`p(z) = \\mathcal N(0, I_d)`, event shape ``(d,)``."""
        zeros = torch.zeros(self.latent_dim, dtype=self.b.dtype, device=self.b.device)
        return independent_normal(zeros, 1.0, 1)

    def likelihood_dist(self, z: torch.Tensor) -> dist.Distribution:
        """:math:`p(x \\mid z) = \\mathcal N(Wz + b, s^2 I_D)`, event shape ``(D,)``."""
        return independent_normal(z @ self.W.T + self.b, self.log_s.exp(), 1)

    def marginal_dist(self) -> dist.MultivariateNormal:
        """:math:`p(x) = \\mathcal N(b, WW^\\top + s^2 I_D)`."""
        W = self.W
        eye = torch.eye(self.data_dim, dtype=W.dtype, device=W.device)
        return dist.MultivariateNormal(self.b, W @ W.T + self.log_s.exp() ** 2 * eye)

    def exact_log_px(self, x: torch.Tensor) -> torch.Tensor:
        """Exact :math:`\\log p(x_n)` ``[N]`` for data ``[N, D]``."""
        return self.marginal_dist().log_prob(x)

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        n = x.shape[0] if x is not None else batch_size
        with pyro.plate("data", n):
            z = pyro.sample("z", self.prior_dist())
            return pyro.sample("x", self.likelihood_dist(z), obs=x)


def make_ppca(
    data: DataInfo,
    latent_dim: PositiveInt = 2,
    init_scale: NonNegativeFloat = 0.1,
    noise_scale: PositiveFloat = 1.0,
) -> PPCA:
    """PPCA for flat data of event shape ``(D,)``."""
    if len(data.event_shape) != 1:
        raise DataError(
            f"model 'ppca' needs flat data points of shape (D,), got {tuple(data.event_shape)}: "
            f"flatten the data first."
        )
    return PPCA(data.event_shape[0], latent_dim, init_scale, noise_scale)
