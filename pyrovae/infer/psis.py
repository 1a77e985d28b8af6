"""Pareto :math:`\\hat k` of importance weights per data point, as in
:func:`pyro.infer.importance.psis_diagnostic` (Vehtari et al., *Pareto Smoothed Importance
Sampling*; Yao et al., *Yes, but did it work?*).
"""

from __future__ import annotations

import math

import torch

_ROWS_PER_FIT = 1024


def psis_tail_length(num_samples: int) -> int:
    """:math:`M = \\lceil \\min(0.2K, 3\\sqrt{K}) \\rceil`, the number of largest weights the
    generalized Pareto is fitted to."""
    return int(math.ceil(min(0.2 * num_samples, 3.0 * math.sqrt(num_samples))))


def fit_generalized_pareto_rows(X: torch.Tensor) -> torch.Tensor:
    """Shape :math:`k` of a generalized Pareto fitted to each row of ``X`` ``[B, L]``.

    Row by row the same computation as :func:`pyro.ops.stats.fit_generalized_pareto` (Zhang &
    Stephens, 2009, with the adjustment of Vehtari et al.), batched over rows of equal length.
    """
    X = X.to(torch.float64).sort(-1).values
    N = X.shape[-1]
    M = 30 + int(math.sqrt(N))
    arange = torch.arange(1, M + 1, dtype=torch.float64, device=X.device)
    bs = 1.0 - math.sqrt(M) / (arange - 0.5).sqrt()
    bs = bs / (3.0 * X[:, int(N / 4 - 0.5), None]) + 1 / X[:, -1:]
    ks = torch.log1p(-bs.unsqueeze(-1) * X.unsqueeze(-2)).mean(-1)
    Ls = N * (torch.log(-bs / ks) - (ks + 1.0))
    weights = 1.0 / torch.exp(Ls.unsqueeze(-2) - Ls.unsqueeze(-1)).sum(-1)
    weights = torch.where(weights > 1.0e-30, weights, torch.zeros_like(weights))
    weights = weights / weights.sum(-1, keepdim=True)
    b = (bs * weights).sum(-1, keepdim=True)
    k = torch.log1p(-b * X).mean(-1)
    return k * N / (N + 10.0) + 5.0 / (N + 10.0)


def pareto_khat(top_log_weights: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Generalized-Pareto shape :math:`\\hat k` of each column's weight tail.

    Per data point, with log weights shifted so their maximum is 0, the cutoff is
    :math:`u = \\max(\\log 10^{-15}, w_{(M+1)})`, the :math:`(M+1)`-th largest
    (:func:`psis_tail_length`), and a generalized Pareto is fitted
    (:func:`fit_generalized_pareto_rows`) to :math:`e^{w} - e^{u}` for the weights with
    :math:`w > u`: the computation of :func:`pyro.infer.importance.psis_diagnostic`. ``nan``
    where fewer than 10 weights exceed the cutoff (``K`` too small), where the cutoff is within
    :math:`10^{-8}` of the largest log weight (constant weights), or the weights are not finite.

    :param top_log_weights: ``[m, n]``, at least the :math:`M + 1` largest log weights of each of
        ``n`` data points (any order).
    :param num_samples: ``K``, the number of weights the columns were taken from.
    :returns: float64 tensor ``[n]``.
    """
    tail_length = psis_tail_length(num_samples)
    num_data = top_log_weights.shape[1]
    khat = torch.full((num_data,), math.nan, dtype=torch.float64, device=top_log_weights.device)
    if top_log_weights.shape[0] < tail_length + 1:
        return khat
    log_w = top_log_weights.detach().to(torch.float64).T
    log_w = log_w.sort(-1, descending=True).values[:, : tail_length + 1]
    log_w = log_w - log_w[:, :1]
    cutoff = log_w[:, tail_length].clamp(min=math.log(1.0e-15))
    above = log_w > cutoff[:, None]
    count = above.sum(-1)
    valid = top_log_weights.detach().max(0).values.isfinite() & (cutoff < -1.0e-8) & (count >= 10)
    excess = log_w.exp() - cutoff.exp()[:, None]
    for length in count[valid].unique().tolist():
        rows = (valid & (count == length)).nonzero().squeeze(-1)
        for block in rows.split(_ROWS_PER_FIT):
            khat[block] = fit_generalized_pareto_rows(excess[block, :length])
    return khat
