"""The metrics' reviewed corners: DCI by hand and on perfect codes, held-out scoring, the
FactorVAE normalization, distinct vote draws, and the checks of every parameter."""

import math

import pytest
import torch

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.metrics import beta_vae_score, dci, factor_vae_score, importance_matrix, mig, sap
from pyrovae.metrics.dci_metric import dci_from_importance
from pyrovae.metrics.votes import distinct_offsets, same_factor_batches

SIZES = (3, 6, 40, 32)


def factors_of(sizes, n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(s, (n,), generator=gen) for s in sizes], 1)


def test_dci_of_a_hand_checked_importance_matrix():
    # 3 codes x 2 factors, columns summing to 1: code 0 holds factor 0, code 2 factor 1,
    # code 1 both (4/9 and 5/9 of its row).
    weights = torch.tensor([[0.6, 0.0], [0.4, 0.5], [0.0, 0.5]], dtype=torch.float64)
    h = lambda *p: -sum(q * math.log(q) for q in p if q > 0)  # noqa: E731
    rho = (0.6 / 2, 0.9 / 2, 0.5 / 2)
    d = rho[0] * 1 + rho[1] * (1 - h(4 / 9, 5 / 9) / math.log(2)) + rho[2] * 1  # base K = 2
    c = 0.5 * (1 - h(0.6, 0.4) / math.log(3)) + 0.5 * (1 - h(0.5, 0.5) / math.log(3))  # D = 3
    assert dci_from_importance(weights) == pytest.approx((d, c))


def test_dci_disentanglement_is_undefined_for_one_factor():
    factors = factors_of((5,), 600)
    codes = torch.randn(600, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert math.isnan(dci(codes, factors)["dci_disentanglement"])


def test_importance_columns_sum_to_one_and_constant_factors_are_left_out():
    factors = torch.cat([torch.zeros(800, 1, dtype=torch.int64), factors_of((4, 3), 800)], 1)
    codes = factors[:, 1:].double() + 0.3 * torch.rand(800, 2, dtype=torch.float64,
                                                       generator=torch.Generator().manual_seed(2))
    weights, accuracy = importance_matrix(codes, factors)
    assert weights.shape == (2, 2) and accuracy.shape == (2,)
    assert weights.sum(0).tolist() == pytest.approx([1.0, 1.0])


@pytest.fixture(scope="module")
def jittered():
    factors = factors_of(SIZES, 4000)
    codes = factors.double() + 0.5 * torch.rand(4000, len(SIZES), dtype=torch.float64,
                                                generator=torch.Generator().manual_seed(3))
    return codes, factors


def test_dci_of_jittered_identity_codes_is_perfect_for_factors_of_many_classes(jittered):
    codes, factors = jittered
    scores = dci(codes, factors)
    assert scores["dci_informativeness"] > 0.97
    assert scores["dci_disentanglement"] > 0.97 and scores["dci_completeness"] > 0.97


def test_dci_does_not_change_under_monotone_transforms_of_the_codes(jittered):
    codes, factors = jittered
    transformed = torch.stack([codes[:, 0].exp(), 2 * codes[:, 1] ** 3 + 1,
                               codes[:, 2].sqrt(), 10 * codes[:, 3]], 1)
    first, second = dci(codes, factors), dci(transformed, factors)
    assert second == pytest.approx(first, abs=0.01)
    assert second["dci_informativeness"] > 0.97


def test_scores_are_held_out_not_on_the_training_points():
    # 50 dims of noise: a classifier fit on 100 votes, or stumps on 400 points, fit their
    # training points well; on other points they cannot beat chance or the majority class.
    factors = factors_of((3, 6, 8, 5), 500)
    codes = torch.randn(500, 50, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert beta_vae_score(codes, factors, num_train=100) < 0.25 + 0.08
    majority = sum(float(torch.bincount(factors[:, k]).max()) / 500 for k in range(4)) / 4
    assert dci(codes, factors)["dci_informativeness"] < majority + 0.03


def test_factor_vae_divides_each_code_by_its_standard_deviation():
    # noisy identity codes on very unequal scales: unnormalized, the smallest-scale code would
    # have the least variance in every batch and win every vote
    factors = factors_of((3, 6, 8, 5), 2000)
    noise = 0.1 * torch.randn(2000, 4, generator=torch.Generator().manual_seed(5),
                              dtype=torch.float64)
    codes = torch.tensor([100.0, 1.0, 0.5, 3.0]) * (factors.double() + noise)
    assert factor_vae_score(codes, factors) > 0.95


def test_factor_vae_scores_zero_when_every_dimension_is_pruned():
    factors = factors_of((3, 6), 500)
    assert factor_vae_score(1e-3 * factors.double(), factors) == 0.0
    assert factor_vae_score(1e-3 * factors.double(), factors, min_variance=0.0) == 1.0


def test_vote_batches_are_drawn_without_repeats_and_pairs_are_distinct():
    offsets = distinct_offsets(torch.tensor([5, 64, 100] * 200), 5, torch.Generator())
    assert all(len(set(row)) == 5 for row in offsets.tolist())
    assert (offsets < torch.tensor([5, 64, 100] * 200)[:, None]).all()
    factors = factors_of((3, 40), 400)
    gen = torch.Generator().manual_seed(6)
    chosen, index = same_factor_batches(factors, 400, 64, gen)
    shared = factors[index, chosen[:, None]]
    assert (shared == shared[:, :1]).all()
    assert all(len(set(row)) == 64 for row in index[chosen == 0].tolist())  # groups of ~133
    chosen, index = same_factor_batches(factors, 400, 128, gen, pairs=True)
    assert (index[:, :64] != index[:, 64:]).all()  # groups of ~10 points: pairs still distinct


def test_random_codes_score_chance_on_few_points():
    factors = factors_of((3, 6, 40, 32, 32), 1000, seed=7)
    codes = torch.randn(1000, 10, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    assert beta_vae_score(codes, factors) == pytest.approx(0.2, abs=0.08)
    assert factor_vae_score(codes, factors) == pytest.approx(0.2, abs=0.08)


def test_a_class_of_one_point_is_refused_by_the_vote_scores():
    factors = torch.tensor([[0, 0], [0, 1], [1, 1], [1, 0], [1, 2], [0, 1]])
    codes = torch.randn(6, 2, dtype=torch.float64)
    for score in (beta_vae_score, factor_vae_score):
        with pytest.raises(DataError, match="factor 1 has a class with 1 point"):
            score(codes, factors)


@pytest.mark.parametrize("metric, options, message", [
    (mig, {"bins": 1}, "bins must be a whole number >= 2"),
    (sap, {"bins": 0}, "bins must be a whole number >= 2"),
    (beta_vae_score, {"num_eval": 0}, "num_eval must be a whole number >= 1"),
    (beta_vae_score, {"num_train": 1}, "num_train must be a whole number >= 2"),
    (beta_vae_score, {"pairs": 0}, "pairs must be"),
    (factor_vae_score, {"batch_size": 1}, "batch_size must be a whole number >= 2"),
    (factor_vae_score, {"num_train": 0}, "num_train must be"),
    (factor_vae_score, {"min_variance": -1.0}, "min_variance must be"),
    (dci, {"train_share": 1.0}, "train_share must be a number strictly between 0 and 1"),
    (dci, {"train_share": 0}, "train_share must be"),
    (dci, {"rounds": 0}, "rounds must be"),
])
def test_parameters_are_checked_in_one_line(metric, options, message):
    factors = factors_of((3, 4), 200)
    with pytest.raises(ConfigError, match=message) as error:
        metric(factors.double(), factors, **options)
    assert "\n" not in str(error.value)
