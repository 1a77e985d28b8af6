"""log_px on PPCA, whose log p(x) is exact: estimates, bounds, diagnostics, tiling."""

import math

import pyro
import pytest
import torch
from infer_toys import exact_ppca, mean_error_bound, ppca

from pyrovae.guides.ppca import PPCAPosterior
from pyrovae.infer import LogPxResult, log_px, log_weights
from pyrovae.infer.stream import LogWeightStream


@pytest.mark.parametrize("num_samples", [1, 10, 1000])
def test_exact_posterior_gives_exact_log_px(num_samples):
    model, x = ppca(num_data=50)
    result = log_px(model, PPCAPosterior(model), x, num_samples=num_samples, ks=(1, num_samples))
    exact = exact_ppca(model, x)
    assert isinstance(result, LogPxResult)
    assert result.value.shape == (50,) and result.value.dtype == torch.float64
    torch.testing.assert_close(result.value, exact, atol=1e-10, rtol=0)
    torch.testing.assert_close(result.elbo, exact, atol=1e-10, rtol=0)
    torch.testing.assert_close(result.iwae[num_samples], exact, atol=1e-10, rtol=0)
    torch.testing.assert_close(result.ess, torch.full_like(exact, num_samples), rtol=1e-10, atol=0)
    if num_samples > 1:
        assert result.stderr.abs().max() < 1e-6
    else:
        assert result.stderr.isnan().all()
    assert result.khat.isnan().all()  # constant weights have no tail
    assert not result.value.requires_grad


def test_mismatched_guide_within_stderr_and_bounds_ordered():
    model, x = ppca(num_data=400)
    guide = PPCAPosterior(model, std_factor=1.6, mean_shift=0.4)
    result = log_px(model, guide, x, num_samples=1000, ks=(1, 10, 1000))
    exact = exact_ppca(model, x)
    error = result.value - exact
    assert result.stderr.min() > 0
    assert (error.abs() <= 4 * result.stderr).double().mean() >= 0.95
    assert error.mean().abs() <= mean_error_bound(result.stderr, len(x)) + 1e-3
    elbo, iwae10, iwae1000 = (t.mean() for t in (result.elbo, result.iwae[10], result.iwae[1000]))
    assert elbo < iwae10 < iwae1000
    assert iwae1000 <= exact.mean() + mean_error_bound(result.stderr, len(x))
    assert elbo < exact.mean() - 0.1
    torch.testing.assert_close(result.iwae[1000], result.value, atol=1e-12, rtol=0)
    assert (result.ess > 1).all() and (result.ess < 1000).all()
    assert result.khat.isfinite().all()
    frame = result.to_frame()
    columns = ["log_px", "stderr", "ess", "elbo", "iwae_1", "iwae_10", "iwae_1000", "khat"]
    assert list(frame.columns) == columns
    assert len(frame) == 400


def test_iwae_1_is_the_elbo_and_the_mean_log_weight():
    model, x = ppca(num_data=30)
    guide = PPCAPosterior(model, std_factor=1.4, mean_shift=0.2)
    pyro.set_rng_seed(3)
    result = log_px(model, guide, x, num_samples=64, ks=(1, 8), particle_chunk=10)
    assert torch.equal(result.iwae[1], result.elbo)
    pyro.set_rng_seed(3)
    weights = log_weights(model, guide, x, num_samples=64, particle_chunk=10)
    torch.testing.assert_close(result.elbo, weights.mean(0), atol=1e-12, rtol=0)


