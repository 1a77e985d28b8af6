import tomllib
from pathlib import Path

import pytest

from pyrovae import config
from pyrovae.base.errors import ConfigError
from pyrovae.data import dataset_names
from pyrovae.sweep.points import resolve

REPO = Path(__file__).resolve().parents[1]


def test_unknown_key_names_it_and_suggests():
    with pytest.raises(ConfigError, match=r"'train.lrr'.*Did you mean 'lr'"):
        config.from_dict({"train": {"lrr": 1e-3}})
    with pytest.raises(ConfigError, match=r"unknown config key 'sed'.*Did you mean 'seed'"):
        config.from_dict({"sed": 1, "model": {"name": "vae"}})


def test_bad_choice_and_type_and_range():
    with pytest.raises(ConfigError, match=r"train.loss = 'iwea'.*Did you mean 'iwae'"):
        config.from_dict({"train": {"loss": "iwea"}})
    with pytest.raises(ConfigError, match="train.lr must be a finite number > 0; got 0.0"):
        config.from_dict({"train": {"lr": 0.0}})
    with pytest.raises(ConfigError, match=r"\[model\] needs a 'name'.*name = \"vae\""):
        config.from_dict({"model": {"latent_dim": 3}})
    with pytest.raises(ConfigError, match=r"\[data\] needs a 'name'.*name = \"sprites\""):
        config.from_dict({"data": {"num_train": 3}})


@pytest.mark.parametrize("raw, message", [
    ({"train": {"epochs": "ten"}}, 'train.epochs must be a whole number >= 1; got "ten".'),
    ({"train": {"epochs": 2.5}}, "train.epochs must be a whole number >= 1; got 2.5."),
    ({"train": {"beta": "x"}}, 'train.beta must be a finite number >= 0; got "x".'),
    ({"train": {"replay": 1}}, "train.replay must be true or false; got 1."),
    ({"device": 0}, "device must be a string; got 0."),
    ({"seed": -1}, "seed must be a whole number in 0..4294967295; got -1."),
    ({"seed": True}, "seed must be a whole number in 0..4294967295; got true."),
])
def test_type_messages_read_properly(raw, message):
    with pytest.raises(ConfigError) as info:
        config.from_dict(raw)
    assert str(info.value) == message


