import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pyrovae.cli import main
from pyrovae.errors import ConfigError, Interrupted
from pyrovae.sweep import load_plan, run_sweep
from pyrovae.data.splitting import spread_indices
from pyrovae.results import RUN_COLUMNS, SUMMARY_COLUMNS

REPO = Path(__file__).resolve().parents[1]

TINY = """\
base = "{base}"
out = "{out}"
runs_dir = "{runs}"
seeds = [0, 1]

[set]
"data.num_train" = {num_train}
"data.num_valid" = 50
"data.num_test" = 60
model.hidden = [16]
guide.hidden = [16]
"train.epochs" = {epochs}
"train.batch_size" = 50

[grid]
"model.latent_dim" = [2, 3]

[evaluate]
split = {split}
num_samples = 20
ks = [1, 20]
limit = 50
"""


def write_sweep(tmp_path: Path, name="tiny", *, out="results.csv", runs="runs", epochs=1,
                num_train=300, split='"test"') -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(base=REPO / "configs" / "quickstart.toml", out=tmp_path / out,
                                runs=tmp_path / runs, epochs=epochs, num_train=num_train,
                                split=split))
    return path


def comparable(path: Path) -> pd.DataFrame:
    """A CSV without its timing columns, runs named by directory name, in a fixed order."""
    table = pd.read_csv(path)
    table = table.drop(columns=[c for c in table.columns if "seconds" in c])
    table["run"] = table["run"].map(lambda r: Path(r).name)
    return table.sort_values(["run", "split", "estimator", "K"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """An uninterrupted tiny sweep: (tmp dir, sweep file, CSV)."""
    tmp = tmp_path_factory.mktemp("sweep")
    sweep = write_sweep(tmp)
    assert main(["sweep", str(sweep)]) == 0
    return tmp, sweep, tmp / "results.csv"


def test_tiny_sweep_rows_columns_and_dtypes(finished):
    tmp, sweep, csv = finished
    plan = load_plan(sweep)
    table = pd.read_csv(csv)
    assert list(table.columns) == SUMMARY_COLUMNS + RUN_COLUMNS + ["model.latent_dim"]
    assert len(table) == 2 * 2 * 4  # 2 configs x 2 seeds x (is_log_px, iwae 1, iwae 20, elbo)
    assert sorted(set(zip(table["model.latent_dim"], table["train_seed"]))) == [
        (2, 0), (2, 1), (3, 0), (3, 1)]
    for _, rows in table.groupby("run"):
        assert list(zip(rows["estimator"], rows["K"])) == [
            ("is_log_px", 20), ("iwae", 1), ("iwae", 20), ("elbo", 1)]
    ints = ["K", "seed", "n", "active_units", "train_seed", "epochs", "best_epoch", "model.latent_dim"]
    floats = ["mean", "stderr_of_mean", "kl", "reconstruction", "seconds", "train_seconds"]
    assert all(pd.api.types.is_integer_dtype(table[c]) for c in ints)
    assert all(pd.api.types.is_float_dtype(table[c]) for c in floats)
    assert all(pd.api.types.is_string_dtype(table[c]) for c in ["run", "model", "split", "config_hash"])
    assert (table["n"] == 50).all() and (table["epochs"] == 1).all() and (table["seed"] == 0).all()
    assert set(table["run"]) == {str(p.run_dir) for p in plan.points}
    for point in plan.points:
        assert (point.run_dir / "best.pt").is_file()
        assert point.config_hash in point.run_dir.name


def test_rerun_adds_nothing_and_trains_nothing(finished, capsys):
    tmp, sweep, csv = finished
    before = csv.read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp / "runs").glob("*/checkpoint.pt")}
    assert main(["sweep", str(sweep)]) == 0
    assert "0 to run" in capsys.readouterr().out
    assert csv.read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_new_split_reuses_trained_runs(finished, tmp_path):
    tmp, _, csv = finished
    out = tmp_path / "both.csv"
    sweep = write_sweep(tmp_path, split='["valid", "test"]')
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]"))
    lines = []
    report = run_sweep(load_plan(sweep, out=out, runs_dir=tmp / "runs"), log=lines.append)
    assert report["ran"] == 2 and all(" reused " in line for line in lines[1:])
    both = comparable(out)
    assert sorted(set(both["split"])) == ["test", "valid"]
    expected = comparable(csv)
    expected = expected[expected["train_seed"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(both[both["split"] == "test"].reset_index(drop=True), expected,
                                  check_exact=True)


def test_metrics_add_one_row_per_metric_to_reused_runs(finished, tmp_path):
    from pyrovae.metrics import METRIC_NAMES

    tmp, _, csv = finished
    out = tmp_path / "metrics.csv"
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]")
                     .replace("limit = 50", 'limit = 50\nmetrics = ["disentanglement"]'))
    lines = []
    report = run_sweep(load_plan(sweep, out=out, runs_dir=tmp / "runs"), log=lines.append)
    assert report["ran"] == 2 and all(" reused " in line for line in lines[1:])
    table = pd.read_csv(out)
    for _, rows in table.groupby("run"):
        assert list(rows["estimator"]) == ["is_log_px", "iwae", "iwae", "elbo", *METRIC_NAMES]
        scores = rows.iloc[4:]
        assert (scores["K"] == 1).all() and (scores["n"] == 60).all()
        assert scores["mean"].between(0, 1).all()
    assert run_sweep(load_plan(sweep, out=out, runs_dir=tmp / "runs"), log=lines.append)[
        "ran"] == 0


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


