"""Tomczak and Welling's two-level HVAE (``models/hvae.py``) and its top-down guide
(``guides/hvae.py``): the joint density against a computation by hand, the VampPrior on z2 as
the guide's own posteriors at the pseudo-inputs, particles, and the pairing errors."""

import math

import pyro
import pytest
import torch
from pyro import poutine
from torch.distributions import Bernoulli, Normal

import pyrovae
from pyrovae import config, run
from pyrovae.base.errors import ConfigError, ModelGuideError
from pyrovae.data.info import DataInfo
from pyrovae.guides.hvae import make_hvae_encoder, make_hvae_pair

DATA = DataInfo(event_shape=(4, 5), binary=True)
SMALL = {"z1_dim": 3, "z2_dim": 2, "hidden": 6, "likelihood": "bernoulli"}


def gated(layer, h):
    return layer.h(h) * torch.sigmoid(layer.g(h))


def normal_head(head, h):
    """Mean and standard deviation of a DiagNormal head, from its linear layer by hand."""
    loc, logvar = head.linear(h).split(head.dim, dim=-1)
    return loc, torch.exp(0.5 * logvar.clamp(-6.0, 2.0))


def pair(prior, seed=0, **options):
    torch.manual_seed(seed)
    return make_hvae_pair(DATA, {**SMALL, "prior": prior, **options}, {})


def test_the_joint_density_is_the_papers_factorisation():
    model, guide = pair("normal")
    x = torch.bernoulli(torch.full((7, 4, 5), 0.3))
    pyro.set_rng_seed(1)
    guide_trace = poutine.trace(guide).get_trace(x)
    trace = poutine.trace(poutine.replay(model, guide_trace)).get_trace(x)
    z1, z2 = guide_trace.nodes["z1"]["value"], guide_trace.nodes["z2"]["value"]
    # p(z2) p(z1 | z2) p(x | z1, z2), recomposed from the layers
    h = z2
    for layer in model.p_z1[0]:
        h = gated(layer, h)
    loc1, scale1 = normal_head(model.p_z1[1], h)
    joint = gated(model.joint[0], torch.cat([gated(model.from_z1[0], z1),
                                             gated(model.from_z2[0], z2)], -1))
    logits = model.out(joint).view(7, 4, 5)
    expected = (Normal(0.0, 1.0).log_prob(z2).sum(-1) + Normal(loc1, scale1).log_prob(z1).sum(-1)
                + Bernoulli(logits=logits).log_prob(x).flatten(1).sum(-1))
    trace.compute_log_prob()
    got = sum(trace.nodes[s]["log_prob"] for s in ("z2", "z1", "x"))
    torch.testing.assert_close(got, expected)
    # q(z2 | x) q(z1 | x, z2), recomposed likewise
    h = x.flatten(1)
    for layer in guide.q_z2[1]:
        h = gated(layer, h)
    loc2, scale2 = normal_head(guide.q_z2[2], h)
    h = torch.cat([gated(guide.x_features[1][0], x.flatten(1)), gated(guide.z2_features[0], z2)],
                  -1)
    loc1q, scale1q = normal_head(guide.q_z1[1], gated(guide.q_z1[0][0], h))
    guide_trace.compute_log_prob()
    torch.testing.assert_close(
        guide_trace.nodes["z2"]["log_prob"] + guide_trace.nodes["z1"]["log_prob"],
        Normal(loc2, scale2).log_prob(z2).sum(-1) + Normal(loc1q, scale1q).log_prob(z1).sum(-1))


def test_the_vampprior_is_the_guides_posterior_at_the_pseudo_inputs():
    model, guide = pair("vamp", components=5)
    assert model.prior.encoder is guide.q_z2  # one set of parameters
    shared = {id(p) for p in model.parameters()} & {id(p) for p in guide.parameters()}
    assert shared == {id(p) for p in guide.q_z2.parameters()}
    z2 = torch.randn(9, 2)
    q = guide.q_z2(model.prior.pseudo_inputs)  # batch [5]
    by_hand = (Normal(q.base_dist.loc, q.base_dist.scale).log_prob(z2[:, None]).sum(-1)
               .logsumexp(-1) - math.log(5))
    torch.testing.assert_close(model.prior.dist(9, z2).log_prob(z2), by_hand)


def test_hardtanh_pseudo_inputs_reach_the_encoder_clipped_to_the_unit_interval():
    model, guide = pair("vamp", components=4, pseudo_inputs="hardtanh")
    with torch.no_grad():
        model.prior.pseudo_inputs.copy_(torch.linspace(-0.5, 1.5, 80).reshape(4, 4, 5))
    z2 = torch.randn(9, 2)
    q = guide.q_z2(model.prior.pseudo_inputs.clamp(0, 1))
    by_hand = (Normal(q.base_dist.loc, q.base_dist.scale).log_prob(z2[:, None]).sum(-1)
               .logsumexp(-1) - math.log(4))
    log_p = model.prior.dist(9, z2).log_prob(z2)
    torch.testing.assert_close(log_p, by_hand)
    log_p.sum().backward()
    grad, u = model.prior.pseudo_inputs.grad, model.prior.pseudo_inputs.detach()
    outside = (u < 0) | (u > 1)
    assert outside.any() and (~outside).any()
    assert torch.all(grad[outside] == 0) and torch.all(grad[~outside] != 0)
    free, _ = pair("vamp", components=4)
    with torch.no_grad():
        free.prior.pseudo_inputs.copy_(model.prior.pseudo_inputs)
    assert not torch.allclose(free.prior.dist(9, z2).log_prob(z2), log_p)


