"""The beta-VAE disentanglement score of Higgins et al. (2017)."""

from __future__ import annotations

import torch

from pyrovae.metrics.inputs import check_count, check_inputs, generator, varying
from pyrovae.metrics.votes import check_groups, same_factor_batches


def fit_softmax(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, l2: float = 1e-3,
                steps: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression of ``y`` on ``x`` (float64 ``[N, D]``): weights ``[D, C]``
    and biases ``[C]`` minimizing the mean cross-entropy plus ``l2`` times the squared weights,
    by full-batch L-BFGS from zero (deterministic)."""
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, y) + l2 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def difference_votes(codes: torch.Tensor, factors: torch.Tensor, num: int, pairs: int,
                     gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``num`` training points of the score: features :math:`\\frac1L \\sum_l |z_{1l} - z_{2l}|`
    ``[num, D]`` over ``pairs`` pairs that share one factor, and that factor ``[num]``."""
    chosen, index = same_factor_batches(factors, num, 2 * pairs, gen, pairs=True)
    z = codes[index]
    return (z[:, :pairs] - z[:, pairs:]).abs().mean(1), chosen


def beta_vae_score(codes: torch.Tensor, factors: torch.Tensor, *, pairs: int = 64,
                   num_train: int = 1000, num_eval: int = 500, seed: int = 0) -> float:
    """Accuracy of a linear classifier that tells which factor was held fixed.

    Each vote draws a factor :math:`k` uniformly and ``pairs`` = :math:`L` pairs of points
    :math:`(x_{1l}, x_{2l})` sharing the value of :math:`v_k` (other factors at random,
    :mod:`pyrovae.metrics.votes`), and forms
    :math:`\\bar d = \\frac1L \\sum_l |z(x_{1l}) - z(x_{2l})|`. A multinomial logistic
    regression (linear, :func:`fit_softmax`, on features standardized by the training votes)
    learns :math:`k` from :math:`\\bar d` on ``num_train`` votes; the score is its accuracy on
    ``num_eval`` other votes. Codes that capture each factor in its own dimensions score 1;
    codes independent of the factors score chance, :math:`1/K`. Every factor class needs at
    least 2 points, and a vote draws its pairs without repeats only from a class of at least
    :math:`2L` points (:mod:`pyrovae.metrics.votes`).

    :param codes: float ``[N, D]``, one code per data point (e.g. posterior means).
    :param factors: int ``[N, K]`` class indices; constant factors are left out.
    :param pairs: pairs per vote, L >= 1; the two points of a pair are distinct.
    :param num_train: votes the classifier learns from, at least 2.
    :param num_eval: votes it is scored on, at least 1.
    :param seed: seed of a local generator for the votes.
    """
    codes, factors = check_inputs(codes, factors)
    check_count("pairs", pairs)
    check_count("num_train", num_train, 2)
    check_count("num_eval", num_eval)
    factors = factors[:, varying(factors)]
    check_groups(factors, "the beta-VAE score")
    gen = generator(seed)
    x, y = difference_votes(codes, factors, num_train + num_eval, pairs, gen)
    x_train, y_train, x_eval, y_eval = x[:num_train], y[:num_train], x[num_train:], y[num_train:]
    centre, scale = x_train.mean(0), x_train.std(0).clamp_min(1e-12)
    weight, bias = fit_softmax((x_train - centre) / scale, y_train, factors.shape[1])
    predicted = (((x_eval - centre) / scale) @ weight + bias).argmax(1)
    return float((predicted == y_eval).double().mean())