def _sweep_process(sweep: Path, cwd: Path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pyrovae", "sweep", str(sweep)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_killed_sweep_rerun_equals_uninterrupted(finished, tmp_path):
    victim_sweep = write_sweep(tmp_path)
    victim = _sweep_process(victim_sweep, tmp_path)
    csv = tmp_path / "results.csv"
    deadline = time.time() + 120
    while not csv.exists() and time.time() < deadline:
        assert victim.poll() is None, victim.stdout.read().decode()
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    rows = len(pd.read_csv(csv))
    assert 4 <= rows < 16 and rows % 4 == 0  # whole points only

    assert main(["sweep", str(victim_sweep)]) == 0
    pd.testing.assert_frame_equal(comparable(csv), comparable(finished[2]), check_exact=True)


def one_point(tmp_path: Path) -> Path:
    """A sweep of one point trained for 2 epochs."""
    sweep = write_sweep(tmp_path, epochs=2)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace(
        '"model.latent_dim" = [2, 3]', '"model.latent_dim" = [2]'))
    return sweep


def test_crash_mid_training_resumes_to_the_same_rows(tmp_path, monkeypatch):
    from pyrovae.train import checkpoint

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    run_sweep(load_plan(one_point(tmp_path / "a")), log=lambda line: None)
    real_save = checkpoint.save

    def crash_after_the_first_epoch(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        if Path(path).name == "checkpoint.pt":
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(checkpoint, "save", crash_after_the_first_epoch)
    plan = load_plan(one_point(tmp_path / "b"))
    with pytest.raises((KeyboardInterrupt, Interrupted)):  # run.train may say how to go on
        run_sweep(plan, log=lambda line: None)
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert not (tmp_path / "b" / "results.csv").exists()
    lines = []
    run_sweep(plan, log=lines.append)
    assert " resumed " in lines[1] and "2 epochs" in lines[1]
    pd.testing.assert_frame_equal(comparable(tmp_path / "b" / "results.csv"),
                                  comparable(tmp_path / "a" / "results.csv"), check_exact=True)


def test_jobs_run_points_in_processes_with_the_same_rows(finished, tmp_path):
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [1]"))
    assert main(["sweep", str(sweep), "--jobs", "2"]) == 0
    expected = comparable(finished[2])
    expected = expected[expected["train_seed"] == 1].reset_index(drop=True)
    # workers run 1 torch thread each (2 cores / 2 jobs): sums may differ in the last bits
    pd.testing.assert_frame_equal(comparable(tmp_path / "results.csv"), expected, check_exact=False,
                                  rtol=1e-6)


def test_submitit_local_jobs_give_the_rows_of_jobs_1(finished, tmp_path, capsys):
    pytest.importorskip("submitit")
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [1]")
                     + f'\n[executor]\ntime = 10\nfolder = "{tmp_path / "jobs"}"\n')
    assert main(["sweep", str(sweep), "--executor", "local", "--jobs", "2"]) == 0
    assert "as local submitit jobs" in capsys.readouterr().out
    expected = comparable(finished[2])
    expected = expected[expected["train_seed"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(comparable(tmp_path / "results.csv"), expected, check_exact=False,
                                  rtol=1e-6)
    assert any((tmp_path / "jobs").iterdir())  # the jobs' logs


def test_a_failing_point_is_reported_and_the_others_are_kept(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace(
        '"model.latent_dim" = [2, 3]', '"train.lr" = [0.003, 1e12]'))
    assert main(["sweep", str(sweep)]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "NaN" in captured.out
    assert "1 points failed" in captured.err
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 4 and (table["train.lr"] == 0.003).all()


FLAKY_MODEL = """\
import os
from pathlib import Path

from pyrovae.registry import get_model


def make(data, fail="no", **options):
    if fail == "raise" and Path(__file__).with_name("broken").exists():
        raise RuntimeError("the factory is broken")
    if fail == "die":
        os._exit(3)
    return get_model("vae").factory(data, **options)
"""


def flaky_sweep(tmp_path: Path, fails: list[str]) -> Path:
    """A sweep over a user model file whose factory raises (while a file ``broken`` exists
    beside it) or kills its process, as ``model.fail`` says."""
    (tmp_path / "flaky.py").write_text(FLAKY_MODEL)
    (tmp_path / "broken").touch()
    sweep = write_sweep(tmp_path)
    sweep.write_text(sweep.read_text().replace("seeds = [0, 1]", "seeds = [0]").replace(
        '"model.latent_dim" = [2, 3]', f'"model.fail" = {fails}').replace(
        "[set]\n", f'[set]\n"model.name" = "{tmp_path / "flaky.py"}:make"\n'))
    return sweep


def test_a_point_raising_any_error_fails_alone_and_a_rerun_retries_only_it(tmp_path, capsys):
    sweep = flaky_sweep(tmp_path, ["no", "raise"])
    assert main(["sweep", str(sweep)]) == 1
    captured = capsys.readouterr()
    failed = [line for line in captured.out.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].startswith("[2/2] FAILED ")
    assert failed[0].endswith("(model.fail=raise seed=0): RuntimeError: the factory is broken")
    assert "1 points failed" in captured.err
    csv = tmp_path / "results.csv"
    table = pd.read_csv(csv)
    assert len(table) == 4 and (table["model.fail"] == "no").all()
    before = csv.read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/checkpoint.pt")}
    assert len(stamps) == 1

    (tmp_path / "broken").unlink()
    assert main(["sweep", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "1 already in" in out and "1 to run" in out and "[1/1] trained " in out
    assert csv.read_bytes().startswith(before)
    assert sorted(pd.read_csv(csv)["model.fail"]) == ["no"] * 4 + ["raise"] * 4
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_jobs_keep_the_rows_of_the_others_when_a_point_raises_or_its_process_dies(tmp_path,
                                                                                   capsys):
    sweep = flaky_sweep(tmp_path, ["raise", "die", "no"])
    assert main(["sweep", str(sweep), "--jobs", "2"]) == 1
    captured = capsys.readouterr()
    failed = sorted(line.split("): ", 1)[1] for line in captured.out.splitlines()
                    if " FAILED " in line)
    assert len(failed) == 2
    assert failed[0] == "RuntimeError: the factory is broken"
    assert failed[1].startswith("WorkerDied: the process running this point exited with code 3")
    assert "2 points failed" in captured.err
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 4 and (table["model.fail"] == "no").all()


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


def test_spread_indices_cover_the_split_evenly():
    assert spread_indices(10, None) is None and spread_indices(10, 10) is None
    assert spread_indices(10, 4).tolist() == [0, 3, 6, 9]
    index = spread_indices(10000, 1000)
    assert len(set(index.tolist())) == 1000 and index[0] == 0 and index[-1] == 9999


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "sweeps").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_sweep_files_resolve(path, monkeypatch):
    monkeypatch.chdir(REPO)
    plan = load_plan(path)
    assert plan.points and len({p.run_dir for p in plan.points}) == len(plan.points)


def test_append_keeps_the_old_bytes_and_refuses_other_columns(tmp_path):
    from pyrovae.sweep import table

    path = tmp_path / "t.csv"
    path.write_bytes(b"run,split,estimator,K,mean\nr,test,elbo,1,0.1000000000000000055511\n")
    old = path.read_bytes()
    rows = pd.DataFrame({"run": ["s"], "split": ["test"], "estimator": ["iwae"], "K": [5],
                         "mean": [1 / 3]})
    table.append(path, rows, list(rows.columns))
    assert path.read_bytes().startswith(old)
    assert table.existing_keys(path) == {("r", "test", "elbo", 1), ("s", "test", "iwae", 5)}
    assert pd.read_csv(path)["mean"].iloc[1] == 1 / 3
    with pytest.raises(ConfigError, match="left as it was"):
        table.append(path, rows.rename(columns={"mean": "value"}), ["run", "split", "estimator", "K",
                                                                    "value"])
    assert pd.read_csv(path).shape == (2, 5)
    assert not list(tmp_path.glob(".*tmp"))


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


def test_slurm_executor_without_slurm_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    sweep = write_sweep(tmp_path)
    assert main(["sweep", str(sweep), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "--executor slurm submits jobs with SLURM's sbatch" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results.csv").exists()
