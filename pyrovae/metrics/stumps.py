"""Gradient-boosted decision stumps for classification, with feature importances: the tree
ensemble of DCI (Eastwood & Williams 2018 use random forests, disentanglement_lib
gradient-boosted trees), cut down to depth-1 trees with exact cuts."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Stumps:
    """A fitted ensemble: the ``prior`` class scores ``[C]`` and, per round, for each class the
    feature ``[C]``, the threshold ``[C]`` (left side: ``x <= threshold``) and the score steps
    left and right ``[C]``."""

    prior: torch.Tensor
    rounds: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[N, C]`` of the points ``x`` ``[N, D]``; the prediction is the argmax."""
        out = self.prior.expand(x.shape[0], -1).clone()
        for feature, threshold, left, right in self.rounds:
            out += torch.where(x[:, feature] <= threshold, left, right)
        return out


def fit_stumps(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, rounds: int = 50,
               learning_rate: float = 0.5) -> tuple[Stumps, torch.Tensor]:
    """Boost ``rounds`` stumps per class on the squared error of one-hot targets; returns the
    ensemble and the importance of each feature ``[D]``: the squared-error reduction summed over
    the stumps that split on it (scikit-learn's impurity importance for trees of depth 1).

    Each round fits, for every class :math:`c` (one stump per class and round, as
    scikit-learn's multi-class gradient boosting does), the residual
    :math:`r_c = \\mathbb 1[y = c] - F_c` by the stump of largest reduction
    :math:`S_L^2 / n_L + S_R^2 / n_R - S^2 / n` (:math:`S_L, S_R`: the residual sums on either
    side) over every feature and every cut between two distinct consecutive values of it
    (exact: the features are sorted once, the sums are cumulative sums in that order), and adds
    ``learning_rate`` times its side means :math:`S_L / n_L, S_R / n_R` to :math:`F_c`. The
    cut is the midpoint of the two values. A feature's scale or any monotone transform of it
    leaves the fit unchanged. Stops early when no cut reduces the error. Deterministic.

    :param x: float64 ``[N, D]`` features; ``y``: int64 ``[N]`` classes in ``0..num_classes-1``.
    """
    n, dim = x.shape
    values, order = torch.sort(x, 0)
    midpoints = (values[1:] + values[:-1]) / 2
    # a cut only between two distinct values: -inf gain elsewhere
    blocked = torch.where(values[1:] > values[:-1], 0.0, -torch.inf)[:, :, None]
    left_n = torch.arange(1, n, dtype=torch.float64)[:, None, None]
    right_n = n - left_n
    both = n / (left_n * right_n)  # 1 / n_L + 1 / n_R
    target = torch.nn.functional.one_hot(y, num_classes).double()
    prior = target.mean(0)
    scores = prior.expand(n, -1).clone()
    importance = torch.zeros(dim, dtype=torch.float64)
    classes = torch.arange(num_classes)
    fitted = []
    for _ in range(rounds):
        residual = target - scores
        total = residual.sum(0)  # [C]
        left = residual[order].cumsum_(0)[:-1]  # [n - 1, D, C]: sums left of each cut
        # S_L^2 / n_L + (S - S_L)^2 / n_R - S^2 / n, expanded to save passes over [n - 1, D, C]
        gain = left * (left * both - 2 * total / right_n) + blocked
        gain += total.square() * (1 / right_n - 1 / n)
        best_gain, best = gain.reshape(-1, num_classes).max(0)  # [C]
        useful = best_gain > 1e-12
        if not bool(useful.any()):
            break
        position, feature = best // dim, best % dim
        importance.index_add_(0, feature[useful], best_gain[useful])
        sums = left[position, feature, classes]
        count = position.double() + 1
        step_left = torch.where(useful, learning_rate * sums / count, 0.0)
        step_right = torch.where(useful, learning_rate * (total - sums) / (n - count), 0.0)
        threshold = midpoints[position, feature]
        scores += torch.where(x[:, feature] <= threshold, step_left, step_right)
        fitted.append((feature, threshold, step_left, step_right))
    return Stumps(prior, fitted), importance
