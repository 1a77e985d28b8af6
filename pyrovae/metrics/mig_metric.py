"""The mutual information gap (MIG) of Chen et al. (2018)."""

from __future__ import annotations

import torch

from pyrovae.metrics.discrete import discretize, entropy, mutual_info_matrix
from pyrovae.metrics.inputs import check_count, check_inputs, varying


def mig(codes: torch.Tensor, factors: torch.Tensor, *, bins: int = 20) -> float:
    """Mutual information gap, in ``[0, 1]``.

    .. math::

        \\mathrm{MIG} = \\frac1K \\sum_{k=1}^{K} \\frac{I(z_{j^{(k)}}; v_k) -
        \\max_{j \\ne j^{(k)}} I(z_j; v_k)}{H(v_k)},
        \\qquad j^{(k)} = \\arg\\max_j I(z_j; v_k),

    where each code dimension :math:`z_j` is discretized into ``bins`` equal-width bins over its
    range (the histogram estimate of disentanglement_lib), the mutual informations and entropies
    are the plug-in estimates on the N points, and the mean runs over the factors that vary.
    Deterministic: no random draws. Being a plug-in estimate, it is biased up by about
    :math:`(B - 1)(|v_k| - 1) / 2N` nats per term, so independent codes score slightly above 0.

    :param codes: float ``[N, D]``, ``D >= 2``, one code per data point (e.g. posterior means).
    :param factors: int ``[N, K]`` class indices of the ground-truth factors.
    :param bins: number of bins per code dimension, at least 2.
    """
    codes, factors = check_inputs(codes, factors, min_codes=2)
    check_count("bins", bins, 2)
    factors = factors[:, varying(factors)]
    info = mutual_info_matrix(discretize(codes, bins), factors)
    top = info.topk(2, dim=0).values
    heights = torch.tensor([entropy(factors[:, k]) for k in range(factors.shape[1])],
                           dtype=torch.float64)
    return float(((top[0] - top[1]) / heights).mean())