@pytest.mark.parametrize("batch_size, particle_chunk", [(None, None), (7, 9), (16, 60), (1, 25)])
def test_streaming_equals_the_materialized_weights(batch_size, particle_chunk):
    """The streamed summaries equal those of the [K, N] weights drawn with the same tiling."""
    model, x = ppca(num_data=16)
    guide = PPCAPosterior(model, std_factor=1.5, mean_shift=0.3)
    ks = (1, 4, 7, 25, 60)
    tiling = dict(batch_size=batch_size, particle_chunk=particle_chunk)
    pyro.set_rng_seed(1)
    result = log_px(model, guide, x, num_samples=60, ks=ks, **tiling)
    pyro.set_rng_seed(1)
    w = log_weights(model, guide, x, num_samples=60, **tiling)
    K = w.shape[0]
    close = dict(atol=1e-10, rtol=0)
    torch.testing.assert_close(result.value, w.logsumexp(0) - math.log(K), **close)
    torch.testing.assert_close(result.elbo, w.mean(0), **close)
    ess = w.logsumexp(0).mul(2).sub((2 * w).logsumexp(0)).exp()
    torch.testing.assert_close(result.ess, ess, **close)
    normalized = (w - w.logsumexp(0)).exp()
    variance = (K * (normalized**2).sum(0) - 1) / (K - 1)
    torch.testing.assert_close(result.stderr, variance.clamp(min=0).sqrt(), **close)
    for k in ks:
        groups = w[: (K // k) * k].reshape(K // k, k, -1)
        expected = (groups.logsumexp(1) - math.log(k)).mean(0)
        torch.testing.assert_close(result.iwae[k], expected, **close)


def test_same_seed_same_result_and_one_global_draw():
    model, x = ppca(num_data=20)
    guide = PPCAPosterior(model, std_factor=1.5)
    pyro.set_rng_seed(5)
    first = log_px(model, guide, x, num_samples=50, ks=(5,))
    after_first = torch.rand(3)
    pyro.set_rng_seed(5)
    second = log_px(model, guide, x, num_samples=50, ks=(5,))
    assert torch.equal(first.value, second.value) and torch.equal(first.iwae[5], second.iwae[5])
    pyro.set_rng_seed(5)
    torch.randint(0, 1 << 62, ())
    assert torch.equal(torch.rand(3), after_first)


def test_particle_prefix_does_not_depend_on_num_samples():
    """With the same particle_chunk and batch_size, more particles extend the same stream."""
    model, x = ppca(num_data=12)
    guide = PPCAPosterior(model, std_factor=1.5)
    pyro.set_rng_seed(2)
    short = log_weights(model, guide, x, num_samples=30, particle_chunk=10, batch_size=5)
    pyro.set_rng_seed(2)
    long = log_weights(model, guide, x, num_samples=70, particle_chunk=10, batch_size=5)
    assert torch.equal(short, long[:30])


def test_tilings_agree_within_stderr():
    """Different tilings draw different particles: their estimates agree statistically."""
    model, x = ppca(num_data=60)
    guide = PPCAPosterior(model, std_factor=1.6, mean_shift=0.3)
    a = log_px(model, guide, x, num_samples=300)
    b = log_px(model, guide, x, num_samples=300, batch_size=13, particle_chunk=70)
    spread = (a.stderr**2 + b.stderr**2).sqrt()
    assert ((a.value - b.value).abs() <= 4 * spread).double().mean() >= 0.95


def test_prior_proposal_has_lower_ess():
    model, x = ppca(num_data=100)
    exact = exact_ppca(model, x)
    guided = log_px(model, PPCAPosterior(model, std_factor=1.3), x, num_samples=500)
    prior = log_px(model, None, x, num_samples=500, proposal="prior")
    assert prior.proposal == "prior"
    assert prior.ess.mean() < guided.ess.mean() / 2
    assert (prior.ess < guided.ess).double().mean() > 0.9
    assert (prior.value - exact).abs().mean() > (guided.value - exact).abs().mean()
    assert (prior.value - exact).mean().abs() < 0.5


def test_stream_needs_valid_ks():
    with pytest.raises(ValueError, match="ks"):
        log_px(*_pair(), num_samples=10, ks=(20,))
    with pytest.raises(ValueError, match="ks"):
        LogWeightStream(10, 1, ks=(0,))


def test_bad_arguments():
    model, x = ppca(num_data=5)
    with pytest.raises(ValueError, match="proposal"):
        log_px(model, PPCAPosterior(model), x, num_samples=4, proposal="posterior")
    with pytest.raises(ValueError, match="num_samples"):
        log_px(model, PPCAPosterior(model), x, num_samples=0)
    with pytest.raises(ValueError, match="first argument"):
        log_px(model, PPCAPosterior(model), num_samples=4)


def _pair():
    model, x = ppca(num_data=5)
    return model, PPCAPosterior(model), x
