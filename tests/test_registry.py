import pytest

from pyrovae import registry
from pyrovae.base.options import check_options
from pyrovae.base.errors import ConfigError


def test_builtins_registered_and_unknown_suggests():
    assert "vae" in registry.model_names() and "mlp_normal" in registry.guide_names()
    assert registry.get_model("vae").default_guide == "mlp_normal"
    with pytest.raises(ConfigError, match="unknown model 'vea'.*Did you mean 'vae'"):
        registry.get_model("vea")


def test_unknown_factory_option_suggests():
    factory = registry.get_model("vae").factory
    with pytest.raises(ConfigError, match=r"'model.latent_dims'.*Did you mean 'latent_dim'"):
        check_options("model", factory, {"latent_dims": 3}, skip=1)
    check_options("model", factory, {"latent_dim": 3}, skip=1)


def test_model_from_user_file(tmp_path):
    src = tmp_path / "my_model.py"
    src.write_text("def build(data, width=3):\n    return ('built', data, width)\n")
    entry = registry.get_model(f"{src}:build")
    assert entry.factory("d", width=5) == ("built", "d", 5)
    with pytest.raises(ConfigError, match="defines no 'bild'.*Did you mean 'build'"):
        registry.get_model(f"{src}:bild")
    with pytest.raises(ConfigError, match="not found"):
        registry.get_model(f"{tmp_path}/missing.py:build")


def test_user_file_keeps_its_registered_default_guide(tmp_path):
    src = tmp_path / "registered.py"
    src.write_text("from pyrovae import register_model\n\n"
                   "@register_model('from_file', default_guide='mlp_normal')\n"
                   "def build(data):\n    return None\n")
    assert registry.get_model(f"{src}:build").default_guide == "mlp_normal"
