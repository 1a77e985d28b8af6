"""The exact posterior of :class:`~pyrovae.models.ppca.PPCA`, optionally perturbed.

:math:`q(z \\mid x) = \\mathcal N(M^{-1} W^\\top (x - b), s^2 M^{-1})` with
:math:`M = W^\\top W + s^2 I_d`.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.data.info import DataInfo
from pyrovae.base.errors import ModelGuideError
from pyrovae.models.ppca import PPCA, PPCAWeights
from pyrovae.base.options import PositiveFloat


class PPCAPosterior(nn.Module):
    """:math:`q(z \\mid x) = \\mathcal N(M^{-1} W^\\top (x - b) + \\delta, c^2 s^2 M^{-1})`.

    Holds the model's :class:`~pyrovae.models.ppca.PPCAWeights` as a submodule of its own: the
    two share one set of parameters. ``std_factor = 1`` and ``mean_shift = 0`` give the exact
    posterior; other values give a mismatched guide.

    :param weights: the PPCA model's ``weights``.
    :param std_factor: :math:`c`, multiplies the posterior standard deviation.
    :param mean_shift: :math:`\\delta`, added to every coordinate of the posterior mean.
    """

    def __init__(self, weights: PPCAWeights, std_factor: float = 1.0, mean_shift: float = 0.0):
        super().__init__()
        self.weights = weights
        self.std_factor = float(std_factor)
        self.mean_shift = float(mean_shift)

    def posterior_dist(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """:math:`q(z \\mid x)` with batch shape ``[N]`` and event shape ``(d,)``."""
        W, b, s2 = self.weights.W, self.weights.b, self.weights.log_s.exp() ** 2
        M = W.T @ W + s2 * torch.eye(W.shape[1], dtype=W.dtype, device=W.device)
        cholesky = torch.linalg.cholesky(M)
        mean = torch.cholesky_solve(((x - b) @ W).T, cholesky).T + self.mean_shift
        return dist.MultivariateNormal(mean, precision_matrix=M / (s2 * self.std_factor**2))

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        if x is None:
            raise ValueError("the PPCA posterior guide needs the data x.")
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", self.posterior_dist(x))


def make_ppca_posterior(
    model, data: DataInfo, std_factor: PositiveFloat = 1.0, mean_shift: float = 0.0
) -> PPCAPosterior:
    """The exact (or, with ``std_factor``/``mean_shift``, perturbed) posterior of a PPCA model."""
    if not isinstance(model, PPCA):
        raise ModelGuideError(
            f"guide 'ppca_posterior' needs a 'ppca' model, got {type(model).__name__}."
        )
    return PPCAPosterior(model.weights, std_factor, mean_shift)
