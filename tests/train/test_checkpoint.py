import pytest

from pyrovae import config, run
from pyrovae.base.errors import CheckpointError
from pyrovae.train import checkpoint

TINY = {
    "seed": 0,
    "data": {"name": "sprites", "num_train": 200, "num_valid": 50, "num_test": 50},
    "model": {"name": "vae", "latent_dim": 2, "hidden": [16]},
    "guide": {"name": "mlp_normal", "hidden": [16]},
    "train": {"epochs": 1, "batch_size": 50, "lr": 3e-3},
}


def _cfg(overrides=()) -> config.Config:
    raw = config.apply_overrides(TINY, list(overrides))
    return config.from_dict(raw)


def _identity(overrides=()) -> dict:
    return run.build(_cfg(overrides)).identity


@pytest.mark.parametrize("override, key", [
    ("train.lr=0.01", "train.lr"), ("seed=1", "seed"), ("train.beta=0.5", "train.beta"),
    ("train.batch_size=25", "train.batch_size"), ("data.num_train=150", "data.num_train"),
    ("guide.hidden=[8]", "guide.hidden"), ("train.replay=false", "train.replay"),
])
def test_fingerprint_covers_what_decides_the_numbers(override, key):
    base, other = _identity(), _identity([override])
    assert checkpoint.fingerprint(base) != checkpoint.fingerprint(other)
    diffs = config.differences(base, other, ("checkpoint", "this run"))
    assert diffs[0].startswith(f"{key}: checkpoint has ")
    assert all(d.startswith("parameters.") for d in diffs[1:])  # shapes that follow from it


RESUME_VALUES = {"device": '"cpu"', "data.dir": '"/elsewhere"', "train.log": '["tensorboard"]'}


@pytest.mark.parametrize("override", sorted(f"{key}={RESUME_VALUES.get(key, '7')}"
                                            for key in config.RESUMABLE_KEYS))
def test_fingerprint_leaves_out_the_keys_a_resume_may_change(override):
    assert checkpoint.fingerprint(_identity()) == checkpoint.fingerprint(_identity([override]))


def test_a_checkpoint_of_another_learning_rate_is_refused_with_the_key(tmp_path):
    run.train(_cfg(["train.lr=0.01"]), tmp_path, quiet=True)
    with pytest.raises(CheckpointError, match=r"train\.lr: checkpoint has 0\.01, this run has "
                                              r"0\.003"):
        checkpoint.load(tmp_path / "checkpoint.pt", _identity())


def test_best_weights_load_from_the_runs_own_config(tmp_path):
    """run.load computes the identity from config.toml: it must equal the trained one's."""
    trained = run.train(_cfg(["model.hidden=[16]", "guide.latent_dim=2"]), tmp_path, quiet=True)
    built = run.load(tmp_path)
    assert built.identity == trained.built.identity
    for p, q in zip(built.model.parameters(), trained.built.model.parameters()):
        assert p.equal(q)
