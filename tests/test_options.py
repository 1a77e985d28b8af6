import inspect
from typing import Literal

import pytest

from pyrovae import registry
from pyrovae.base import options
from pyrovae.base.errors import ConfigError
from pyrovae.base.options import (
    NonNegativeFloat,
    PositiveInt,
    Widths,
    check,
    check_options,
    describe,
)
from pyrovae.blocks import fields


def _factories():
    for where, names, get, skip in [("model", registry.model_names(), registry.get_model, 1),
                                    ("guide", registry.guide_names(), registry.get_guide, 2)]:
        for name in names:
            factory = get(name).factory
            for param in list(inspect.signature(factory).parameters.values())[skip:]:
                yield where, name, factory, skip, param


FACTORY_OPTIONS = list(_factories())


def test_every_shipped_factory_has_options_to_check():
    names = {(where, name) for where, name, *_ in FACTORY_OPTIONS}
    shipped = {(where, name) for where, names, get in [
        ("model", registry.model_names(), registry.get_model),
        ("guide", registry.guide_names(), registry.get_guide)]
        for name in names
        if get(name).factory.__module__.startswith(("pyrovae.models", "pyrovae.guides"))}
    assert len(shipped) >= 8 and shipped <= names
    assert len(FACTORY_OPTIONS) >= 25


@pytest.mark.parametrize("where, name, factory, skip, param", FACTORY_OPTIONS,
                         ids=[f"{w}-{n}-{p.name}" for w, n, _, _, p in FACTORY_OPTIONS])
def test_every_option_of_every_factory_refuses_a_wrong_type(where, name, factory, skip, param):
    # a number where a string is expected, else a string: no option of a shipped factory takes both
    wrong = 3 if isinstance(param.default, str) else "3"
    with pytest.raises(ConfigError) as info:
        check_options(where, factory, {param.name: wrong}, skip=skip)
    message = str(info.value)
    assert f"{where}.{param.name}" in message and "\n" not in message
    assert check_options(where, factory, {param.name: param.default}, skip=skip) is not None


def _vae():
    return registry.get_model("vae").factory


@pytest.mark.parametrize("value, message", [
    ("32", 'model.hidden must be a list of whole numbers >= 1 (layer widths), e.g. [200, 200]; '
           'got "32".'),
    (32, "model.hidden must be a list of whole numbers >= 1 (layer widths), e.g. [200, 200]; "
         "got 32."),
    ([32, 0], "model.hidden must be a list of whole numbers >= 1 (layer widths), e.g. [200, 200]; "
              "got [32, 0]."),
])
def test_hidden_must_be_layer_widths(value, message):
    with pytest.raises(ConfigError) as info:
        check_options("model", _vae(), {"hidden": value}, skip=1)
    assert str(info.value) == message


@pytest.mark.parametrize("value, shown", [(4.5, "4.5"), ("4", '"4"'), (0, "0"), (True, "true")])
def test_latent_dim_must_be_a_whole_number(value, shown):
    with pytest.raises(ConfigError) as info:
        check_options("model", _vae(), {"latent_dim": value}, skip=1)
    assert str(info.value) == f"model.latent_dim must be a whole number >= 1; got {shown}."


def test_choices_name_the_field_and_suggest():
    with pytest.raises(ConfigError, match=r"^model.activation = 'tanhh' is not valid\. Did you "
                                          r"mean 'tanh'\? Choose one of: tanh, relu, "):
        check_options("model", _vae(), {"activation": "tanhh"}, skip=1)
    with pytest.raises(ConfigError, match=r"guide.family = 'flow' is not valid.*diag, full, iaf"):
        check_options("guide", registry.get_guide("spec_encoder").factory,
                               {"family": "flow"}, skip=2)


def test_floats_take_ints_converted_but_no_nan():
    ppca = registry.get_model("ppca").factory
    checked = check_options("model", ppca, {"noise_scale": 2, "latent_dim": 3}, skip=1)
    assert checked == {"noise_scale": 2.0, "latent_dim": 3}
    assert type(checked["noise_scale"]) is float and type(checked["latent_dim"]) is int
    for bad in (float("nan"), float("inf"), 0, -1.0):
        with pytest.raises(ConfigError, match=r"model.noise_scale must be a finite number > 0"):
            check_options("model", ppca, {"noise_scale": bad}, skip=1)


def test_optional_and_tables():
    mlp_normal = registry.get_guide("mlp_normal").factory
    assert check_options("guide", mlp_normal, {"latent_dim": None}, skip=2) == \
        {"latent_dim": None}
    spec_encoder = registry.get_guide("spec_encoder").factory
    hidden = {"z1": [16], "z2": [8]}
    assert check_options("guide", spec_encoder, {"hidden": hidden}, skip=2) == \
        {"hidden": hidden}
    with pytest.raises(ConfigError, match=r"guide.hidden must be a list of whole numbers >= 1 "
                                          r"\(layer widths\), e.g. \[200, 200\] or a table of"):
        check_options("guide", spec_encoder, {"hidden": {"z1": [16.5]}}, skip=2)


@pytest.mark.parametrize("options_", [{"decoder": 3}, {"latents": "z"}, {"latents": [3]},
                                      {"likelihood": ["bernoulli"]}, {"conditioning": 1}])
def test_spec_model_wrong_top_level_type_is_one_line(options_):
    spec = registry.get_model("spec").factory
    key = next(iter(options_))
    with pytest.raises(ConfigError) as info:
        check_options("model", spec, options_, skip=1)
    assert str(info.value).startswith(f"model.{key}") and "\n" not in str(info.value)


def test_user_factory_without_annotations_is_checked_by_its_defaults(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text("class Opaque:\n    pass\n\n"
                   "def build(data, width=3, rate=0.5, name='a', flag=True, sizes=(1, 2), "
                   "anything=None, thing: Opaque = None, **extra):\n    return None\n")
    factory = registry.get_model(f"{src}:build").factory
    good = {"width": 4, "rate": 1, "name": "b", "flag": False, "sizes": [3], "anything": "x",
            "thing": [1], "free": "x"}
    assert check_options("model", factory, good, skip=1) == {**good, "rate": 1.0}
    for key, bad, what in [("width", "4", "a whole number"), ("rate", "x", "a finite number"),
                           ("name", 1, "a string"), ("flag", 1, "true or false"),
                           ("sizes", 3, "a list")]:
        with pytest.raises(ConfigError, match=rf"^model\.{key} must be {what}; got "):
            check_options("model", factory, {key: bad}, skip=1)


def test_describe_and_check():
    assert describe(PositiveInt) == "a whole number >= 1"
    assert describe(NonNegativeFloat) == "a finite number >= 0"
    assert describe(Widths) == "a list of whole numbers >= 1 (layer widths), e.g. [200, 200]"
    assert describe(bool) == "true or false" and describe(str) == "a string"
    assert check("x", [1, 2], list[float]) == [1.0, 2.0]
    assert check("x", "b", Literal["a", "b"] | None) == "b"
    with pytest.raises(ConfigError, match=r"x = 'c' is not valid\. Choose one of: a, b\.$"):
        check("x", "c", Literal["a", "b"])


def test_field_checks_use_the_same_messages():
    with pytest.raises(ConfigError, match=r"^f must be a whole number >= 1; got 0\.$"):
        fields.positive_int("f", 0)
    assert fields.int_list("f", [3, 4]) == (3, 4)
    assert options.suggest("tanhh", ["tanh", "relu"]) == " Did you mean 'tanh'?"
