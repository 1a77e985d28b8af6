"""Running a sweep: its rows, reruns that reuse trained runs, interrupted and crashed sweeps
that resume to the same rows, points in processes, and a failing point that fails alone."""

import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_toys import comparable, flaky_sweep, one_point, sweep_process, write_sweep

from pyrovae.base.errors import Interrupted
from pyrovae.cli import main
from pyrovae.results import RUN_COLUMNS, SUMMARY_COLUMNS
from pyrovae.sweep import load_plan, run_sweep


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


def test_killed_sweep_rerun_equals_uninterrupted(finished, tmp_path):
    victim_sweep = write_sweep(tmp_path)
    victim = sweep_process(victim_sweep, tmp_path)
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
