"""Rate/distortion and active units against closed forms."""

import pyro
import torch
from infer_toys import Chain, ChainGuide, Mixture, MixtureGuide, exact_ppca, ppca

from pyrovae.guides.ppca import PPCAPosterior
from pyrovae.infer import RateDistortion, active_units, log_px, rate_distortion


def _ppca_posterior_kl(model, x):
    """KL(N(m, S) || N(0, I)) of the exact PPCA posterior, per data point."""
    with torch.no_grad():
        q = PPCAPosterior(model).posterior_dist(x)
        cov = q.covariance_matrix
        d = cov.shape[-1]
        trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
        return 0.5 * (trace + (q.mean**2).sum(-1) - d - torch.logdet(cov))


def test_exact_posterior_rate_plus_distortion_is_minus_log_px():
    model, x = ppca(num_data=100)
    result = rate_distortion(model, PPCAPosterior(model), x, num_samples=2000)
    assert isinstance(result, RateDistortion) and result.analytic_sites == ()
    exact = exact_ppca(model, x)
    torch.testing.assert_close(result.rate + result.distortion, -exact, atol=1e-10, rtol=0)
    torch.testing.assert_close(result.elbo, exact, atol=1e-10, rtol=0)
    kl = _ppca_posterior_kl(model, x)
    assert (result.rate - kl).abs().max() < 0.15
    assert (result.rate - kl).mean().abs() < 0.01
    torch.testing.assert_close(result.reconstruction, -result.distortion)


def test_rate_distortion_matches_the_elbo_of_log_px():
    model, x = ppca(num_data=40)
    guide = PPCAPosterior(model, std_factor=1.5, mean_shift=0.3)
    tiling = dict(num_samples=90, batch_size=15, particle_chunk=40)
    pyro.set_rng_seed(4)
    rd = rate_distortion(model, guide, x, **tiling)
    pyro.set_rng_seed(4)
    estimate = log_px(model, guide, x, **tiling)
    torch.testing.assert_close(rd.elbo, estimate.elbo, atol=1e-10, rtol=0)
    pyro.set_rng_seed(4)
    same = rate_distortion(model, guide, x, analytic_kl=True, **tiling)
    assert same.analytic_sites == ()  # no KL registered for (MultivariateNormal, Independent)
    torch.testing.assert_close(same.rate, rd.rate, atol=1e-10, rtol=0)


def test_analytic_kl_agrees_with_monte_carlo():
    model = Chain()
    with torch.no_grad():
        x = model(batch_size=50)
    guide = ChainGuide(model)
    pyro.set_rng_seed(6)
    analytic = rate_distortion(model, guide, x, num_samples=4000, analytic_kl=True)
    assert set(analytic.analytic_sites) == {"z1", "z2"}
    pyro.set_rng_seed(6)
    monte_carlo = rate_distortion(model, guide, x, num_samples=4000)
    torch.testing.assert_close(analytic.distortion, monte_carlo.distortion, atol=1e-10, rtol=0)
    assert (analytic.rate - monte_carlo.rate).abs().mean() < 0.15
    assert (analytic.rate - monte_carlo.rate).mean().abs() < 0.03


def test_active_units_of_ppca_match_the_closed_form():
    model, x = ppca(num_data=80, latent_dim=3)
    with torch.no_grad():
        model.W[:, 2] = 0.0
    guide = PPCAPosterior(model)
    result = active_units(guide, x, batch_size=7)
    assert (result.count, result.num_units) == (2, 3)
    assert result.active["z"].tolist() == [True, True, False]
    with torch.no_grad():
        W, s2 = model.W, model.log_s.exp() ** 2
        M = W.T @ W + s2 * torch.eye(3, dtype=W.dtype)
        linear = torch.linalg.solve(M, W.T)
        expected = (linear @ torch.cov(x.T) @ linear.T).diagonal()
    torch.testing.assert_close(result.variance["z"], expected, atol=1e-10, rtol=0)


class FlowPPCAPosterior(PPCAPosterior):
    """The exact PPCA posterior behind an identity transform: the same law, no closed-form mean."""

    def posterior_dist(self, x):
        identity = pyro.distributions.transforms.AffineTransform(0.0, 1.0, event_dim=1)
        return pyro.distributions.TransformedDistribution(super().posterior_dist(x), [identity])


def test_active_units_of_a_guide_without_a_mean_remove_the_sampling_noise():
    pyro.set_rng_seed(0)
    model, x = ppca(num_data=400, latent_dim=3)
    with torch.no_grad():
        model.W[:, 2] = 0.0  # unit 2: posterior = prior, variance 1 for every x
    result = active_units(FlowPPCAPosterior(model), x)
    assert result.sampled == ("z",) and result.num_samples == 100
    assert result.active["z"].tolist() == [True, True, False]
    exact = active_units(PPCAPosterior(model), x)
    assert exact.num_samples == 1 and exact.sampled == ()
    # Without the correction unit 2 would score about 1/100; its standard error here is ~0.001.
    assert abs(result.variance["z"][2]) < 0.004
    torch.testing.assert_close(result.variance["z"], exact.variance["z"], atol=0.05, rtol=0.05)


def test_active_units_skip_discrete_sites_and_count_every_site():
    model = Mixture()
    with torch.no_grad():
        x = model(batch_size=30)
    mixture = active_units(MixtureGuide(model), x)
    assert mixture.skipped == ("c",) and (mixture.count, mixture.num_units) == (None, 0)
    chain = Chain()
    with torch.no_grad():
        x = chain(batch_size=30)
    result = active_units(ChainGuide(chain), x, num_samples=3)
    assert result.num_units == 5 and set(result.active) == {"z1", "z2"}
    assert result.active["z1"].shape == (3,) and result.active["z2"].shape == (2,)
