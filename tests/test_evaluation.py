import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

import pyrovae
from pyrovae import config, evaluation, results, run
from pyrovae.base.errors import ConfigError
from pyrovae.cli import main
from pyrovae.metrics.scores import METRIC_NAMES
from pyrovae.train import checkpoint

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


def test_evaluate_adds_ais_and_bdmc_rows(run_dir, tmp_path, capsys):
    out, points = tmp_path / "results.csv", tmp_path / "points.csv"
    args = ["evaluate", str(run_dir), "--num-samples", "20", "--ks", "1", "--limit", "8",
            "--estimator", "bdmc", "--chains", "2", "--steps", "6", "--leapfrog", "2",
            "--out", str(out), "--per-datapoint", str(points), "--quiet", "--seed", "2"]
    assert main(args) == 0
    assert "steps" in capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns) == results.SUMMARY_COLUMNS
    assert list(table["estimator"]) == ["is_log_px", "iwae", "elbo", "ais_log_px", "bdmc_lower",
                                        "bdmc_upper"]
    assert list(table["K"]) == [20, 1, 1, 2, 2, 2]
    assert table["steps"].isna().tolist() == [True] * 3 + [False] * 3
    assert (table["steps"].dropna() == 6).all() and (table["seed"] == 2).all()
    by = table.set_index("estimator")["mean"]
    assert by["ais_log_px"] > by["elbo"] and by["bdmc_lower"] < by["bdmc_upper"]
    per_point = pd.read_csv(points)
    assert per_point["ais_log_px"].mean() == pytest.approx(by["ais_log_px"])
    assert per_point["acceptance"].between(0, 1).all() and (per_point["ais_ess"] >= 1).all()
    plain = tmp_path / "plain.csv"
    assert main(["evaluate", str(run_dir), "--num-samples", "5", "--ks", "1", "--limit", "4",
                 "--out", str(plain), "--quiet"]) == 0
    assert pd.read_csv(plain)["steps"].isna().all()


def snapshot(*dirs) -> dict:
    """Every file under ``dirs`` (links followed) with its bytes."""
    return {p: p.read_bytes() for d in dirs for p in sorted(Path(d).rglob("*")) if p.is_file()}


@pytest.fixture
def no_work(monkeypatch):
    """Make loading a run fail the test: bad input must be refused before any work."""
    def load(*args, **kwargs):
        pytest.fail("the run was loaded before the bad input was refused")

    monkeypatch.setattr(run, "load", load)


def refused(args, capsys, *dirs) -> str:
    """Run ``pyrovae ARGS``; check that it exits with 2, one line on stderr, no file written
    under ``dirs``; returns that line."""
    before = snapshot(*dirs)
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"pyrovae {args[0]}: error: "), err
    assert snapshot(*dirs) == before
    return err


@pytest.mark.parametrize("options, message", [
    (["--limit", "0"], "--limit must be a whole number >= 1; got 0."),
    (["--limit", "-5"], "--limit must be a whole number >= 1; got -5."),
    (["--batch-size", "0"], "--batch-size must be a whole number >= 1; got 0."),
    (["--seed", "-1"], "--seed must be a whole number in 0..4294967295; got -1."),
    (["--seed", str(2**32)], "--seed must be a whole number in 0..4294967295; got 4294967296."),
    (["--num-samples", "0"], "--num-samples must be a whole number >= 1; got 0."),
    (["--ks", "0,1"], "--ks must be a list of whole numbers >= 1; got [0, 1]."),
    (["--ks", "1,50"], "--ks [50] must lie in 1..10 (--num-samples)"),
    (["--ks", "1,x"], "--ks '1,x' is not a comma-separated list of integers"),
    (["--estimator", "ais", "--steps", "0"], "--steps must be a whole number >= 1; got 0."),
    (["--estimator", "ais", "--chains", "0"], "--chains must be a whole number >= 1; got 0."),
    (["--estimator", "bdmc", "--leapfrog", "0"], "--leapfrog must be a whole number >= 1; got 0."),
    (["--estimator", "ais", "--step-size", "0"], "--step-size must be a finite number > 0"),
    (["--chains", "4", "--steps", "10"], "--chains, --steps set(s) annealed importance sampling, "
                                         "which --estimator is does not run"),
])
def test_bad_evaluate_options_are_refused_before_loading(run_dir, tmp_path, capsys, no_work,
                                                         options, message):
    args = ["evaluate", str(run_dir), "--num-samples", "10", "--out", str(tmp_path / "r.csv"),
            "--quiet", *options]
    assert message in refused(args, capsys, tmp_path, run_dir)


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink"])
def test_evaluate_refuses_one_file_for_out_and_per_datapoint(run_dir, tmp_path, capsys, no_work,
                                                             spelling):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    out = tmp_path / "x.csv"
    out.write_text(",".join(results.SUMMARY_COLUMNS) + "\n")
    points = {"same": out, "dotdot": tmp_path / "sub" / ".." / "x.csv",
              "symlink": tmp_path / "link" / "x.csv"}[spelling]
    err = refused(["evaluate", str(run_dir), "--num-samples", "10", "--out", str(out),
                   "--per-datapoint", str(points), "--quiet"], capsys, tmp_path, run_dir)
    assert f"--per-datapoint {points} is the file of --out ({out})" in err


