import pytest

from pyrovae import config
from pyrovae.errors import ConfigError


def test_unknown_key_names_it_and_suggests():
    with pytest.raises(ConfigError, match=r"'train.lrr'.*Did you mean 'lr'"):
        config.from_dict({"train": {"lrr": 1e-3}})
    with pytest.raises(ConfigError, match=r"unknown config key 'sed'.*Did you mean 'seed'"):
        config.from_dict({"sed": 1, "model": {"name": "vae"}})


def test_bad_choice_and_type_and_range():
    with pytest.raises(ConfigError, match=r"train.loss = 'iwea'.*Did you mean 'iwae'"):
        config.from_dict({"train": {"loss": "iwea"}})
    with pytest.raises(ConfigError, match="train.epochs' must be a int"):
        config.from_dict({"train": {"epochs": "ten"}})
    with pytest.raises(ConfigError, match="train.lr must be positive"):
        config.from_dict({"train": {"lr": 0.0}})
    with pytest.raises(ConfigError, match=r"\[model\] needs a 'name'"):
        config.from_dict({"model": {"latent_dim": 3}})


def test_overrides_parse_toml_values(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nname = "vae"\n[train]\nepochs = 3\n')
    cfg = config.load(path, ["train.lr=3e-4", "model.hidden=[10, 20]", "data.name=mnist", "seed=7"])
    assert cfg.train.lr == 3e-4 and cfg.train.epochs == 3 and cfg.seed == 7
    assert cfg.model == {"name": "vae", "hidden": [10, 20]}
    assert cfg.data == {"name": "mnist"}
    with pytest.raises(ConfigError, match="is not key=value"):
        config.load(path, ["train.lr"])


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
