"""The building blocks' distributions: discretized logistic, mixture prior, VampPrior."""

import math
from pathlib import Path

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyrovae.guides.spec_encoder import make_spec_pair

from pyrovae import config, log_px, run
from pyrovae.base.distributions import DiagonalNormalMixture
from pyrovae.blocks import DiscretizedLogistic, priors
from pyrovae.blocks.discretized_logistic import grid
from pyrovae.blocks.priors import MixturePrior
from pyrovae.data import DataInfo
from pyrovae.spec.schema import ModelSpec

GRID = torch.arange(256, dtype=torch.float64) / 255


@pytest.mark.parametrize("loc, log_scale", [
    (0.5, -3.0), (0.0, -7.0), (1.0, -7.0), (0.3, 2.0), (-4.0, -1.0), (5.0, -5.0), (0.123, -6.5),
])
def test_discretized_logistic_sums_to_one_over_the_grid(loc, log_scale):
    d = DiscretizedLogistic(torch.tensor(loc, dtype=torch.float64),
                            torch.tensor(log_scale, dtype=torch.float64))
    log_p = d.log_prob(GRID)
    assert torch.isfinite(log_p).all()
    assert torch.logsumexp(log_p, 0).exp().item() == pytest.approx(1.0, abs=1e-9)


def test_discretized_logistic_bins_are_logistic_cdf_differences():
    loc, scale = 0.4, 0.05
    d = DiscretizedLogistic(torch.tensor(loc, dtype=torch.float64),
                            torch.tensor(math.log(scale), dtype=torch.float64))
    cdf = lambda t: 1 / (1 + math.exp(-(t - loc) / scale))  # noqa: E731
    for k in (0, 1, 100, 254, 255):
        x = k / 255
        upper = 1.0 if k == 255 else cdf(x + 0.5 / 255)
        lower = 0.0 if k == 0 else cdf(x - 0.5 / 255)
        assert d.log_prob(torch.tensor(x, dtype=torch.float64)).exp().item() == \
            pytest.approx(upper - lower, rel=1e-9)


def test_discretized_logistic_gradients_samples_and_support():
    loc = torch.tensor([0.2, 0.9, -3.0], requires_grad=True)
    log_scale = torch.tensor([-7.0, -2.0, 1.0], requires_grad=True)
    x = torch.tensor([0.0, 200 / 255, 1.0])
    DiscretizedLogistic(loc, log_scale).log_prob(x).sum().backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(log_scale.grad).all()
    samples = DiscretizedLogistic(loc, log_scale).sample((500,))
    assert samples.shape == (500, 3) and grid.check(samples).all()
    assert not grid.check(torch.tensor([0.5, -0.1, 1.2])).any()  # 0.5 is between grid points


def test_mixture_prior_log_prob_is_a_logsumexp():
    torch.manual_seed(0)
    prior = MixturePrior(dim=3, components=4)
    with torch.no_grad():
        prior.logits.normal_()
        prior.raw_scales.normal_()
    z = torch.randn(7, 3)
    log_p = prior.dist(7, z).log_prob(z)
    weights = torch.log_softmax(prior.logits, 0)
    scales = torch.nn.functional.softplus(prior.raw_scales) + 1e-5
    manual = torch.stack([
        weights[k] + torch.distributions.Normal(prior.locs[k], scales[k]).log_prob(z).sum(-1)
        for k in range(4)
    ]).logsumexp(0)
    assert log_p.shape == (7,)
    torch.testing.assert_close(log_p, manual)


@pytest.mark.parametrize("family", ["diag", "full"])
def test_vamp_prior_is_the_mean_of_the_encoder_at_the_pseudo_inputs(family):
    info = DataInfo((1, 28, 28), binary=True)
    model, guide = make_spec_pair(
        info, {"latents": [{"name": "z", "dim": 3, "prior": "vamp", "components": 5}]},
        {"family": family, "hidden": [16]})
    z = torch.randn(4, 3)
    log_p = model.priors["z"].dist(4, z).log_prob(z)
    u = model.priors["z"].pseudo_inputs
    manual = torch.stack([guide.encoders["z"](u[k:k + 1]).log_prob(z) for k in range(5)])
    torch.testing.assert_close(log_p, manual.logsumexp(0) - math.log(5))
    # one encoder, a submodule of both; the pseudo-inputs are the model's alone
    assert model.priors["z"].encoder is guide.encoders["z"]
    assert "priors.z.pseudo_inputs" in model.state_dict()
    assert not any("pseudo_inputs" in k for k in guide.state_dict())
    shared = torch.nn.ModuleList([model, guide])
    assert len(list(shared.parameters())) == len(list(model.parameters()))


