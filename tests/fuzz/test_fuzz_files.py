"""Damaged files given to the readers and to the commands that read them: a config or sweep
file, a results CSV, a run's history.csv. Each is read, or refused with a pyrovae error (one
line and exit 2 on the command line); no file but the command's output changes."""

from pathlib import Path

import pandas as pd
from fuzzing import check_cli_outcome, damaged, snapshot, typed
from hypothesis import given

from pyrovae import config, report
from pyrovae.cli import main
from pyrovae.plots.run import HISTORY_COLUMNS, read_table
from pyrovae.sweep import load_plan

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = (REPO / "configs" / "quickstart.toml").read_bytes()
SWEEP = (REPO / "configs" / "sweeps" / "sprites_latent.toml").read_bytes()
RESULTS = pd.DataFrame({
    "run": ["a", "a", "b", "b"], "model": "vae", "guide": "g", "dataset": "sprites",
    "split": "test", "estimator": ["is_log_px", "elbo"] * 2, "K": [10, 1] * 2, "seed": [0, 0, 1, 1],
    "train.beta": [1.0, 1.0, 4.0, 4.0], "n": 5, "mean": [-10.5, -11.0, -12.5, -13.0],
    "stderr_of_mean": 0.1, "kl": 3.0}).to_csv(index=False).encode()
HISTORY = b"seed,epoch,objective,train_objective,valid_elbo\n0,1,elbo,-90.5,-91.0\n0,2,elbo,-80.1,-82.2\n"


@given(damaged(QUICKSTART))
def test_a_damaged_config_file_is_read_or_refused(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("config") / "c.toml"
    path.write_bytes(text)
    typed(lambda: config.load(path))


@given(damaged(SWEEP))
def test_a_damaged_sweep_file_is_planned_or_refused_and_a_dry_run_writes_nothing(
        tmp_path_factory, capsys, monkeypatch, text):
    monkeypatch.chdir(REPO)  # the shipped sweep names its base config from the repository
    tmp = tmp_path_factory.mktemp("sweep")
    path = tmp / "s.toml"
    path.write_bytes(text)
    typed(lambda: load_plan(path, out=tmp / "r.csv", runs_dir=tmp / "runs"))
    before = snapshot(tmp, REPO / "configs")
    capsys.readouterr()
    code = main(["sweep", str(path), "--dry-run", "--out", str(tmp / "r.csv"), "--runs-dir",
                 str(tmp / "runs")])
    check_cli_outcome(code, capsys.readouterr().err, "sweep")
    assert snapshot(tmp, REPO / "configs") == before


@given(damaged(RESULTS, csv=True))
def test_report_of_a_damaged_results_csv_writes_its_table_or_refuses(tmp_path_factory, capsys,
                                                                     text):
    tmp = tmp_path_factory.mktemp("report")
    results, md = tmp / "results.csv", tmp / "results.md"
    results.write_bytes(text)
    typed(lambda: report.summarize(report.read_results(results)))
    capsys.readouterr()
    code = main(["report", str(results), "--md", str(md)])
    check_cli_outcome(code, capsys.readouterr().err, "report")
    assert results.read_bytes() == text and md.exists() == (code == 0)


@given(damaged(RESULTS, csv=True))
def test_plot_of_a_damaged_results_csv_draws_or_refuses(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("plot")
    results, figure = tmp / "results.csv", tmp / "figure.png"
    results.write_bytes(text)
    capsys.readouterr()
    code = main(["plot", str(results), "--by", "train.beta", "--columns", "log p(x)=is_log_px",
                 "--out", str(figure)])
    check_cli_outcome(code, capsys.readouterr().err, "plot")
    assert results.read_bytes() == text and figure.exists() == (code == 0)


@given(damaged(HISTORY, csv=True))
def test_a_damaged_history_is_read_or_said_to_be_unreadable(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("history") / "history.csv"
    path.write_bytes(text)
    rows, why = typed(lambda: read_table(path, HISTORY_COLUMNS))
    assert (rows is None) == bool(why)
    if rows is not None:
        assert set(HISTORY_COLUMNS) <= set(rows.columns) and len(rows)
