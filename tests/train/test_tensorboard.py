"""Live TensorBoard logs: event files written per epoch, read back with tensorboard's own
reader, and training unchanged by them."""

import sys

import pandas as pd
import pytest

from pyrovae import config, run
from pyrovae.base.errors import ConfigError

TINY = {
    "data": {"name": "sprites", "num_train": 200, "num_valid": 50, "num_test": 20},
    "model": {"name": "vae", "latent_dim": 2, "hidden": [16]},
    "guide": {"name": "mlp_normal", "hidden": [16]},
    "train": {"epochs": 2, "batch_size": 50, "lr": 3e-3},
}


def logged(**train):
    return config.from_dict({**TINY, "train": {**TINY["train"], **train}})


def test_scalars_and_images_per_epoch_and_the_same_training(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run.train(logged(log=["tensorboard"]), tmp_path / "logged", quiet=True)
    run.train(logged(), tmp_path / "plain", quiet=True)
    history = pd.read_csv(tmp_path / "logged" / "history.csv")
    pd.testing.assert_frame_equal(history.drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "plain" / "history.csv")
                                  .drop(columns="seconds"))
    assert list((tmp_path / "logged").glob("events.out.tfevents.*"))
    assert not list((tmp_path / "plain").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path / "logged"), size_guidance={"images": 0}).Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) == {"train/objective", "valid/elbo", "valid/kl", "train/beta",
                                    "train/lr", "train/seconds"}
    for tag, column in (("train/objective", "train_objective"), ("valid/elbo", "valid_elbo"),
                        ("train/lr", "lr")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx(list(history[column]), rel=1e-6)
    assert all(s.value > 0 for s in events.Scalars("valid/kl"))
    assert set(tags["images"]) == {"images/reconstructions", "images/samples"}
    assert [i.step for i in events.Images("images/samples")] == [1, 2]


def test_a_missing_tensorboard_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"needs the tensorboard package.*pyrovae\[tensorboard\]"):
        run.train(logged(log=["tensorboard"]), tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_train_log_takes_only_known_loggers():
    with pytest.raises(ConfigError, match="tensorboard"):
        logged(log=["wandb"])


def test_a_model_that_cannot_sample_from_the_prior_warns_once(tmp_path):
    pytest.importorskip("tensorboard")
    import torch

    from pyrovae.train.tensorboard import TensorBoardLogger

    def needs_labels(x, y):  # no prior draw from a batch size alone
        raise AssertionError("never traced")

    logger = TensorBoardLogger(tmp_path, model=needs_labels, guide=needs_labels,
                               valid=(torch.rand(4, 1, 8, 8),))
    assert logger.images and logger.samples
    with pytest.warns(UserWarning, match="no images/samples grid.*TypeError"):
        assert logger._samples() is None
    assert not logger.samples  # never tried again
    logger.close()