def test_a_spec_vamp_prior_with_hardtanh_pseudo_inputs_encodes_them_clipped():
    info = DataInfo((1, 2, 2), binary=True)
    vamp = {"name": "z", "dim": 3, "prior": "vamp", "components": 2, "pseudo_inputs": "hardtanh"}
    model, guide = make_spec_pair(info, {"latents": [vamp]}, {"hidden": [8]})
    prior = model.priors["z"]
    with torch.no_grad():
        prior.pseudo_inputs.copy_(torch.linspace(-1.0, 2.0, 8).reshape(2, 1, 2, 2))
    z = torch.randn(5, 3)
    u = prior.pseudo_inputs.clamp(0, 1)
    manual = torch.stack([guide.encoders["z"](u[k:k + 1]).log_prob(z) for k in range(2)])
    torch.testing.assert_close(prior.dist(5, z).log_prob(z), manual.logsumexp(0) - math.log(2))
    assert ModelSpec.from_dict(ModelSpec.from_dict({"latents": [vamp]}).to_dict()).latents[0] \
        .pseudo_inputs == "hardtanh"


def test_a_spec_vamp_priors_pseudo_inputs_start_at_the_asked_normal():
    info = DataInfo((1, 4, 5), binary=True)
    vamp = {"name": "z", "dim": 3, "prior": "vamp", "components": 400,
            "pseudo_inputs_mean": -0.3, "pseudo_inputs_std": 0.2}
    model, _ = make_spec_pair(info, {"latents": [vamp]}, {"hidden": [8]})
    u = model.priors["z"].pseudo_inputs.detach()  # 8000 draws
    assert u.mean().item() == pytest.approx(-0.3, abs=4 * 0.2 / math.sqrt(8000))
    assert u.std().item() == pytest.approx(0.2, rel=0.05)
    default_vamp = {key: vamp[key] for key in ("name", "dim", "prior", "components")}
    default, _ = make_spec_pair(info, {"latents": [default_vamp]}, {"hidden": [8]})
    assert default.priors["z"].pseudo_inputs.mean().item() == pytest.approx(0.05, abs=0.001)
    assert ModelSpec.from_dict(ModelSpec.from_dict({"latents": [vamp]}).to_dict()).latents[0] \
        .pseudo_inputs_std == 0.2


@pytest.mark.parametrize("family, expected", [("diag", DiagonalNormalMixture),
                                              ("full", dist.MixtureSameFamily)])
def test_mixture_priors_take_the_matmul_form_where_the_components_are_diagonal(family, expected):
    info = DataInfo((1, 28, 28), binary=True)
    model, _ = make_spec_pair(
        info, {"latents": [{"name": "z", "dim": 3, "prior": "vamp", "components": 5}]},
        {"family": family, "hidden": [16]})
    assert isinstance(model.priors["z"].dist(4, torch.zeros(4, 3)), expected)
    assert isinstance(MixturePrior(3, 4).dist(2, torch.zeros(2, 3)), DiagonalNormalMixture)


def test_a_trained_vampprior_scores_as_with_pyros_mixture(tmp_path, monkeypatch):
    cfg = config.load(Path(__file__).resolve().parents[2] / "configs/papers/tomczak_vampprior.toml",
                      ["data.name=sprites", "data.num_train=100", "data.num_valid=20",
                       "data.num_test=4", "train.epochs=3", "train.batch_size=20",
                       "train.kl_warmup_epochs=1"])
    run.train(cfg, tmp_path, quiet=True)
    built = run.load(tmp_path)
    x = built.data.split("test")

    def score():
        pyro.set_rng_seed(3)
        return log_px(built.model, built.guide, x, num_samples=1000).value

    matmul = score()
    monkeypatch.setattr(priors, "mixture_dist", lambda logits, components, n: dist.MixtureSameFamily(
        dist.Categorical(logits=logits), components).expand([n]))
    torch.testing.assert_close(matmul, score(), rtol=0, atol=1e-4)
