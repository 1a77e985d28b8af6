import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pyrovae import config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reproduce.py"
TINY = ["--num-samples", "6", "--limit", "8", "--set", "data.name=sprites",
        "--set", "data.num_train=40", "--set", "data.num_valid=20", "--set", "data.num_test=20",
        "--set", "train.batch_size=20"]


def test_a_budget_scales_every_part_of_the_schedule(script):
    reproduce = script("reproduce")
    burda = config.load(reproduce.PAPERS / "burda_vae_k1.toml").train
    assert reproduce.budget_overrides(burda, 1.0) == {}
    short = reproduce.budget_overrides(burda, 0.01)
    assert [n for n, _ in short["train.lr_stages"]] == [1, 1, 1, 1, 1, 2, 7, 22]
    assert [lr for _, lr in short["train.lr_stages"]] == [lr for _, lr in burda.lr_stages]
    assert short["train.epochs"] == 33 and "train.patience" not in short
    tomczak = config.load(reproduce.PAPERS / "tomczak_vampprior.toml").train
    short = reproduce.budget_overrides(tomczak, 0.1)
    assert short == {"train.epochs": 200, "train.kl_warmup_epochs": 10.0, "train.patience": 5}


def test_reproduce_trains_scores_and_writes_the_table_into_the_readme(script, tmp_path, capsys):
    reproduce = script("reproduce")
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- reproduce:vampprior -->\nold\n<!-- /reproduce:vampprior -->\n"
                      "after\n")
    args = ["--table", "vampprior", "--rows", "1", "--budget", "0.001", *TINY,
            "--out", str(tmp_path / "out"), "--readme", str(readme)]
    assert reproduce.main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed.strip().splitlines()[-1])
    first, *others = result["rows"]
    assert first["published"] == 85.57 and first["epochs"] == 2 and first["test_points"] == 8
    assert len(others) == len(reproduce.TABLES["vampprior"]) - 1
    assert all(r["ours"] is None for r in others)  # not run
    table = pd.read_csv(tmp_path / "out" / "vampprior.csv")
    is_row = table[(table["estimator"] == "is_log_px") & (table["K"] == 6)].iloc[0]
    assert first["ours"] == pytest.approx(-is_row["mean"])
    assert first["gap"] == pytest.approx(-is_row["mean"] - 85.57)
    assert first["stderr"] == pytest.approx(is_row["stderr_of_mean"])
    text = readme.read_text()
    assert text.startswith("before\n<!-- reproduce:vampprior -->\n| model (source) |")
    assert text.endswith("<!-- /reproduce:vampprior -->\nafter\n") and "old" not in text
    assert f"| {first['ours']:.2f} ± {first['stderr']:.2f} | {first['gap']:+.2f} |" in text
    assert "not scored yet" in text and (tmp_path / "out" / "vampprior.md").is_file()

    assert reproduce.main(args) == 0  # a re-run reuses the run and its rows
    assert "0 to run" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "out" / "vampprior.csv")) == len(table)


