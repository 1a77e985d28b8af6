"""A bad spec is refused at build time with the field and the valid choices."""

import pytest

from pyrovae import config, run
from pyrovae.data import DataInfo
from pyrovae.base.errors import ConfigError, ModelGuideError
from pyrovae.guides.spec_encoder import make_spec_encoder, make_spec_pair
from pyrovae.models.spec import build
from pyrovae.spec import ModelSpec

BINARY = DataInfo((1, 28, 28), binary=True, num_classes=5)
GRAY = DataInfo((1, 28, 28), binary=False, num_classes=0)
FLAT = DataInfo((6,), binary=False)


def spec(**options):
    return {"latents": [{"name": "z", "dim": 4}], **options}


@pytest.mark.parametrize("options, message", [
    (spec(latents=[{"name": "z", "dim": 4, "prior": "gauss"}]),
     r"model\.latents\[0\]\.prior = 'gauss' is not valid.*Choose one of: normal, learned_normal, "
     r"mixture, vamp\."),
    (spec(likelihood="gaussian"),
     r"model\.likelihood\.kind = 'gaussian' is not valid.*Choose one of: bernoulli, "
     r"continuous_bernoulli, normal, discretized_logistic\."),
    (spec(likelihood={"kind": "bernoulli", "scale": 0.1}),
     r"model\.likelihood\.scale applies only to likelihood 'normal'"),
    (spec(likelihood={"kind": "normal", "scale": -1}),
     r"model\.likelihood\.scale must be \"learned\" or a positive number"),
    (spec(decoder={"kind": "deconv"}),
     r"model\.decoder\.kind = 'deconv' is not valid\. Did you mean 'conv'\? Choose one of: mlp, conv"),
    (spec(decoder={"activation": "sigmoidal"}), r"model\.decoder\.activation = 'sigmoidal'.*tanh"),
    (spec(conditioning="labels"),
     r"model\.conditioning = 'labels' is not valid\. Did you mean 'label'\? Choose one of: none, label"),
    ({"latents": [{"name": "z", "dim": 4, "prior_kind": "normal"}]},
     r"unknown key 'model\.latents\[0\]\.prior_kind'.*Valid keys of model\.latents\[0\]: name, dim, prior"),
    ({"latents": [{"name": "z", "dim": 0}]}, r"model\.latents\[0\]\.dim must be a whole number >= 1"),
    ({"latents": [{"name": "z", "dim": 4, "components": 3}]},
     r"model\.latents\[0\]\.components applies only to the priors mixture, vamp"),
    ({"latents": [{"name": "z", "dim": 4}, {"name": "z", "dim": 2}]}, "two latents are named 'z'"),
    ({"latents": [{"name": "z1", "dim": 4, "given": "z2", "prior": "mixture"}, {"name": "z2", "dim": 2}]},
     r"model\.latents\[0\]\.prior \(latent 'z1' is given z2, so its prior is a conditional Normal\) "
     r"= 'mixture' is not valid.*Choose one of: normal"),
    ({"latents": [{"name": "z1", "dim": 4, "given": "z3"}, {"name": "z2", "dim": 2}]},
     r"latent 'z1' is given 'z3', which is not a latent of the model\. Latents: z1, z2\."),
    ({}, r"model\.latents is missing"),
    ({"latents": [{"name": "z", "dim": 4, "pseudo_inputs": "hardtanh"}]},
     r"model\.latents\[0\]\.pseudo_inputs applies to a VampPrior \(prior = 'vamp'\); latent 'z' "
     r"has prior 'normal'"),
    ({"latents": [{"name": "z", "dim": 4, "prior": "vamp", "pseudo_inputs": "sigmoid"}]},
     r"model\.latents\[0\]\.pseudo_inputs = 'sigmoid' is not valid.*Choose one of: free, "
     r"hardtanh"),
    ({"latents": [{"name": "z", "dim": 4, "prior": "mixture", "pseudo_inputs_std": 0.1}]},
     r"model\.latents\[0\]\.pseudo_inputs_std applies to a VampPrior \(prior = 'vamp'\); "
     r"latent 'z' has prior 'mixture'"),
    ({"latents": [{"name": "z", "dim": 4, "prior": "vamp", "pseudo_inputs_std": -0.1}]},
     r"model\.latents\[0\]\.pseudo_inputs_std must be a finite number >= 0; got -0\.1"),
    ({"latents": [{"name": "z", "dim": 4, "prior": "vamp", "pseudo_inputs_mean": "0.5"}]},
     r'model\.latents\[0\]\.pseudo_inputs_mean must be a finite number; got "0\.5"'),
])
def test_spec_errors_name_the_field_and_choices(options, message):
    with pytest.raises(ConfigError, match=message):
        build(options, BINARY)