def test_pseudo_inputs_are_an_option_of_the_vampprior_only():
    with pytest.raises(ConfigError, match="model.pseudo_inputs = 'hardtanh' applies to the "
                                          "VampPrior"):
        pair("normal", pseudo_inputs="hardtanh")
    with pytest.raises(ConfigError, match="model.pseudo_inputs = 'tanh' is not valid"):
        pair("vamp", pseudo_inputs="tanh")


def test_pseudo_inputs_start_at_the_asked_normal_and_its_options_need_a_vampprior():
    model, _ = pair("vamp", components=400, pseudo_inputs_mean=-0.3, pseudo_inputs_std=0.2)
    u = model.prior.pseudo_inputs.detach()  # 8000 draws
    assert u.mean().item() == pytest.approx(-0.3, abs=4 * 0.2 / math.sqrt(8000))
    assert u.std().item() == pytest.approx(0.2, rel=0.05)
    default, _ = pair("vamp", components=400)
    assert default.prior.pseudo_inputs.mean().item() == pytest.approx(0.05, abs=0.001)
    with pytest.raises(ConfigError, match="model.pseudo_inputs_std = 0.2 applies to the "
                                          "VampPrior"):
        pair("normal", pseudo_inputs_std=0.2)
    with pytest.raises(ConfigError, match="model.pseudo_inputs_mean = 0.0 applies to the "
                                          "VampPrior"):
        pair("mixture", pseudo_inputs_mean=0.0)
    pair("normal", pseudo_inputs_mean=0.05, pseudo_inputs_std=0.01)  # the defaults, said aloud


def test_logvar_clip_false_leaves_every_log_variance_of_model_and_guide_unclipped():
    clipped, clipped_guide = pair("vamp", components=3)
    model, guide = pair("vamp", components=3, logvar_clip=False)
    heads = (model.p_z1[-1], guide.q_z2[-1], guide.q_z1[-1])
    assert [h.logvar_clip for h in heads] == [None] * 3
    assert [h.logvar_clip for h in (clipped.p_z1[-1], clipped_guide.q_z2[-1],
                                    clipped_guide.q_z1[-1])] == [(-6.0, 2.0)] * 3
    head = model.p_z1[-1]
    with torch.no_grad():  # a log-variance of 5, outside the clip interval
        head.linear.weight.zero_()
        head.linear.bias.fill_(5.0)
    scale = head(torch.zeros(1, 6)).base_dist.scale
    torch.testing.assert_close(scale, torch.full_like(scale, math.exp(2.5)))


def test_log_px_runs_the_particles_vectorized():
    model, guide = pair("vamp", components=3)
    x = torch.bernoulli(torch.full((6, 4, 5), 0.4))
    pyro.set_rng_seed(0)
    result = pyrovae.log_px(model, guide, x, num_samples=40)
    assert result.layout == "vectorized"  # the layout check found nothing to fall back from
    assert torch.isfinite(result.value).all() and result.value.shape == (6,)


def test_the_guide_belongs_to_an_hvae_and_a_vampprior_needs_its_pair():
    with pytest.raises(ModelGuideError, match="guide 'hvae_encoder' samples the latents z2 and z1"):
        make_hvae_encoder(torch.nn.Linear(2, 2), DATA)
    cfg = config.from_dict({"data": {"name": "sprites", "num_train": 20, "num_valid": 10,
                                     "num_test": 4},
                            "model": {"name": "hvae", **SMALL, "prior": "vamp", "components": 3},
                            "guide": {"name": "mlp_normal", "latent_dim": 2, "site": "z2"}})
    with pytest.raises(ModelGuideError, match="'hvae_encoder' for 'hvae'"):
        built = run.build(cfg)
        built.model(built.data.split("test"))


def test_the_default_guide_follows_the_model_and_trains(tmp_path):
    cfg = config.from_dict({"data": {"name": "sprites", "num_train": 40, "num_valid": 20,
                                     "num_test": 4},
                            "model": {"name": "hvae", **SMALL, "activation": "tanh"},
                            "train": {"epochs": 2, "batch_size": 20}})
    result = run.train(cfg, tmp_path, quiet=True)
    guide = result.built.guide
    assert isinstance(guide.z2_features[1], torch.nn.Tanh)  # the model's activation
    assert result.history["valid_elbo"].map(math.isfinite).all()
