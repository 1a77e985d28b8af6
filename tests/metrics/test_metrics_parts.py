"""The parts of the metrics: MIG by hand, the discretization, the votes, the boosted stumps of
DCI, and the errors on bad input."""

import math

import pytest
import torch

from pyrovae.base.errors import DataError
from pyrovae.metrics import discretize, entropy, mig, mutual_info
from pyrovae.metrics.dci_metric import dci, importance_matrix
from pyrovae.metrics.stumps import fit_stumps
from pyrovae.metrics.votes import same_factor_batches


def test_mig_matches_a_hand_computation_on_a_tiny_discrete_example():
    # v: an unbalanced factor on 8 points (six 0s, two 1s), so H(v) != log 2;
    # z1 agrees with v on 7 points, z2 on 5.
    v = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1]]).T
    z1 = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1.0])
    z2 = torch.tensor([0, 1, 0, 1, 0, 0, 1, 0.0])
    # joint of (v, z1): (0,0) 5/8, (0,1) 1/8, (1,1) 2/8; p(v = 0) = 6/8, p(z1 = 1) = 3/8
    i1 = 5 / 8 * math.log(4 / 3) + 1 / 8 * math.log(4 / 9) + 2 / 8 * math.log(8 / 3)
    # joint of (v, z2): (0,0) 4/8, (0,1) 2/8, (1,0) 1/8, (1,1) 1/8; p(z2 = 1) = 3/8
    i2 = (4 / 8 * math.log(16 / 15) + 2 / 8 * math.log(8 / 9) + 1 / 8 * math.log(4 / 5)
          + 1 / 8 * math.log(4 / 3))
    h = -(3 / 4 * math.log(3 / 4) + 1 / 4 * math.log(1 / 4))
    assert mutual_info(z1.long(), v[:, 0]) == pytest.approx(i1)
    assert mutual_info(z2.long(), v[:, 0]) == pytest.approx(i2)
    assert entropy(v[:, 0]) == pytest.approx(h)
    assert mig(torch.stack([z2, z1], 1), v, bins=2) == pytest.approx((i1 - i2) / h)


def test_discretize_uses_equal_width_bins_over_each_range():
    x = torch.tensor([[0.0, 5.0], [0.24, 5.0], [0.26, 5.0], [1.0, 5.0]])
    assert discretize(x, bins=4).tolist() == [[0, 0], [0, 0], [1, 0], [3, 0]]


def test_votes_share_the_fixed_factor_and_cover_all_factors():
    gen = torch.Generator().manual_seed(0)
    factors = torch.stack([torch.randint(4, (500,), generator=gen) for _ in range(3)], 1)
    chosen, index = same_factor_batches(factors, 300, 16, torch.Generator().manual_seed(1))
    shared = factors[index, chosen[:, None]]
    assert (shared == shared[:, :1]).all()
    assert set(chosen.tolist()) == {0, 1, 2}


def test_stumps_give_the_importance_to_a_non_monotone_code():
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(2000, 3, generator=gen, dtype=torch.float64) * 2 - 1
    y = (z[:, 1].abs() > 0.5).long()  # a lasso would see no linear relation to code 1
    stumps, importance = fit_stumps(z, y, 2)
    assert int(importance.argmax()) == 1 and importance[1] > 10 * (importance[0] + importance[2])
    assert float((stumps.scores(z).argmax(1) == y).double().mean()) > 0.95
    weights, accuracy = importance_matrix(z, y[:, None])
    assert weights.shape == (3, 1) and accuracy.shape == (1,) and accuracy[0] > 0.95


def test_dci_of_one_code_per_factor_but_a_spare_code():
    gen = torch.Generator().manual_seed(0)
    factors = torch.stack([torch.randint(5, (1500,), generator=gen) for _ in range(2)], 1)
    spare = torch.randn(1500, 1, generator=gen, dtype=torch.float64)
    scores = dci(torch.cat([factors.double(), spare], 1), factors)
    assert scores["dci_disentanglement"] > 0.95 and scores["dci_completeness"] > 0.95


@pytest.mark.parametrize("codes, factors, message", [
    (torch.zeros(5), torch.zeros(5, 1, dtype=torch.long), "2-D tensor"),
    (torch.zeros(5, 2), torch.zeros(5, 1), "integer class indices"),
    (torch.zeros(5, 2), torch.zeros(4, 1, dtype=torch.long), "one row per data point"),
    (torch.full((5, 2), math.nan), torch.zeros(5, 1, dtype=torch.long), "NaN"),
    (torch.zeros(5, 2), -torch.ones(5, 1, dtype=torch.long), ">= 0"),
    (torch.randn(5, 2), torch.zeros(5, 1, dtype=torch.long), "constant"),
    (torch.randn(5, 1), torch.arange(5)[:, None], "2 code dimensions"),
])
def test_bad_input_gets_a_one_line_error(codes, factors, message):
    with pytest.raises(DataError, match=message) as error:
        mig(codes, factors)
    assert "\n" not in str(error.value)
