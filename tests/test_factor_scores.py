"""Disentanglement rows of a built run: encoded with the guide, one tidy row per metric."""

import numpy as np
import pytest
import torch

from pyrovae import config, run
from pyrovae.base.errors import ConfigError
from pyrovae.factor_scores import (
    check_dataset,
    check_metrics,
    disentanglement_rows,
    estimators,
    posterior_means,
)
from pyrovae.metrics import METRIC_NAMES
from pyrovae.results import SUMMARY_COLUMNS

TINY = {
    "data": {"name": "sprites", "num_train": 50, "num_valid": 20, "num_test": 300},
    "model": {"name": "vae", "latent_dim": 3, "hidden": [16]},
    "guide": {"name": "mlp_normal", "hidden": [16]},
}


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return run.build(config.from_dict(TINY))


def test_one_row_per_metric_in_the_evaluation_columns(built):
    rows = disentanglement_rows(built, "tiny", split="test", seed=2, limit=200)
    assert list(rows.columns) == SUMMARY_COLUMNS
    assert list(rows["estimator"]) == list(METRIC_NAMES) == estimators(["disentanglement"])
    assert (rows["K"] == 1).all() and (rows["n"] == 200).all() and (rows["seed"] == 2).all()
    assert set(rows["run"]) == {"tiny"} and set(rows["dataset"]) == {"sprites"}
    assert rows["mean"].between(0, 1).all() and rows["stderr_of_mean"].isna().all()
    assert rows["active_units"].iloc[0] in range(4)
    again = disentanglement_rows(built, "tiny", split="test", seed=2, limit=200)
    assert list(again["mean"]) == list(rows["mean"])


def test_the_codes_are_the_guides_posterior_means(built):
    x = built.data.split("test")[:5]
    site, means = posterior_means(built.guide, x)
    assert site == "z" and means.shape == (5, 3)
    assert torch.allclose(means, built.guide.posterior_dist(x).mean)


def test_a_dataset_without_factors_gets_a_one_line_config_error(built, tmp_path):
    plain = run.Built(**{**built.__dict__,
                         "data": type(built.data)(**{**built.data.__dict__, "factor_table": ()})})
    with pytest.raises(ConfigError, match="carries no ground-truth factors.*Datasets with "
                                          "factors: sprites, dsprites") as error:
        disentanglement_rows(plain, "plain")
    assert "\n" not in str(error.value)


def test_metric_sets_are_checked():
    assert check_metrics(["disentanglement", "disentanglement"]) == ("disentanglement",)
    assert check_metrics("disentanglement") == ("disentanglement",)
    with pytest.raises(ConfigError, match="unknown metric set 'disentangle'.*Did you mean"):
        check_metrics(["disentangle"])
    with pytest.raises(ConfigError, match="must be a list"):
        check_metrics([1])
    assert estimators([]) == []


def test_posterior_means_leave_the_callers_random_streams_alone(built):
    x = built.data.split("test")[:5]
    state = torch.get_rng_state()
    first = posterior_means(built.guide, x, seed=3)[1]
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(first, posterior_means(built.guide, x, seed=3)[1])


def test_a_guide_without_latents_is_a_config_error():
    with pytest.raises(ConfigError, match="samples no latent site") as error:
        posterior_means(lambda x: None, torch.zeros(3, 2))
    assert "\n" not in str(error.value)


def test_a_data_file_without_factors_is_refused_at_plan_time(tmp_path):
    plain, with_factors = tmp_path / "plain.npz", tmp_path / "factors.npz"
    arrays = {s: np.zeros((4, 2), np.float32) for s in ("train", "valid", "test")}
    np.savez(plain, **arrays)
    np.savez(with_factors, **arrays, **{f"{s}_factors": np.zeros((4, 1), np.int64)
                                        for s in ("train", "valid", "test")})
    with pytest.raises(ConfigError, match="holds no train_factors array.*test, train, valid"):
        check_dataset("file", "sweep: ", {"name": "file", "path": str(plain)})
    check_dataset("file", "sweep: ", {"name": "file", "path": str(with_factors)})
    torch.save({s: torch.zeros(4, 2) for s in ("train", "valid", "test")}, tmp_path / "d.pt")
    with pytest.raises(ConfigError, match="holds no train_factors"):
        check_dataset("file", "", {"path": str(tmp_path / "d.pt")})
    with pytest.raises(ConfigError, match="carries no ground-truth factors"):
        check_dataset("mnist")


def test_m2_is_scored_on_its_continuous_latent_not_its_label():
    torch.manual_seed(0)
    m2 = run.build(config.from_dict({
        "data": {"name": "sprites", "num_train": 50, "num_valid": 20, "num_test": 120},
        "model": {"name": "m2", "latent_dim": 3, "hidden": [16]},
        "guide": {"name": "m2_encoder", "hidden": [16]}}))
    x = m2.tensors("test")
    site, means = posterior_means(m2.guide, *x)
    assert site == "z" and means.shape == (120, 3)
    rows = disentanglement_rows(m2, "m2", split="test", seed=1)
    assert list(rows["estimator"]) == list(METRIC_NAMES) and rows["mean"].notna().all()
