import pandas as pd
import pytest

from pyrovae import config, run
from pyrovae.cli import main
from pyrovae.errors import ConfigError

TINY = {
    "data": {"name": "sprites", "num_train": 400, "num_valid": 100, "num_test": 60},
    "model": {"name": "vae", "latent_dim": 3, "hidden": [32]},
    "guide": {"name": "mlp_normal", "hidden": [32]},
    "train": {"epochs": 2, "batch_size": 50, "lr": 3e-3},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run")
    run.train(config.from_dict(TINY), path, quiet=True)
    return path


def test_evaluate_appends_tidy_rows(run_dir, tmp_path, capsys):
    out, points = tmp_path / "results.csv", tmp_path / "points.csv"
    args = ["evaluate", str(run_dir), "--num-samples", "200", "--ks", "1,10,200", "--out", str(out),
            "--per-datapoint", str(points), "--quiet", "--seed", "3"]
    assert main(args) == 0
    assert "wrote:" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table["estimator"]) == ["is_log_px", "iwae", "iwae", "iwae", "elbo"]
    assert list(table["K"]) == [200, 1, 10, 200, 1]
    assert (table["n"] == 60).all() and (table["seed"] == 3).all() and (table["split"] == "test").all()
    assert table["mean"].dtype == float and table["K"].dtype == int
    by = table.set_index(["estimator", "K"])["mean"]
    assert by["elbo", 1] == pytest.approx(by["iwae", 1])
    assert by["elbo", 1] < by["iwae", 10] < by["iwae", 200] <= by["is_log_px", 200] + 1e-9
    # KL and reconstruction are the two terms of the ELBO (from other particles: close, not equal)
    assert table["reconstruction"][0] - table["kl"][0] == pytest.approx(by["elbo", 1], abs=1.0)
    assert 0 <= table["active_units"][0] <= 3
    per_point = pd.read_csv(points)
    assert len(per_point) == 60 and per_point["log_px"].mean() == pytest.approx(by["is_log_px", 200])
    assert {"label", "stderr", "ess", "khat", "iwae_10"} <= set(per_point.columns)

    assert main(args) == 0
    again = pd.read_csv(out)
    assert len(again) == 10
    pd.testing.assert_frame_equal(again.iloc[5:].reset_index(drop=True).drop(columns="seconds"),
                                  table.drop(columns="seconds"))


def test_evaluate_refuses_a_csv_of_other_columns(run_dir, tmp_path, capsys):
    out = tmp_path / "other.csv"
    out.write_text("a,b\n1,2\n")
    code = main(["evaluate", str(run_dir), "--num-samples", "10", "--out", str(out), "--quiet"])
    assert code == 2 and "left as it was" in capsys.readouterr().err
    assert out.read_text() == "a,b\n1,2\n"


def test_evaluate_checks_ks_and_run_dir(run_dir, tmp_path):
    from pyrovae import evaluate

    built = evaluate.load_run(run_dir)
    with pytest.raises(ConfigError, match=r"--ks \[50\] must lie in 1..10"):
        evaluate.evaluate(built, "r", num_samples=10, ks=[1, 50])
    with pytest.raises(ConfigError, match="not a run directory"):
        evaluate.load_run(tmp_path)


def test_dynamically_binarized_run_is_scored_on_a_fixed_draw(shared_data_dir, tmp_path):
    from pyrovae import evaluate

    cfg = config.from_dict({
        "data": {"name": "mnist", "dynamic_binarize": True},
        "model": {"name": "vae", "latent_dim": 2, "hidden": [16], "likelihood": "bernoulli"},
        "guide": {"name": "mlp_normal", "hidden": [16]},
        "train": {"epochs": 1, "batch_size": 200},
    })
    run.train(cfg, tmp_path, quiet=True, data_dir=shared_data_dir)
    built = evaluate.load_run(tmp_path, data_dir=shared_data_dir)
    first, _ = evaluate.evaluate(built, "r", num_samples=5, ks=[1], limit=30, quiet=True, seed=1)
    again, _ = evaluate.evaluate(built, "r", num_samples=5, ks=[1], limit=30, quiet=True, seed=1)
    assert first["mean"].notna().all()
    pd.testing.assert_frame_equal(first.drop(columns="seconds"), again.drop(columns="seconds"))


def test_limit_takes_points_spread_over_the_split(run_dir):
    from pyrovae import evaluate

    built = evaluate.load_run(run_dir)
    _, per_point = evaluate.evaluate(built, "r", num_samples=5, ks=[1], limit=4, quiet=True)
    assert per_point["index"].tolist() == [0, 20, 39, 59]
    labels = built.data.labels.get("test")
    if labels is not None:
        assert per_point["label"].tolist() == labels[[0, 20, 39, 59]].tolist()
