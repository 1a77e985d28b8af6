"""Initial values a protocol asks for: He and Glorot weights, the output bias at the data
mean, and clear errors where a model cannot take them."""

import math

import pytest
import torch
from torch import nn

import pyrovae
from pyrovae import config, run

from pyrovae.data import DataInfo
from pyrovae.base.errors import ConfigError
from pyrovae.models.spec import build
from pyrovae.models.vae import make_vae
from pyrovae.train.init import init_linear, init_output_bias


def test_he_weights_have_variance_two_over_fan_in_and_zero_bias():
    torch.manual_seed(0)
    big = nn.Linear(800, 600)
    assert init_linear([nn.Sequential(big)], "he") == 1
    std = big.weight.std().item()
    # 480,000 draws: the sample std is within 0.5% of sqrt(2/800) with overwhelming probability
    assert std == pytest.approx(math.sqrt(2 / 800), rel=5e-3)
    assert big.weight.mean().abs() < 4 * math.sqrt(2 / 800) / math.sqrt(480_000)
    assert torch.all(big.bias == 0)


def test_glorot_weights_are_uniform_within_the_bound():
    torch.manual_seed(0)
    big = nn.Linear(800, 600)
    init_linear([big], "glorot")
    bound = math.sqrt(6 / (800 + 600))
    assert big.weight.abs().max() <= bound
    assert big.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=5e-3)
    assert torch.all(big.bias == 0)


def test_glorot_normal_weights_have_variance_two_over_fan_in_plus_fan_out():
    torch.manual_seed(0)
    big = nn.Linear(800, 600)
    init_linear([big], "glorot_normal", bias="default")
    std = math.sqrt(2 / (800 + 600))
    assert big.weight.std().item() == pytest.approx(std, rel=5e-3)
    assert big.weight.mean().abs() < 4 * std / math.sqrt(480_000)
    assert big.weight.abs().max() > math.sqrt(6 / (800 + 600))  # not the uniform scheme's bound
    assert not torch.all(big.bias == 0)


def test_every_linear_layer_of_both_programs_is_drawn_once_and_default_changes_nothing():
    shared = nn.Linear(3, 3)
    model, guide = nn.Sequential(nn.Linear(2, 3), shared), nn.Sequential(shared, nn.Linear(3, 1))
    before = [p.clone() for p in model.parameters()]
    assert init_linear([model, guide], "default") == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert init_linear([model, guide], "he") == 3


def test_init_bias_default_keeps_the_bias_the_layer_was_built_with():
    torch.manual_seed(0)
    layer = nn.Linear(50, 40)
    built = layer.bias.clone()
    assert init_linear([layer], "he", "default") == 1
    torch.testing.assert_close(layer.bias, built)
    assert layer.bias.abs().max() <= 1 / math.sqrt(50) and layer.bias.abs().min() > 0
    with pytest.raises(ConfigError, match="init_bias = 'none' is not valid"):
        init_linear([layer], "he", "none")


def test_a_fresh_run_draws_its_biases_as_train_init_bias_says():
    cfg = config.from_dict({"data": {"name": "sprites", "num_train": 8, "num_valid": 4,
                                     "num_test": 4},
                            "model": {"name": "vae", "latent_dim": 2, "hidden": [5]}})

    def trained(init_bias):
        torch.manual_seed(0)
        built = run.build(cfg)
        pyrovae.fit(built.model, built.guide, built.tensors("train"), epochs=1, batch_size=8,
                    lr=1e-12, init="he", init_bias=init_bias)  # one negligible step
        return [m.bias for p in (built.model, built.guide) for m in p.modules()
                if isinstance(m, nn.Linear)]

    assert all(b.abs().max() < 1e-9 for b in trained("zero"))
    assert all(b.abs().min() > 1e-6 for b in trained("default"))


def test_the_output_bias_is_the_logit_of_the_training_mean():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((50, 1, 4, 4), 0.3))
    x[:, 0, 0, 0] = 0  # a pixel never on: its bias is the logit of the clip, not -inf
    info = DataInfo((1, 4, 4), binary=True)
    vae = make_vae(info, latent_dim=2, hidden=[5])
    init_output_bias(vae, x)
    mean = x.mean(0).clamp(1e-3, 1 - 1e-3)
    torch.testing.assert_close(vae.decoder[-1].bias, torch.logit(mean).reshape(-1))
    assert vae.decoder[-1].bias[0].item() == pytest.approx(math.log(1e-3 / (1 - 1e-3)))
    spec = build({"latents": [{"name": "z", "dim": 2}], "decoder": {"hidden": [5]}}, info)
    init_output_bias(spec, x)
    torch.testing.assert_close(spec.decoder.net[-1].bias, torch.logit(mean).reshape(-1))


def test_a_model_that_cannot_take_the_output_bias_says_so():
    with pytest.raises(ConfigError, match="needs a model with a method init_output_bias"):
        init_output_bias(nn.Linear(2, 2), torch.zeros(3, 2))
    gaussian = make_vae(DataInfo((4,), binary=False), latent_dim=2, hidden=[5])
    with pytest.raises(ConfigError, match="defined for the bernoulli likelihood"):
        init_output_bias(gaussian, torch.zeros(3, 4))
    conv = build({"latents": [{"name": "z", "dim": 2}], "decoder": {"kind": "conv"}},
                 DataInfo((1, 28, 28), binary=True))
    with pytest.raises(ConfigError, match="needs an mlp decoder"):
        init_output_bias(conv, torch.zeros(3, 1, 28, 28))