@pytest.mark.parametrize("key", ["lr", "clip_norm", "lr_gamma", "beta", "kl_warmup_epochs"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_float_options_refuse_nan_and_infinity(tmp_path, key, value):
    path = tmp_path / "c.toml"
    path.write_text('[data]\nname = "sprites"\n')
    with pytest.raises(ConfigError, match=rf"^train\.{key} must be a finite number (>|>=) 0; got "):
        config.load(path, [f"train.{key}={value}"])


def test_ints_given_for_floats_become_floats():
    cfg = config.from_dict({"train": {"lr": 1, "beta": 2}})
    assert type(cfg.train.lr) is float and cfg.train.lr == 1.0 and type(cfg.train.beta) is float


@pytest.mark.parametrize("text", ["", "seed = 3\n", '[model]\nname = "vae"\n'])
def test_config_file_must_name_its_dataset(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value) == (f"config file '{path}' has no [data] table, so it names no dataset. "
                               f'Add [data] name = "..." with one of: '
                               f"{', '.join(dataset_names())}.")
    assert {"binarized_mnist", "file", "mnist", "sprites"} <= set(dataset_names())
    assert config.load(path, ["data.name=sprites"]).data == {"name": "sprites"}


def test_overrides_parse_toml_values(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[data]\nname = "sprites"\n[model]\nname = "vae"\n[train]\nepochs = 3\n')
    cfg = config.load(path, ["train.lr=3e-4", "model.hidden=[10, 20]", "data.name=mnist", "seed=7"])
    assert cfg.train.lr == 3e-4 and cfg.train.epochs == 3 and cfg.seed == 7
    assert cfg.model == {"name": "vae", "hidden": [10, 20]}
    assert cfg.data == {"name": "mnist"}
    with pytest.raises(ConfigError, match="is not key=value"):
        config.load(path, ["train.lr"])


SHIPPED = sorted([*(REPO / "configs").glob("*.toml"), *(REPO / "configs" / "zoo").glob("*.toml"),
                  *(REPO / "configs" / "papers").glob("*.toml")])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_dumps_round_trips_every_shipped_config(path):
    raw = tomllib.loads(path.read_text())
    cfg = resolve(raw, {}, raw.get("seed", 0), str(path))  # default guide filled in, as in a run
    assert config.from_dict(tomllib.loads(config.dumps(cfg))) == cfg


TRICKY = ['two\nlines', 'say "hi"', "back\\slash\\n", "tab\there", "ünïcødé ✓ 日本",
          "'single'", '"""', "a = 1\n[train]\nlr = 5", "\x01\x7f", "# not a comment"]


@pytest.mark.parametrize("text", TRICKY)
def test_dumps_round_trips_any_string(text):
    cfg = config.from_dict({
        "data": {"name": "file", "path": text},
        "model": {"name": "spec", "latents": [{"name": "z", "dim": 2, "note": text},
                                              {"name": "w", "dim": 3, "given": ["z"]}],
                  "decoder": {"kind": "mlp", "hidden": [4, 5], "label": text},
                  "weird key " + text: [[1, 2], [text]]},
        "guide": {"hidden": {"z": [3], "w": []}, "site": text},
        "train": {"lr": 1.5e-4},
    })
    text_out = config.dumps(cfg)
    assert config.from_dict(tomllib.loads(text_out)) == cfg


def test_dumps_leaves_out_none():
    cfg = config.from_dict({"data": {"name": "sprites"}, "model": {"name": "vae"},
                            "guide": {"name": "mlp_normal", "latent_dim": None,
                                      "table": {"a": None, "b": 1}}})
    assert tomllib.loads(config.dumps(cfg))["guide"] == {"name": "mlp_normal", "table": {"b": 1}}


def test_dumps_round_trips(tmp_path):
    cfg = config.from_dict({"seed": 3, "model": {"name": "vae", "hidden": [5], "likelihood": "auto"},
                            "guide": {"name": "mlp_normal"}, "train": {"beta": 0.5}})
    path = tmp_path / "c.toml"
    path.write_text(config.dumps(cfg))
    assert config.load(path) == cfg


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad)


def test_options_added_later_leave_the_identity_of_earlier_runs_alone():
    cfg = config.from_dict({"data": {"name": "sprites"}})
    assert set(config.LATER_TRAIN_KEYS).isdisjoint(config.decisive(cfg)["train"])
    assert config.config_hash(cfg) == config.config_hash(config.from_dict(
        {"data": {"name": "sprites"}, "train": {"init": "default", "adam_eps": 1e-8}}))
    changed = config.from_dict({"data": {"name": "sprites"}, "train": {"init": "he"}})
    assert config.decisive(changed)["train"]["init"] == "he"
    assert config.config_hash(changed) != config.config_hash(cfg)


def test_live_logs_never_change_a_runs_identity():
    plain = config.from_dict({"data": {"name": "sprites"}})
    logged = config.from_dict({"data": {"name": "sprites"}, "train": {"log": ["tensorboard"]}})
    assert config.config_hash(plain) == config.config_hash(logged)
    assert config.decisive(plain) == config.decisive(logged)
    with pytest.raises(ConfigError, match="train.log"):
        config.from_dict({"train": {"log": ["wandb"]}})


def test_stages_are_checked_when_read():
    with pytest.raises(ConfigError, match="lr_stages must be a list of lists"):
        config.from_dict({"train": {"lr_schedule": "staged", "lr_stages": [1, 2]}})
    with pytest.raises(ConfigError, match="needs train.lr_stages"):
        config.from_dict({"train": {"lr_schedule": "staged"}})
    cfg = config.from_dict({"train": {"lr_schedule": "staged", "lr_stages": [[3, 1e-3]]}})
    assert cfg.train.lr_stages == [[3.0, 1e-3]]


def test_a_config_that_is_not_utf8_or_a_directory_is_a_clear_error(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes('# café\n[data]\nname = "sprites"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"config file '.*latin.toml' is not UTF-8 text"):
        config.load(latin)
    with pytest.raises(ConfigError, match=r"config file '.*' is a directory\. Give the path to a "
                                          r"\.toml file in it"):
        config.load(tmp_path)