@pytest.mark.parametrize("given, cycle", [
    ({"z1": "z2", "z2": "z1"}, "z1 -> z2 -> z1"),
    ({"a": "b", "b": "c", "c": "a"}, "a -> c -> b -> a"),
    ({"a": "a"}, "a -> a"),
])
def test_a_cycle_in_the_hierarchy_is_refused(given, cycle):
    latents = [{"name": n, "dim": 2, "given": p} for n, p in given.items()]
    with pytest.raises(ConfigError, match=f"the 'given' links form a cycle {cycle}; a hierarchy "
                                          f"must be acyclic"):
        ModelSpec.from_dict({"latents": latents})


def test_a_likelihood_that_does_not_fit_the_data():
    with pytest.raises(ConfigError, match=r"model\.likelihood = 'bernoulli' needs binary data.*"
                                          r"Choose one of: continuous_bernoulli, normal, "
                                          r"discretized_logistic"):
        build(spec(likelihood="bernoulli"), GRAY)


def test_dimension_mismatches():
    with pytest.raises(ConfigError, match=r"model\.decoder\.kind = 'conv' needs image data of shape "
                                          r"\(C, H, H\) with C in 1, 3 and H one of 28, 32, 64.*"
                                          r"the data have shape \(6,\)"):
        build(spec(decoder="conv", likelihood="normal"), FLAT)
    with pytest.raises(ConfigError, match=r"model\.decoder\.channels has 3 entries but data of shape "
                                          r"\(1, 28, 28\) need 2 upsampling stages"):
        build(spec(decoder={"kind": "conv", "channels": [8, 8, 8]}), BINARY)


def test_conditioning_needs_labels_and_vamp_needs_no_label():
    with pytest.raises(ConfigError, match=r"model\.conditioning = 'label' needs labelled data.*"
                                          r"Choose one of: conditioning = 'none'"):
        build(spec(conditioning="label", likelihood="normal"), GRAY)
    vamp = [{"name": "z", "dim": 2, "prior": "vamp", "components": 3}]
    with pytest.raises(ConfigError, match="VampPrior of 'z'.*cannot be used with conditioning"):
        build({"latents": vamp, "conditioning": "label"}, BINARY)


def test_guide_errors():
    model = build(spec(), BINARY)
    with pytest.raises(ConfigError, match=r"guide\.family = 'flow' is not valid.*Choose one of: "
                                          r"diag, full, iaf"):
        make_spec_encoder(model, BINARY, family="flow")
    with pytest.raises(ConfigError, match=r"unknown key 'guide\.hidden\.z9'"):
        make_spec_encoder(model, BINARY, hidden={"z": [8], "z9": [8]})
    vamp = {"latents": [{"name": "z", "dim": 2, "prior": "vamp", "components": 3}]}
    with pytest.raises(ConfigError, match=r"guide\.family = 'iaf' cannot serve the VampPrior of "
                                          r"latent 'z'.*Choose one of: diag, full"):
        make_spec_pair(BINARY, vamp, {"family": "iaf"})
    from pyrovae.models.vae import make_vae
    with pytest.raises(ModelGuideError, match="derives its encoders from a 'spec' model"):
        make_spec_encoder(make_vae(BINARY), BINARY)


def test_errors_through_a_config_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[data]\nname = "sprites"\nnum_train = 10\n\n[model]\nname = "spec"\n'
                    'latents = [{ name = "z", dim = 2, prior = "vampire" }]\n')
    with pytest.raises(ConfigError, match=r"model\.latents\[0\]\.prior = 'vampire'.*Did you mean "
                                          r"'vamp'\?"):
        run.build(config.load(path))
    cfg = config.from_dict({"model": {"name": "spec", "latent": [{"name": "z", "dim": 2}]}})
    with pytest.raises(ConfigError, match=r"unknown key 'model\.latent'\. Did you mean 'latents'\?"):
        run.build(cfg)
