"""Sweep files: how their points expand, and what is refused before any training (bad files,
outputs that are not ours, settings a dataset cannot take)."""

import pytest
from sweep_toys import REPO, write_sweep

from pyrovae.cli import main
from pyrovae.sweep import load_plan


def test_metrics_on_a_dataset_without_factors_are_refused_before_any_work(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    text = "".join(line for line in sweep.read_text().splitlines(keepends=True)
                   if not line.startswith('"data.num_'))
    sweep.write_text(text.replace("[set]\n", '[set]\n"data.name" = "mnist"\n')
                     .replace("limit = 50", 'limit = 50\nmetrics = ["disentanglement"]'))
    assert main(["sweep", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert "evaluate.metrics: dataset 'mnist' carries no ground-truth factors" in err
    assert err.count("\n") == 1 and not (tmp_path / "runs").exists()


def test_sweep_refuses_a_csv_of_other_columns_before_training(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    assert main(["sweep", str(sweep)]) == 2
    assert "left as it was" in capsys.readouterr().err
    assert (tmp_path / "results.csv").read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("edit, message", [
    (("[grid]", "[grdi]"), "unknown key 'grdi' in the sweep. Did you mean 'grid'?"),
    (('"model.latent_dim" = [2, 3]', '"model.latent_dim" = []'), "non-empty list"),
    (('"model.latent_dim" = [2, 3]', '"train.epoch" = [1]'), "unknown config key 'train.epoch'"),
    (('"model.latent_dim" = [2, 3]', '"model.latnt_dim" = [2]'), "Did you mean 'latent_dim'?"),
    (('"model.latent_dim" = [2, 3]', 'seed = [1]'), "seeds = [...]"),
    (("[grid]", "[zip]\n\"train.lr\" = [0.1]\n\"train.beta\" = [1.0, 2.0]\n[grid]"), "equal lengths"),
    (("num_samples = 20", "num_samples = 10"), "evaluate.ks [20] must lie in 1..10"),
    (("limit = 50", "limit = 0"), "evaluate.limit must be a whole number >= 1; got 0."),
    (("limit = 50", "seed = -1"), "evaluate.seed must be a whole number in 0..4294967295"),
    (("seeds = [0, 1]", "seeds = [0, 0]"), "repeat a seed"),
    (("limit = 50", 'metrics = ["mig"]'), "evaluate.metrics: unknown metric set 'mig'."),
    (("limit = 50", 'estimator = "ais"\nchains = 0'), "evaluate.chains must be a whole number"),
    (("limit = 50", 'estimator = "hmc"'), "evaluate.estimator = 'hmc' is not valid."),
    (("[evaluate]", "[executor]\ntime = 0\n[evaluate]"), "executor.time must be a whole number"),
    (("[evaluate]", "[executor]\nqueue = 1\n[evaluate]"), "unknown key 'queue' in [executor]"),
])
def test_bad_sweep_files_are_clear_errors(tmp_path, capsys, edit, message):
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace(*edit))
    assert main(["sweep", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results.csv").exists()


def test_dry_run_lists_points_and_runs_nothing(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    assert main(["sweep", str(sweep), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("would run") == 4
    assert not (tmp_path / "runs").exists()


def test_zip_and_grid_expand_with_seeds_innermost(tmp_path):
    sweep = write_sweep(tmp_path)
    text = sweep.read_text().replace(
        "[grid]", "[zip]\n\"train.lr\" = [0.01, 0.003]\nguide.activation = [\"relu\", \"tanh\"]\n\n[grid]")
    sweep.write_text(text)
    plan = load_plan(sweep)
    got = [(p.overrides["model.latent_dim"], p.overrides["train.lr"], p.overrides["guide.activation"],
            p.cfg.seed) for p in plan.points]
    assert got == [(d, lr, act, s) for d in (2, 3) for lr, act in ((0.01, "relu"), (0.003, "tanh"))
                   for s in (0, 1)]
    assert plan.columns[-3:] == ["model.latent_dim", "train.lr", "guide.activation"]
    assert len({p.run_dir for p in plan.points}) == 8


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "sweeps").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_sweep_files_resolve(path, monkeypatch):
    monkeypatch.chdir(REPO)
    plan = load_plan(path)
    assert plan.points and len({p.run_dir for p in plan.points}) == len(plan.points)


def test_sweep_out_that_is_a_directory_is_refused_before_training(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    (tmp_path / "taken").mkdir()
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", str(sweep), "--out", str(tmp_path / "taken"), *extra]) == 2
        err = capsys.readouterr().err
        assert "is a directory; give the path of a file to write." in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_sweep_runs_dir_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    (tmp_path / "runs").write_text("a file\n")
    assert main(["sweep", str(sweep)]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize("what", ["sweep file", "base config"])
def test_sweep_and_base_files_that_are_directories_or_not_utf8_are_clear_errors(tmp_path, capsys,
                                                                                what):
    sweep = write_sweep(tmp_path)
    if what == "sweep file":
        bad = [tmp_path, sweep]
        sweep.write_bytes(b"# \xe9\n" + sweep.read_bytes())
    else:
        base = tmp_path / "base.toml"
        base.write_bytes(b"# \xe9\n" + (REPO / "configs" / "quickstart.toml").read_bytes())
        text = sweep.read_text()
        sweep.write_text(text.replace(str(REPO / "configs" / "quickstart.toml"), str(tmp_path)))
        bad = [sweep]
        (tmp_path / "second.toml").write_text(text.replace(
            str(REPO / "configs" / "quickstart.toml"), str(base)))
        bad.append(tmp_path / "second.toml")
    messages = []
    for path in bad:
        assert main(["sweep", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        messages.append(err)
    assert "is a directory" in messages[0] and "not found" not in messages[0]
    assert "is not UTF-8 text" in messages[1]
    assert not (tmp_path / "runs").exists()


def test_a_sweep_evaluates_with_ais_as_pyrovae_evaluate_does(tmp_path):
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("limit = 50", 'limit = 50\nestimator = "ais"\n'
                                               "chains = 4\nsteps = 20"))
    plan = load_plan(sweep)
    assert plan.evaluate.scoring.steps == 20 and plan.evaluate.scoring.ks == (1, 20)
    assert plan.evaluate.estimators()[-1] == ("ais_log_px", 4)
