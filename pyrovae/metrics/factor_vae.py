"""The FactorVAE disentanglement score of Kim & Mnih (2018)."""

from __future__ import annotations

import torch

from pyrovae.base.errors import ConfigError
from pyrovae.metrics.inputs import check_count, check_inputs, generator, varying
from pyrovae.metrics.votes import check_groups, same_factor_batches


def majority_vote_accuracy(train: torch.Tensor, evaluate: torch.Tensor) -> float:
    """Accuracy on the ``evaluate`` votes of the majority-vote classifier fit on the ``train``
    votes, both count tables ``[D, K]`` (votes for code ``d`` with factor ``k`` fixed): each code
    ``d`` predicts the factor most often fixed when ``d`` won (ties to the lower ``k``)."""
    predicted = train.argmax(1)
    return float(evaluate.gather(1, predicted[:, None]).sum() / evaluate.sum())


def vote_counts(codes: torch.Tensor, factors: torch.Tensor, num: int, size: int,
                gen: torch.Generator) -> torch.Tensor:
    """Count table ``[D, K]`` of ``num`` votes: the code dimension of least variance over a batch
    of ``size`` points sharing one factor (``codes`` already normalized and pruned)."""
    chosen, index = same_factor_batches(factors, num, size, gen)
    winners = codes[index].var(1).argmin(1)
    table = torch.zeros(codes.shape[1], factors.shape[1], dtype=torch.float64)
    return table.index_put_((winners, chosen), torch.ones(num, dtype=torch.float64),
                            accumulate=True)


def factor_vae_score(codes: torch.Tensor, factors: torch.Tensor, *, batch_size: int = 64,
                     num_train: int = 1000, num_eval: int = 500, min_variance: float = 0.01,
                     seed: int = 0) -> float:
    """Accuracy of the majority-vote classifier that tells which factor was held fixed.

    Pruning first, on the raw codes: with :math:`s_d^2` the variance of code dimension
    :math:`d` over all N points, dimensions with :math:`s_d^2 <` ``min_variance`` (collapsed
    units) are left out. The threshold is absolute, applied before normalizing, as in
    disentanglement_lib (whose configs prune :math:`s_d < 0.05`, i.e. :math:`s_d^2 < 0.0025`);
    the default 0.01 is instead the active-unit threshold of Burda et al., so a unit counted
    inactive never votes. With every dimension pruned the score is 0, as disentanglement_lib
    returns. Then each kept dimension is divided by :math:`s_d` (Kim & Mnih's normalization,
    so a code's scale does not decide the votes).

    Each vote draws a factor :math:`k` uniformly and ``batch_size`` points sharing the value of
    :math:`v_k` (:mod:`pyrovae.metrics.votes`), and yields :math:`(d^*, k)` with
    :math:`d^* = \\arg\\min_d \\widehat{\\mathrm{Var}}(z_d / s_d)` over the batch. With
    :math:`V_{dk}` the counts of ``num_train`` votes, the classifier maps
    :math:`d \\mapsto \\arg\\max_k V_{dk}`; the score is its accuracy on ``num_eval`` other
    votes. Codes that capture each factor in their own dimension score 1; codes independent of
    the factors score about chance, :math:`1/K`. Every factor class needs at least 2 points,
    and a batch is drawn without repeats only from a class of at least ``batch_size`` points.

    :param codes: float ``[N, D]``, one code per data point (e.g. posterior means).
    :param factors: int ``[N, K]`` class indices; constant factors are left out.
    :param batch_size: points per vote, L >= 2.
    :param num_train: votes the classifier learns from, at least 1.
    :param num_eval: votes it is scored on, at least 1.
    :param min_variance: dimensions whose codes vary less are pruned; 0 keeps every dimension
        that varies at all.
    :param seed: seed of a local generator for the votes.
    """
    codes, factors = check_inputs(codes, factors)
    check_count("batch_size", batch_size, 2)
    check_count("num_train", num_train)
    check_count("num_eval", num_eval)
    if isinstance(min_variance, bool) or not isinstance(min_variance, (int, float)) \
            or not 0 <= min_variance < float("inf"):
        raise ConfigError(f"min_variance must be a finite number >= 0, got {min_variance!r}.")
    factors = factors[:, varying(factors)]
    check_groups(factors, "the FactorVAE score")
    variance = codes.var(0)
    active = (variance > 0) & (variance >= min_variance)
    if not bool(active.any()):  # a collapsed posterior: disentanglement_lib scores it 0
        return 0.0
    codes = codes[:, active] / variance[active].sqrt()
    gen = generator(seed)
    train = vote_counts(codes, factors, num_train, batch_size, gen)
    return majority_vote_accuracy(train, vote_counts(codes, factors, num_eval, batch_size, gen))
