"""Each metric on synthetic codes whose answer is known: identity codes of the factors, the
same permuted and rescaled, and codes independent of the factors."""

import pytest
import torch

from pyrovae.metrics import (
    METRIC_NAMES,
    beta_vae_score,
    dci,
    disentanglement,
    factor_vae_score,
    mig,
    sap,
)

SIZES = (3, 6, 8, 5)
CHANCE = 1 / len(SIZES)


def make_factors(n: int = 3000, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(s, (n,), generator=gen) for s in SIZES], 1)


@pytest.fixture(scope="module")
def scored():
    factors = make_factors()
    gen = torch.Generator().manual_seed(1)
    identity = factors.double()
    order, scale = torch.tensor([2, 0, 3, 1]), torch.tensor([2.0, -0.5, 3.0, -1.5])
    rescaled = (identity * scale + 7.0)[:, order]
    noise = torch.randn(len(factors), len(SIZES), generator=gen, dtype=torch.float64)
    return {name: disentanglement(codes, factors, seed=0)
            for name, codes in (("identity", identity), ("rescaled", rescaled), ("noise", noise))}


def test_identity_codes_score_near_one(scored):
    assert list(scored["identity"]) == list(METRIC_NAMES)
    assert {k: v for k, v in scored["identity"].items() if v < 0.97} == {}


def test_a_permuted_rescaled_identity_scores_like_the_identity(scored):
    for name in METRIC_NAMES:
        assert scored["rescaled"][name] == pytest.approx(scored["identity"][name], abs=0.01), name


def test_codes_independent_of_the_factors_score_near_zero_or_chance(scored):
    noise = scored["noise"]
    for name in ("mig", "dci_disentanglement", "dci_completeness", "sap"):
        assert 0 <= noise[name] < 0.05, name
    # the two vote classifiers cannot beat guessing which of K factors was fixed
    assert noise["beta_vae_score"] == pytest.approx(CHANCE, abs=0.08)
    assert noise["factor_vae_score"] == pytest.approx(CHANCE, abs=0.08)
    # predicting each factor from nothing: at most the majority class of each factor
    factors = make_factors()
    majority = sum(float(torch.bincount(factors[:, k]).max()) / len(factors)
                   for k in range(len(SIZES))) / len(SIZES)
    assert noise["dci_informativeness"] < majority + 0.03


def test_a_code_that_holds_two_factors_is_marked_down_by_dci_disentanglement_alone():
    factors = make_factors(2000)
    identity = factors.double()
    mixed = identity.clone()
    mixed[:, 0] = identity[:, 0] * 8 + identity[:, 1]  # one code holds factors 0 and 1
    mixed[:, 1] = torch.randn(len(factors), generator=torch.Generator().manual_seed(3),
                              dtype=torch.float64)
    ident, mix = disentanglement(identity, factors), disentanglement(mixed, factors)
    assert mix["dci_disentanglement"] < ident["dci_disentanglement"] - 0.1
    # MIG and SAP ask only that each factor have one code far ahead of the others: code 0 is
    assert mix["mig"] > 0.9 and mix["sap"] > 0.9


def test_the_same_seed_gives_the_same_score_and_the_global_stream_is_left_alone():
    factors = make_factors(1000)
    codes = factors.double() + 3.0 * torch.randn(1000, 4, dtype=torch.float64,
                                                 generator=torch.Generator().manual_seed(2))
    state = torch.get_rng_state()
    first = disentanglement(codes, factors, seed=5)
    assert disentanglement(codes, factors, seed=5) == first
    assert torch.equal(state, torch.get_rng_state())
    assert beta_vae_score(codes, factors, seed=6) != first["beta_vae_score"] or \
        factor_vae_score(codes, factors, seed=6) != first["factor_vae_score"]


def test_constant_factors_are_left_out():
    factors = make_factors(1000)
    with_colour = torch.cat([torch.zeros(1000, 1, dtype=torch.int64), factors], 1)
    codes = factors.double()
    assert mig(codes, with_colour) == pytest.approx(mig(codes, factors))
    assert dci(codes, with_colour) == pytest.approx(dci(codes, factors))
    assert sap(codes, with_colour) == pytest.approx(sap(codes, factors))


def test_factor_vae_prunes_code_dimensions_that_vary_less_than_min_variance():
    factors = make_factors(1000)
    codes = 1e-3 * factors.double()
    assert factor_vae_score(codes, factors) == 0.0  # all pruned: 0, as disentanglement_lib
    assert factor_vae_score(codes, factors, min_variance=0.0) == 1.0


def test_sap_scores_a_factor_that_two_codes_predict_equally_as_zero():
    """SAP is the gap between the best and the runner-up code of each factor: with each factor
    held by two identical codes both predict it perfectly, and the gap, the score, is 0 (a SAP
    that took the best code's score alone would give 1)."""
    factors = make_factors(2000)
    twice = torch.cat([factors.double(), factors.double()], 1)
    assert sap(twice, factors) == pytest.approx(0.0, abs=1e-12)
    assert sap(factors.double(), factors) > 0.97
    # one factor shared by two codes (the other three held once): that factor scores 0
    shared = torch.cat([factors.double(), factors[:, :1].double()], 1)
    assert sap(shared, factors) == pytest.approx(3 / 4 * sap(factors.double(), factors), abs=0.02)
