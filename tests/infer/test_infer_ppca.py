"""The PPCA model and its exact posterior guide."""

import pyro.distributions as dist
import pytest
import torch

from pyrovae.data import DataInfo
from pyrovae.base.errors import DataError, ModelGuideError
from pyrovae.guides.ppca import PPCAPosterior, make_ppca_posterior
from pyrovae.models.ppca import PPCA, make_ppca
from pyrovae.registry import get_guide, get_model


def test_factories_are_registered():
    info = DataInfo(event_shape=(6,), binary=False)
    assert get_model("ppca").factory is make_ppca
    assert get_model("ppca").default_guide == "ppca_posterior"
    assert get_guide("ppca_posterior").factory is make_ppca_posterior
    model = make_ppca(info, latent_dim=3)
    assert model.W.shape == (6, 3)
    guide = make_ppca_posterior(model, info, std_factor=2.0)
    assert isinstance(guide, PPCAPosterior)  # the model's weights, shared, not copied
    assert [id(p) for p in guide.parameters()] == [id(p) for p in model.parameters()]


def test_factories_reject_what_does_not_fit():
    with pytest.raises(DataError, match="flatten"):
        make_ppca(DataInfo(event_shape=(1, 28, 28), binary=True))
    with pytest.raises(ModelGuideError, match="'ppca' model"):
        make_ppca_posterior(torch.nn.Linear(2, 2), DataInfo(event_shape=(2,), binary=False))


def test_exact_log_px_and_posterior_satisfy_bayes_rule():
    model = PPCA(5, 2, init_scale=1.0, noise_scale=0.6).double()
    with torch.no_grad():
        model.b.normal_()
        x = model(batch_size=8)
        z = torch.randn(8, 2, dtype=torch.float64)
        joint = model.prior_dist().log_prob(z) + model.likelihood_dist(z).log_prob(x)
        posterior = PPCAPosterior(model).posterior_dist(x).log_prob(z)
        torch.testing.assert_close(joint - posterior, model.exact_log_px(x), atol=1e-10, rtol=0)
        cov = model.W @ model.W.T + model.log_s.exp() ** 2 * torch.eye(5, dtype=torch.float64)
        direct = dist.MultivariateNormal(model.b, cov).log_prob(x)
        torch.testing.assert_close(model.exact_log_px(x), direct)


def test_guide_shares_the_model_parameters_and_perturbs():
    model = PPCA(4, 2).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    exact = PPCAPosterior(model).posterior_dist(x)
    shifted = PPCAPosterior(model, std_factor=2.0, mean_shift=0.5).posterior_dist(x)
    torch.testing.assert_close(shifted.mean, exact.mean + 0.5)
    torch.testing.assert_close(shifted.covariance_matrix, 4 * exact.covariance_matrix)
    with torch.no_grad():
        model.b.add_(1.0)
    moved = PPCAPosterior(model).posterior_dist(x)
    assert not torch.allclose(moved.mean, exact.mean)
    guide = PPCAPosterior(model)
    loss = guide.posterior_dist(x).mean.sum()
    loss.backward()
    assert model.W.grad is not None