@pytest.mark.parametrize("where, message", [
    ("other columns", "has other columns than the rows to append (missing there: ['run',"),
    ("under a file", "is a file, not a directory"),
    ("a directory", "is a directory; give the path of a file to write."),
])
def test_evaluate_checks_its_outputs_before_any_work(run_dir, tmp_path, capsys, no_work, where,
                                                     message):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    (tmp_path / "file.txt").write_text("not a directory\n")
    (tmp_path / "dir").mkdir()
    out, points = {"other columns": ("other.csv", "points.csv"),
                   "under a file": ("file.txt/r.csv", "points.csv"),
                   "a directory": ("r.csv", "dir")}[where]
    err = refused(["evaluate", str(run_dir), "--num-samples", "10", "--out", str(tmp_path / out),
                   "--per-datapoint", str(tmp_path / points), "--quiet"], capsys, tmp_path)
    assert message in err
    assert "left as it was" in err or where != "other columns"


def test_no_progress_bar_where_stderr_is_not_a_terminal(run_dir, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["evaluate", str(run_dir), "--num-samples", "10", "--ks", "1", "--limit", "5",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote:" in captured.out and len(pd.read_csv(out)) == 3
    assert captured.err == ""


def test_evaluate_checks_ks_and_run_dir(run_dir, tmp_path):

    built = run.load(run_dir)
    with pytest.raises(ConfigError, match=r"--ks \[50\] must lie in 1..10"):
        evaluation.evaluate(built, "r", num_samples=10, ks=[1, 50])
    with pytest.raises(ConfigError, match="not a run directory"):
        run.load(tmp_path)


def test_weights_last_scores_the_last_epoch(run_dir, tmp_path, capsys):
    """--weights last loads checkpoint.pt (here moved away from best.pt), best loads best.pt;
    the rows say which."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    fields = checkpoint.load(copy / "checkpoint.pt")
    moved = {k: v + 0.25 for k, v in fields["values"]["guide"].items()}
    fields["values"]["guide"] = moved
    rest = {k: v for k, v in fields.items() if k not in ("format", "identity", "fingerprint")}
    checkpoint.save(copy / "checkpoint.pt", fields["identity"], **rest)
    best_values = checkpoint.load(copy / "best.pt")["values"]["guide"]

    last = run.load(copy, weights="last")
    best = run.load(copy)
    assert (last.weights, best.weights) == ("last", "best")
    for name, value in last.guide.state_dict().items():
        assert torch.equal(value, moved[name])
        assert torch.equal(best.guide.state_dict()[name], best_values[name])
        assert not torch.equal(value, best_values[name])

    out = tmp_path / "r.csv"
    for weights in ("last", "best"):
        assert main(["evaluate", str(copy), "--weights", weights, "--num-samples", "10", "--ks",
                     "1", "--limit", "8", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out)
    assert table["weights"].tolist() == ["last"] * 3 + ["best"] * 3
    scored = table[table["estimator"] == "is_log_px"]["mean"].tolist()
    assert scored[0] != scored[1]
    with pytest.raises(ConfigError, match="weights"):
        run.load(copy, weights="final")
    with pytest.raises(SystemExit):
        main(["evaluate", str(copy), "--weights", "final"])
    assert "invalid choice" in capsys.readouterr().err


def test_dynamically_binarized_run_is_scored_on_a_fixed_draw(shared_data_dir, tmp_path):

    cfg = config.from_dict({
        "data": {"name": "mnist", "dynamic_binarize": True},
        "model": {"name": "vae", "latent_dim": 2, "hidden": [16], "likelihood": "bernoulli"},
        "guide": {"name": "mlp_normal", "hidden": [16]},
        "train": {"epochs": 1, "batch_size": 200},
    })
    run.train(cfg, tmp_path, quiet=True, data_dir=shared_data_dir)
    built = run.load(tmp_path, data_dir=shared_data_dir)
    first, _ = evaluation.evaluate(built, "r", num_samples=5, ks=[1], limit=30, quiet=True, seed=1)
    again, _ = evaluation.evaluate(built, "r", num_samples=5, ks=[1], limit=30, quiet=True, seed=1)
    assert first["mean"].notna().all()
    pd.testing.assert_frame_equal(first.drop(columns="seconds"), again.drop(columns="seconds"))


def test_limit_takes_points_spread_over_the_split(run_dir):

    built = run.load(run_dir)
    _, per_point = evaluation.evaluate(built, "r", num_samples=5, ks=[1], limit=4, quiet=True)
    assert per_point["index"].tolist() == [0, 20, 39, 59]
    labels = built.data.labels.get("test")
    if labels is not None:
        assert per_point["label"].tolist() == labels[[0, 20, 39, 59]].tolist()


def test_evaluate_adds_one_row_per_disentanglement_metric(run_dir, tmp_path, capsys):
    out = tmp_path / "results.csv"
    args = ["evaluate", str(run_dir), "--num-samples", "10", "--ks", "1", "--metrics",
            "disentanglement", "--out", str(out), "--quiet"]
    assert main(args) == 0
    table = pd.read_csv(out)
    metrics = table[~table["estimator"].isin(["is_log_px", "iwae", "elbo"])]
    assert list(metrics["estimator"]) == list(METRIC_NAMES)
    assert metrics["mean"].between(0, 1).all() and (metrics["K"] == 1).all()
    assert list(table.columns) == results.SUMMARY_COLUMNS


def test_metrics_on_data_without_factors_are_refused_before_scoring(tmp_path, capsys):
    torch.save({s: torch.bernoulli(torch.full((40, 4), 0.5)) for s in ("train", "valid", "test")},
               tmp_path / "d.pt")
    plain = tmp_path / "plain"
    run.train(config.from_dict({**TINY, "data": {"name": "file", "path": str(tmp_path / "d.pt")}}),
              plain, quiet=True)
    out = tmp_path / "results.csv"
    err = refused(["evaluate", str(plain), "--metrics", "disentanglement", "--out", str(out)],
                  capsys, tmp_path)
    assert "factor" in err and not out.exists()
    assert "unknown metric set 'disentanglment'" in refused(
        ["evaluate", str(plain), "--metrics", "disentanglment", "--out", str(out)], capsys,
        tmp_path)


def test_rows_record_the_particle_layout_that_importance_sampling_used():
    import pyro
    import pyro.distributions as dist

    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 5)

    def model(x, dim=1):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Categorical(logits=linear(z).log_softmax(dim)), obs=x)

    def guide(x, dim=1):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))

    x = torch.tensor([0, 1, 2, 3, 4, 0])
    with pytest.warns(UserWarning, match="batch layout") as caught:
        summary = pyrovae.evaluate(model, guide, x, num_samples=50, batch_size=2)
    assert set(summary["particles"]) == {"batch"}
    # chosen on the first of the three batches, kept by the others: checked and said once
    assert sum("particles of log p(x)" in str(w.message) for w in caught) == 1
    summary = pyrovae.evaluate(lambda x: model(x, -1), lambda x: guide(x, -1), x, num_samples=50)
    assert set(summary["particles"]) == {"vectorized"}


@pytest.mark.parametrize("existing", ["text", "results"])
def test_per_datapoint_refuses_a_file_it_did_not_write(run_dir, tmp_path, capsys, no_work,
                                                       existing):
    points = tmp_path / "points.csv"
    points.write_text({"text": "my notes\n",
                       "results": ",".join(results.SUMMARY_COLUMNS) + "\n"}[existing])
    err = refused(["evaluate", str(run_dir), "--num-samples", "10", "--out",
                   str(tmp_path / "r.csv"), "--per-datapoint", str(points), "--quiet"],
                  capsys, tmp_path)
    assert f"--per-datapoint {points} already exists and is not a file pyrovae wrote" in err


def test_a_data_plate_of_any_name_is_found_and_every_row_scores():
    import pyro
    import pyro.distributions as dist

    torch.manual_seed(0)
    decoder = torch.nn.Linear(2, 5)

    def model(x):
        with pyro.plate("batch", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=decoder(z)).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("batch", x.shape[0]):
            pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))

    x = torch.bernoulli(torch.full((6, 5), 0.4))
    result = pyrovae.log_px(model, guide, x, num_samples=20)
    assert result.data_plate == "batch" and torch.isfinite(result.value).all()
    summary = pyrovae.evaluate(model, guide, x, num_samples=20)
    assert summary["mean"].notna().all() and summary["active_units"].notna().all()


def test_eval_settings_are_one_checked_value_named_as_each_way_in_spells_them():
    settings = evaluation.EvalSettings(num_samples=50, ks=[10, 1, 10])
    assert settings.ks == (1, 10) and evaluation.EvalSettings(num_samples=200).ks == (1, 10, 100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 3
    assert evaluation.EvalSettings(estimator="bdmc", chains=4).estimators() == [
        ("is_log_px", 5000), ("iwae", 1), ("iwae", 10), ("iwae", 100), ("iwae", 1000),
        ("iwae", 5000), ("elbo", 1), ("ais_log_px", 4), ("bdmc_lower", 4), ("bdmc_upper", 4)]
    for option, name in ((evaluation.cli_option, "--chains"), (str, "chains"),
                         (lambda n: f"evaluate.{n}", "evaluate.chains")):
        with pytest.raises(ConfigError, match=f"^{name} must be a whole number >= 1"):
            evaluation.EvalSettings.checked(option, estimator="ais", chains=0)
    with pytest.raises(TypeError, match="not both"):
        evaluation.score(None, None, (), names={}, settings=settings, seed=2)