@pytest.mark.parametrize("extra, message", [
    (["--budget", "2"], "--budget must be in (0, 1]"),
    (["--readme", "absent.md"], "--readme 'absent.md' does not exist"),
    (["--rows", "6"], "--rows takes row numbers from 1 to 5, got '6'"),
    (["--seeds", "a"], "--seeds takes whole numbers separated by commas"),
    (["--limit", "0"], "--limit must be a whole number >= 1; got 0."),
    (["--limit", "-3"], "--limit must be a whole number >= 1; got -3."),
])
def test_bad_arguments_exit_2_before_any_work(script, tmp_path, capsys, extra, message):
    reproduce = script("reproduce")
    assert reproduce.main(["--table", "vampprior", "--out", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_summary_gives_the_readme_numbers_of_the_finished_rows(script, tmp_path, capsys,
                                                               monkeypatch):
    reproduce = script("reproduce")
    # a protocol small enough to finish here: 8 test points, K = 6
    monkeypatch.setattr(reproduce, "NUM_SAMPLES", 6)
    first, second, *_ = reproduce.TABLES["vampprior"]
    monkeypatch.setitem(reproduce.TABLES, "vampprior",
                        (dataclasses.replace(first, test_points=8), second))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- reproduce:vampprior -->\n<!-- /reproduce:vampprior -->\n")
    out = tmp_path / "out"
    args = ["--table", "vampprior", "--rows", "1", "--num-samples", "6", "--set",
            "data.name=sprites", "--set", "data.num_train=40", "--set", "data.num_valid=20",
            "--set", "data.num_test=8", "--set", "train.batch_size=20", "--set",
            "train.epochs=2", "--set", "train.kl_warmup_epochs=1", "--out", str(out),
            "--readme", str(readme)]
    assert reproduce.main(args) == 0
    capsys.readouterr()
    assert reproduce.main(["--summary", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 1  # the second row was not run
    line = lines[0]
    assert line["table"] == "vampprior" and line["model"] == first.label
    assert line["budget_asked"] == 1 and line["test_points"] == 8 and line["K"] == 6
    row = next(r for r in readme.read_text().splitlines() if r.startswith(f"| {first.label}"))
    assert f"| {line['ours']:.2f} ± {line['stderr']:.2f} | {line['gap']:+.2f} |" in row
    # a row scored on fewer points than the paper's is not finished
    monkeypatch.setitem(reproduce.TABLES, "vampprior", (first, second))
    assert reproduce.main(["--summary", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""


def test_a_resumed_row_equals_an_uninterrupted_one(tmp_path):
    args = [sys.executable, str(SCRIPT), "--table", "iwae_static", "--rows", "1",
            "--num-samples", "20", "--set", "data.name=sprites", "--set", "data.num_train=800",
            "--set", "data.num_valid=20", "--set", "data.num_test=8", "--set",
            "train.batch_size=20", "--set", "train.epochs=6"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def history(out):
        return sorted((out / "runs" / "burda_vae_k1").glob("*/history.csv"))

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    subprocess.run([*args, "--out", str(straight)], check=True, env=env, capture_output=True)
    job = subprocess.Popen([*args, "--out", str(resumed)], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        files = history(resumed)
        if files and len(files[0].read_text().splitlines()) >= 3:  # two epochs done
            job.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert job.wait() == -signal.SIGKILL, "the run ended before it could be interrupted"
    done = len(history(resumed)[0].read_text().splitlines()) - 1
    assert 2 <= done < 6
    subprocess.run([*args, "--out", str(resumed)], check=True, env=env, capture_output=True)

    def without_seconds(out):
        frame = pd.read_csv(history(out)[0])
        return frame.drop(columns="seconds")

    pd.testing.assert_frame_equal(without_seconds(straight), without_seconds(resumed))
    columns = ["estimator", "K", "n", "mean", "stderr_of_mean", "epochs", "best_epoch"]
    pd.testing.assert_frame_equal(pd.read_csv(straight / "iwae_static.csv")[columns],
                                  pd.read_csv(resumed / "iwae_static.csv")[columns])


@pytest.mark.parametrize("text, message", [
    ("no markers here\n",
     "has no '<!-- reproduce:vampprior -->' ... '<!-- /reproduce:vampprior -->' block"),
    ("<!-- reproduce:iwae_static -->\n<!-- /reproduce:iwae_static -->\n", "has no"),
    (b"\xff\xfe not text", "is not UTF-8 text"),
])
def test_a_readme_without_the_tables_markers_is_refused_before_training(script, tmp_path, capsys,
                                                                        text, message):
    reproduce = script("reproduce")
    readme = tmp_path / "README.md"
    readme.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    code = reproduce.main(["--table", "vampprior", "--rows", "1", "--budget", "0.001", *TINY,
                           "--out", str(out), "--readme", str(readme)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_markdown_table_it_did_not_write_is_refused_before_training(script, tmp_path, capsys):
    reproduce = script("reproduce")
    (tmp_path / "vampprior.md").write_text("my notes\n")
    assert reproduce.main(["--table", "vampprior", *TINY, "--out", str(tmp_path)]) == 2
    assert "already exists and is not a file pyrovae wrote" in capsys.readouterr().err
    assert (tmp_path / "vampprior.md").read_text() == "my notes\n"
    assert not (tmp_path / "runs").exists()


def test_the_budget_shown_is_the_one_trained(script):
    reproduce = script("reproduce")
    row = reproduce.TABLES["vampprior"][0]
    published = reproduce.published_epochs(row)
    table = pd.DataFrame({
        "row": row.label, "split": "test", "estimator": ["is_log_px", "elbo"], "K": [6, 1],
        "budget": 0.0001, "mean": [-90.0, -95.0], "stderr_of_mean": 1.0, "n": 8,
        "epochs": 1, "best_epoch": 1, "train_seconds": 3.0, "dataset": "binarized_mnist",
        "device": "cpu"})
    line = reproduce.summarize(table, [row], 6).iloc[0]
    assert line["budget"] == pytest.approx(1 / published) and line["budget_asked"] == 0.0001
    assert published * 0.0001 < 1  # asked for less than the one epoch trained


def test_a_table_with_an_unscored_row_shows_whole_epochs_and_points(script):
    reproduce = script("reproduce")
    first, second, *_ = reproduce.TABLES["vampprior"]
    table = pd.DataFrame({
        "row": first.label, "split": "test", "estimator": ["is_log_px", "elbo"],
        "K": [5000, 1], "budget": 1.0, "mean": [-85.6, -91.2], "stderr_of_mean": 0.2,
        "n": 10_000, "epochs": 362, "best_epoch": 312, "train_seconds": 7000.0,
        "dataset": "binarized_mnist", "device": "cpu"})
    text = reproduce.table_markdown(reproduce.summarize(table, [first, second], 5000))
    scored = next(r for r in text.splitlines() if r.startswith(f"| {first.label}"))
    schedule = reproduce.published_epochs(first)
    assert f"| 362 of {schedule} (312) |" in scored and "| 10,000 |" in scored
    assert scored.endswith("| 1.94 h | cpu |")
    unscored = next(r for r in text.splitlines() if r.startswith(f"| {second.label}"))
    assert "not scored yet" in unscored


def test_summary_rewrites_the_readme_block_from_the_csv_without_training(script, tmp_path,
                                                                         capsys):
    reproduce = script("reproduce")
    first = reproduce.TABLES["vampprior"][0]
    out = tmp_path / "out"
    out.mkdir()
    pd.DataFrame({
        "row": first.label, "split": "test", "estimator": ["is_log_px", "elbo"],
        "K": [5000, 1], "budget": 1.0, "mean": [-85.6, -91.2], "stderr_of_mean": 0.2,
        "n": 10_000, "epochs": 362, "best_epoch": 312, "train_seconds": 7000.0,
        "dataset": "binarized_mnist", "device": "cpu"}).to_csv(out / "vampprior.csv", index=False)
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- reproduce:vampprior -->\nold\n<!-- /reproduce:vampprior -->\nb\n")
    assert reproduce.main(["--summary", "--table", "vampprior", "--readme", str(readme),
                           "--out", str(out)]) == 0
    text = readme.read_text()
    assert "old" not in text and "| 85.60 ± 0.20 | +0.03 |" in text
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["ours"] == 85.6 and line["test_points"] == 10_000 and line["epochs"] == 362
    assert isinstance(line["epochs"], int) and isinstance(line["test_points"], int)
    assert sorted(p.name for p in out.iterdir()) == ["vampprior.csv", "vampprior.md"]
    with pytest.raises(SystemExit) as stop:  # which block to rewrite is not said
        reproduce.main(["--summary", "--readme", str(readme), "--out", str(out)])
    assert stop.value.code == 2
