"""DCI disentanglement, completeness and informativeness of Eastwood & Williams (2018)."""

from __future__ import annotations

import math

import torch

from pyrovae.metrics.discrete import normalized_entropy
from pyrovae.metrics.inputs import (
    check_count,
    check_inputs,
    check_positive,
    check_share,
    generator,
    split_halves,
    varying,
)
from pyrovae.metrics.stumps import fit_stumps

TINY = 1e-300


def importance_matrix(codes: torch.Tensor, factors: torch.Tensor, *, seed: int = 0,
                      train_share: float = 0.8, rounds: int = 50,
                      learning_rate: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """The importance matrix ``R`` ``[D, K']`` of the codes for each of the ``K'`` factors
    that vary (constant factors are left out, as in :func:`dci`), and the held-out accuracy of
    each factor's predictor ``[K']``.

    For every factor, gradient-boosted stumps (:func:`~pyrovae.metrics.stumps.fit_stumps`)
    learn its class from all codes on a random ``train_share`` of the points and are scored on
    the rest. Each column is normalized to sum 1,
    :math:`R_{jk} = G_{jk} / \\sum_{j'} G_{j'k}` with :math:`G_{jk}` the error reduction of the
    stumps on code :math:`j` (scikit-learn's ``feature_importances_``, as disentanglement_lib
    uses them); a factor no stump can predict keeps a column of zeros."""
    codes, factors = check_inputs(codes, factors, min_points=4)
    check_share("train_share", train_share)
    check_count("rounds", rounds)
    check_positive("learning_rate", learning_rate)
    factors = factors[:, varying(factors)]
    train, held = split_halves(codes.shape[0], generator(seed), train_share)
    columns, accuracy = [], []
    for k in range(factors.shape[1]):
        stumps, weights = fit_stumps(codes[train], factors[train, k],
                                     int(factors[:, k].max()) + 1, rounds=rounds,
                                     learning_rate=learning_rate)
        columns.append(weights / weights.sum().clamp_min(TINY))
        predicted = stumps.scores(codes[held]).argmax(1)
        accuracy.append(float((predicted == factors[held, k]).double().mean()))
    return torch.stack(columns, 1), torch.tensor(accuracy, dtype=torch.float64)


def dci_from_importance(weights: torch.Tensor) -> tuple[float, float]:
    """Disentanglement and completeness of an importance matrix ``R`` ``[D, K]`` (see
    :func:`dci`); D is NaN for a single factor."""
    total = float(weights.sum())
    share = weights / total if total > 0 else torch.full_like(weights, 1 / weights.numel())
    per_code = 1 - normalized_entropy(weights, dim=1)
    per_factor = 1 - normalized_entropy(weights, dim=0)
    disentanglement = float((share.sum(1) * per_code).sum()) if weights.shape[1] > 1 else math.nan
    return disentanglement, float((share.sum(0) * per_factor).sum())


def dci(codes: torch.Tensor, factors: torch.Tensor, *, seed: int = 0, train_share: float = 0.8,
        rounds: int = 50, learning_rate: float = 0.5) -> dict[str, float]:
    """DCI scores, each in ``[0, 1]``: ``{"dci_disentanglement", "dci_completeness",
    "dci_informativeness"}``.

    With :math:`R_{jk} \\ge 0` the importance of code :math:`z_j` for factor :math:`v_k`
    (:func:`importance_matrix`, each column summing to 1), :math:`P_{jk} = R_{jk} / \\sum_{k'}
    R_{jk'}` and :math:`\\tilde P_{jk} = R_{jk} / \\sum_{j'} R_{j'k}`:

    .. math::

        D = \\sum_j \\rho_j \\Big(1 + \\sum_k P_{jk} \\log_K P_{jk}\\Big),\\quad
        \\rho_j = \\frac{\\sum_k R_{jk}}{\\sum_{jk} R_{jk}},\\qquad
        C = \\sum_k \\kappa_k \\Big(1 + \\sum_j \\tilde P_{jk} \\log_D \\tilde P_{jk}\\Big),\\quad
        \\kappa_k = \\frac{\\sum_j R_{jk}}{\\sum_{jk} R_{jk}},

    as disentanglement_lib weights them: :math:`\\kappa_k = 1/K` for every factor some code
    predicts, 0 for one none does. With a single factor (K = 1), every code is trivially
    "disentangled", so D is NaN (undefined) rather than 1. Informativeness :math:`I` is the
    mean over factors of the held-out accuracy of the predictor of each factor from all codes
    (disentanglement_lib's convention; the paper reports the error, :math:`1 - I`).

    The regressor: the paper fits lasso and random forests, disentanglement_lib
    gradient-boosted trees; here gradient-boosted stumps with exact cuts, whose impurity
    importances, like the trees', see non-linear and non-monotone codes (a lasso's weights miss
    those) and do not change under a monotone transform of a code. A stump reads one code at a
    time, so interactions between codes get no importance.

    :param codes: float ``[N, D]``, one code per data point (e.g. posterior means).
    :param factors: int ``[N, K]`` class indices; constant factors are left out.
    :param seed: seed of the train/held-out split of the points.
    :param train_share: share of the points the predictors learn from, in (0, 1).
    :param rounds: boosting rounds per factor (one stump per class and round).
    :param learning_rate: shrinkage of each stump.
    """
    weights, accuracy = importance_matrix(codes, factors, seed=seed, train_share=train_share,
                                          rounds=rounds, learning_rate=learning_rate)
    disentanglement, completeness = dci_from_importance(weights)
    return {"dci_disentanglement": disentanglement,
            "dci_completeness": completeness,
            "dci_informativeness": float(accuracy.mean())}
