"""The spec model's structure, conditional models, semi-supervised data and M2."""

import math

import pytest
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.infer import Trace_ELBO, TraceEnum_ELBO

import pyrovae
from pyrovae import config, run
from pyrovae.data import DataInfo, load_dataset
from pyrovae.base.errors import ConfigError, DataError
from pyrovae.guides.m2 import make_m2_encoder
from pyrovae.guides.spec_encoder import make_spec_encoder
from pyrovae.models.m2 import make_m2
from pyrovae.models.spec import build
from pyrovae.spec import Decoder, Latent, Likelihood, ModelSpec

SPRITES = {"name": "sprites", "num_train": 100, "num_valid": 30, "num_test": 20}


def sample_sites(trace):
    return list(pyrovae.infer.sites.sample_sites(trace))


def test_hierarchy_runs_top_down_in_the_model_and_bottom_up_in_the_guide():
    info = DataInfo((1, 28, 28), binary=True)
    model = build({"latents": [{"name": "z1", "dim": 6, "given": "z2"}, {"name": "z2", "dim": 3}]},
                  info)
    guide = make_spec_encoder(model, info, hidden={"z1": [16], "z2": [8]})
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    guide_trace = poutine.trace(guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    assert sample_sites(guide_trace) == ["z1", "z2"]
    assert sample_sites(model_trace) == ["z2", "z1", "x"]
    assert guide.encoders["z2"].features.out_dim == 6  # q(z2 | z1)
    assert model.decoder.net[0].in_features == 6  # p(x | z1) reads z1 only
    assert model.priors["z1"].net[0].in_features == 3  # p(z1 | z2)


def test_conditional_model_reads_the_label_and_cycles_labels_for_prior_samples():
    info = DataInfo((1, 28, 28), binary=True, num_classes=5)
    model = build({"latents": [{"name": "z", "dim": 2}], "conditioning": "label"}, info)
    assert model.uses_labels and model.label_role == "input"
    z = torch.zeros(5, 2)
    y = torch.arange(5)
    trace = poutine.trace(poutine.condition(model, {"z": z})).get_trace(None, y)
    logits = trace.nodes["x"]["fn"].base_dist.logits
    assert not torch.allclose(logits[0], logits[1])  # same z, another label
    cycled = poutine.trace(poutine.condition(model, {"z": z})).get_trace(None, batch_size=5)
    torch.testing.assert_close(cycled.nodes["x"]["fn"].base_dist.logits, logits)


def test_num_labelled_keeps_a_balanced_seeded_subset():
    data = load_dataset("sprites", num_train=100, num_valid=30, num_test=20, num_labelled=10, seed=3)
    train = data.labels["train"]
    known = train[train >= 0]
    assert len(known) == 10 and torch.bincount(known, minlength=5).tolist() == [2] * 5
    assert (data.labels["valid"] >= 0).all()
    again = load_dataset("sprites", num_train=100, num_valid=30, num_test=20, num_labelled=10, seed=3)
    assert torch.equal(again.labels["train"], train)
    full = load_dataset("sprites", num_train=100, num_valid=30, num_test=20, seed=3)
    assert torch.equal(train[train >= 0], full.labels["train"][train >= 0])


def test_num_labelled_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'data\.num_labeled'\. Did you mean "
                                          r"'num_labelled'\?.*num_train, num_valid, num_test, "
                                          r"num_labelled"):
        load_dataset("sprites", num_labeled=3)
    with pytest.raises(ConfigError, match=r"data\.num_labelled must be a whole number in 1\.\.100"):
        load_dataset("sprites", num_train=100, num_valid=5, num_test=5, num_labelled=101)
    path = tmp_path / "x.pt"
    torch.save(torch.rand(50, 4), path)
    with pytest.raises(DataError, match="num_labelled needs labels on the training split"):
        load_dataset("file", path=str(path), num_labelled=5)
    cfg = config.from_dict({"data": {**SPRITES, "num_labelled": 10},
                            "model": {"name": "spec", "latents": [{"name": "z", "dim": 2}],
                                      "conditioning": "label"}})
    with pytest.raises(DataError, match=r"conditioned on the label of every point, but 90 of the "
                                        r"train labels are missing"):
        run.build(cfg).tensors("train")


def m2_pair(weight=0.0):
    info = DataInfo((6,), binary=True, num_classes=3)
    model = make_m2(info, latent_dim=2, hidden=[8])
    guide = make_m2_encoder(model, info, hidden=[8], classifier_hidden=[8],
                            classifier_weight=weight)
    return model, guide


def test_m2_enumerated_elbo_matches_the_sampled_elbo():
    model, guide = m2_pair()
    x = torch.bernoulli(torch.full((3, 6), 0.5))
    y = torch.tensor([-1, 2, -1])
    guide.train()
    enum = TraceEnum_ELBO(num_particles=4000, vectorize_particles=True, max_plate_nesting=1)
    guide.eval()
    sampled = Trace_ELBO(num_particles=40000, vectorize_particles=True, max_plate_nesting=1)
    with torch.no_grad():
        guide.train()
        enumerated = enum.loss(model, guide, x, y)
        guide.eval()
        assert enumerated == pytest.approx(sampled.loss(model, guide, x, y), rel=5e-3)


