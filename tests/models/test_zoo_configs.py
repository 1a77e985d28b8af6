"""Every zoo config trains a few steps and evaluates (log p(x), and accuracy for M2).

The configs name real data (binarized_mnist, mnist); the tests swap in a small sprites set
(binary 28x28 with 5 shape labels), which every zoo model accepts.
"""

import math
import tomllib
from pathlib import Path

import pytest
import torch

import pyrovae
from pyrovae import config, evaluation, run

ZOO = sorted((Path(__file__).resolve().parents[2] / "configs" / "zoo").glob("*.toml"))
TINY = ["data.name=sprites", "data.num_train=60", "data.num_valid=20", "data.num_test=8",
        "train.epochs=1", "train.batch_size=60", "train.patience=0"]


def test_the_zoo_is_complete():
    names = {p.stem for p in ZOO}
    assert {"vae_bernoulli", "vae_gaussian", "beta_vae", "cvae", "m2", "iwae_two_layer",
            "vamp_prior", "gmm_prior", "conv_vae", "vae_full_cov", "vae_iaf", "hvae_vamp"} <= names


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_zoo_config_names_real_data(path):
    raw = tomllib.loads(path.read_text())
    assert raw["data"]["name"] in ("binarized_mnist", "mnist")
    config.load(path)  # valid as shipped


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_zoo_config_trains_and_evaluates(path, tmp_path):
    raw = tomllib.loads(path.read_text())
    overrides = TINY + (["data.num_labelled=10"] if "num_labelled" in raw["data"] else [])
    cfg = config.load(path, overrides)
    result = run.train(cfg, tmp_path, quiet=True)
    assert math.isfinite(result.state.best_valid_elbo)

    built = run.load(tmp_path)
    x = built.tensors("test", marginal=True)
    estimate = pyrovae.log_px(built.model, built.guide, *(t[:8] for t in x), num_samples=4)
    assert torch.isfinite(estimate.value).all()

    summary, per_point = evaluation.evaluate(built, "zoo", num_samples=4, ks=(1, 4), limit=8,
                                           quiet=True)
    assert summary["mean"].map(math.isfinite).all()
    estimators = set(summary["estimator"])
    if built.label_role == "input":
        assert {"is_log_px_given_y", "elbo_given_y"} <= estimators and "log_px_given_y" in per_point
    else:
        assert "is_log_px" in estimators
    if hasattr(built.guide, "predict"):
        accuracy = summary.set_index("estimator").loc["accuracy"]
        assert 0.0 <= accuracy["mean"] <= 1.0 and accuracy["n"] == 8
