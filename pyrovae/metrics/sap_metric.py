"""The separated attribute predictability (SAP) score of Kumar et al. (2018)."""

from __future__ import annotations

import torch

from pyrovae.metrics.discrete import bin_edges, bucketize, joint_counts
from pyrovae.metrics.inputs import (
    check_count,
    check_inputs,
    generator,
    split_halves,
    varying,
)


def single_code_scores(codes: torch.Tensor, factors: torch.Tensor, *, bins: int = 20,
                       seed: int = 0) -> torch.Tensor:
    """The score matrix ``S`` ``[D, K]``: how well code :math:`z_j` alone predicts factor
    :math:`v_k`, as the chance-corrected held-out accuracy
    :math:`S_{jk} = \\max(0, (a_{jk} - a_k^0) / (1 - a_k^0))` of a histogram classifier (the
    majority class of each of :math:`\\max(\\text{bins}, |v_k|)` equal-width bins of the code,
    fit on a random half of the points; :math:`a^0_k`: always the training majority)."""
    train, held = split_halves(codes.shape[0], generator(seed))
    scores = torch.zeros(codes.shape[1], factors.shape[1], dtype=torch.float64)
    for k in range(factors.shape[1]):
        v = factors[:, k]
        size = int(v.max()) + 1
        edges = bin_edges(codes[train], max(bins, size))
        binned = bucketize(codes, edges)
        majority = torch.bincount(v[train], minlength=size).argmax()
        base = float((v[held] == majority).double().mean())
        for j in range(codes.shape[1]):
            table = joint_counts(binned[train, j], v[train])
            rule = torch.where(table.sum(1) > 0, table.argmax(1), majority)
            seen = binned[held, j] < len(rule)
            guess = torch.where(seen, rule[binned[held, j].clamp_max(len(rule) - 1)], majority)
            accuracy = float((guess == v[held]).double().mean())
            scores[j, k] = max(0.0, (accuracy - base) / (1 - base)) if base < 1 else 0.0
    return scores


def sap(codes: torch.Tensor, factors: torch.Tensor, *, bins: int = 20, seed: int = 0) -> float:
    """Separated attribute predictability, in ``[0, 1]``.

    .. math::

        \\mathrm{SAP} = \\frac1K \\sum_k \\big(S_{j^{(1)}_k k} - S_{j^{(2)}_k k}\\big),

    the mean over factors of the gap between the two codes that predict factor :math:`v_k`
    best on their own, with ``S`` from :func:`single_code_scores`. Kumar et al. score a
    continuous factor by the :math:`R^2` of a linear regression on one code and a discrete one
    by classification accuracy; here every factor is discrete (binned), and the accuracy is
    corrected for chance so that a code that says nothing scores 0 for factors of any size.

    :param codes: float ``[N, D]``, ``D >= 2``, one code per data point (e.g. posterior means).
    :param factors: int ``[N, K]`` class indices; constant factors are left out.
    :param bins: bins per code of the single-code classifiers, at least 2 (raised to the
        factor's size where that is larger).
    :param seed: seed of the random halves the classifiers are fit and scored on.
    """
    codes, factors = check_inputs(codes, factors, min_codes=2, min_points=4)
    check_count("bins", bins, 2)
    factors = factors[:, varying(factors)]
    top = single_code_scores(codes, factors, bins=bins, seed=seed).topk(2, dim=0).values
    return float((top[0] - top[1]).mean())