def test_m2_classification_term_only_in_training():
    model, guide = m2_pair(weight=7.0)
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    y = torch.tensor([0, -1, 2, -1])
    guide.train()
    site = poutine.trace(guide).get_trace(x, y).nodes["classification"]
    value = scale_and_mask(site["fn"].log_prob(site["value"]), mask=site["mask"])
    log_q = guide.label_dist(x).log_prob(y.clamp(min=0))
    torch.testing.assert_close(value, -7.0 * log_q * (y >= 0))
    guide.eval()
    assert "classification" not in poutine.trace(guide).get_trace(x, y).nodes
    assert guide.predict(x).shape == (4,)


def test_m2_log_px_marginalizes_the_label():
    model, guide = m2_pair()
    head = guide.encoder.head.linear
    with torch.no_grad():  # q(z | x, y) = p(z): importance weights of low variance
        head.weight.zero_()
        raw_one = math.log(math.expm1(1 - 1e-5))  # softplus(raw_one) + 1e-5 = 1
        head.bias.copy_(torch.tensor([0.0, 0.0, raw_one, raw_one]))  # loc 0, scale 1 (dim 2)
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    guide.eval()
    result = pyrovae.log_px(model, guide, x, num_samples=3000)
    # compare with log sum_y p(x, y), the label summed out by hand, each term estimated with the
    # guide's q(z | x, y)
    terms = []
    for label in range(3):
        y = torch.full((5,), label)
        conditioned = poutine.condition(model, {"y": y})
        guide_y = poutine.condition(guide, {"y": y})
        r = pyrovae.log_px(conditioned, poutine.block(guide_y, hide=["y"]), x, num_samples=3000)
        terms.append(r.value)  # log p(x, y = label), p(y) = 1/3 included
    torch.testing.assert_close(result.value, torch.stack(terms).logsumexp(0), atol=0.05, rtol=0)


def test_vamp_checkpoint_round_trip(tmp_path):
    cfg = config.from_dict({
        "data": SPRITES, "train": {"epochs": 1, "batch_size": 50},
        "model": {"name": "spec", "latents": [{"name": "z", "dim": 3, "prior": "vamp",
                                               "components": 7}], "decoder": {"hidden": [16]}},
        "guide": {"hidden": [16]},
    })
    trained = run.train(cfg, tmp_path, quiet=True).built
    loaded = run.load(tmp_path)
    x = loaded.data.split("test")
    values = []
    for built in (trained, loaded):
        built.model.eval(), built.guide.eval()
        torch.manual_seed(0)
        values.append(pyrovae.log_px(built.model, built.guide, x, num_samples=10).value)
    torch.testing.assert_close(values[0], values[1])
    prior = loaded.model.priors["z"]
    assert prior.encoder is loaded.guide.encoders["z"]


def test_spec_config_round_trips_through_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("""
[data]
name = "sprites"

[model]
name = "spec"
latents = [
  { name = "z2", dim = 3, prior = "mixture", components = 4 },
  { name = "z1", dim = 5, given = "z2", hidden = [8] },
]
decoder = { kind = "conv", channels = [16, 8] }
likelihood = { kind = "normal", scale = 0.25 }

[guide]
hidden = { z1 = [16], z2 = [8] }
""")
    cfg = config.load(path)
    again = tmp_path / "again.toml"
    again.write_text(config.dumps(cfg))
    assert config.load(again).to_dict() == cfg.to_dict()
    # the same model in the Python dataclass form
    spec = ModelSpec(
        latents=[Latent("z2", 3, prior="mixture", components=4), Latent("z1", 5, given="z2", hidden=[8])],
        decoder=Decoder("conv", channels=[16, 8]),
        likelihood=Likelihood("normal", scale=0.25),
    )
    options = {k: v for k, v in cfg.model.items() if k != "name"}
    assert ModelSpec.from_dict(options) == ModelSpec.from_dict(spec.to_dict())
    built = run.build(config.from_dict({"data": cfg.data, "model": {"name": "spec", **spec.to_dict()},
                                        "guide": cfg.guide}))
    assert built.model.spec == ModelSpec.from_dict(options)


def test_independent_groups_all_feed_the_decoder():
    info = DataInfo((6,), binary=True)
    model = build({"latents": [{"name": "a", "dim": 2}, {"name": "b", "dim": 3, "prior": "learned_normal"}]},
                  info)
    guide = make_spec_encoder(model, info, hidden=[4])
    assert model.decoder.net[0].in_features == 5
    assert sample_sites(poutine.trace(guide).get_trace(torch.ones(2, 6))) == ["b", "a"]
