import math

import pandas as pd
import pytest

from pyrovae import report
from pyrovae.base.errors import ConfigError
from pyrovae.cli import main


def results() -> pd.DataFrame:
    rows = []
    for model, values in (("vae", [-90.0, -92.0, -94.0]), ("iwae", [-88.0, -89.0, -90.0])):
        for seed, value in enumerate(values):
            rows.append({"run": f"r-{model}-{seed}", "model": model, "split": "test",
                         "estimator": "is_log_px", "K": 5000, "seed": 0, "mean": value,
                         "train_seed": seed, "train.lr": 0.001})
            rows.append({"run": f"r-{model}-{seed}", "model": model, "split": "test",
                         "estimator": "iwae", "K": 1, "seed": 0, "mean": value - 5,
                         "train_seed": seed, "train.lr": 0.001})
    return pd.DataFrame(rows)


def test_mean_and_standard_error_across_seeds():
    summary, notes = report.summarize(results())
    assert list(summary.columns) == ["model", "train.lr", "split", "estimator", "K", "n_seeds",
                                     "mean", "stderr", "seeds"]
    vae = summary[(summary["model"] == "vae") & (summary["estimator"] == "is_log_px")].iloc[0]
    # values -90, -92, -94: mean -92, sample sd 2, standard error 2 / sqrt(3)
    assert vae["n_seeds"] == 3 and vae["mean"] == pytest.approx(-92.0)
    assert vae["stderr"] == pytest.approx(2 / math.sqrt(3))
    assert vae["seeds"] == "0 1 2"
    assert len(summary) == 4 and not notes


def test_by_always_keeps_split_and_estimator_apart():
    summary, notes = report.summarize(results(), by=["model", "K"])
    assert list(summary.columns[:4]) == ["model", "K", "split", "estimator"]
    assert len(summary) == 4 and "also grouped by split, estimator" in notes[0]


def test_repeated_rows_of_a_seed_are_averaged_first():
    table = pd.concat([results(), results().assign(mean=lambda t: t["mean"] + 2)])
    summary, notes = report.summarize(table, where=["estimator=is_log_px", "model=vae"])
    assert len(summary) == 1 and summary["n_seeds"].iloc[0] == 3
    assert summary["mean"].iloc[0] == pytest.approx(-91.0)
    assert "averaged before the mean across seeds" in notes[0]


def test_one_seed_has_no_standard_error_and_markdown_leaves_it_empty():
    summary, _ = report.summarize(results()[lambda t: t["train_seed"] == 0])
    assert summary["stderr"].isna().all()
    text = report.markdown(summary, fixed=["mean", "stderr"])
    assert text.splitlines()[0] == ("| model | train.lr | split | estimator | K | n_seeds | mean | "
                                    "stderr | seeds |")
    assert text.splitlines()[1].startswith("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |")
    assert "| iwae | 0.001 | test | is_log_px | 5000 | 1 | -88.00 |  | 0 |" in text


def test_cli_prints_and_writes_markdown(tmp_path, capsys):
    path = tmp_path / "results.csv"
    results().to_csv(path, index=False)
    assert main(["report", str(path), "--by", "model,K", "--digits", "3"]) == 0
    printed = capsys.readouterr().out
    assert "| vae | 5000 | test | is_log_px | 3 | -92.000 | 1.155 | 0 1 2 |" in printed
    written = (tmp_path / "results.md").read_text()
    assert "Mean and standard error across seeds of `mean`" in written
    assert "| vae | 5000 | test | is_log_px | 3 | -92.000 | 1.155 | 0 1 2 |" in written


@pytest.mark.parametrize("args, message", [
    (["--by", "modle"], "no column 'modle' in the results. Did you mean 'model'?"),
    (["--value", "model"], "is not numeric"),
    (["--where", "model"], "is not COLUMN=VALUE"),
    (["--where", "model=vea"], "no rows left"),
])
def test_bad_report_options_are_clear_errors(tmp_path, capsys, args, message):
    path = tmp_path / "results.csv"
    results().to_csv(path, index=False)
    assert main(["report", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "results.md").exists()


def test_missing_or_empty_results_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        report.read_results(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match="not a readable CSV"):
        report.read_results(tmp_path / "empty.csv")


@pytest.mark.parametrize("md", ["results.csv", "sub/../results.csv", "link/results.csv"])
def test_report_refuses_to_write_markdown_over_the_results(tmp_path, capsys, monkeypatch, md):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    results().to_csv(tmp_path / "results.csv", index=False)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(report, "read_results", lambda path: pytest.fail("read before refusing"))
    assert main(["report", "results.csv", "--md", md]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"pyrovae report: error: --md {md} is the file of RESULTS (results.csv)")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def beta_results() -> pd.DataFrame:
    rows = []
    for beta in (1.0, 4.0):
        for seed in range(3):
            common = {"run": f"b{beta}-{seed}", "split": "test", "train_seed": seed,
                      "train.beta": beta, "seed": 0}
            rows.append({**common, "estimator": "is_log_px", "K": 1000,
                         "mean": -80.0 * beta - seed, "kl": 20.0 / beta + seed})
            rows.append({**common, "estimator": "mig", "K": 1, "mean": 0.1 * beta + 0.01 * seed,
                         "kl": math.nan})
    return pd.DataFrame(rows)


def test_tradeoff_table_has_one_row_per_beta_and_a_column_per_metric():
    columns = report.parse_columns("log p(x)=is_log_px, KL=is_log_px:kl, MIG=mig")
    assert columns == [("log p(x)", "is_log_px", "mean"), ("KL", "is_log_px", "kl"),
                       ("MIG", "mig", "mean")]
    wide = report.tradeoff(beta_results(), ["train.beta"], columns)
    assert list(wide.columns) == ["train.beta", "split", "n_seeds", "log p(x)", "log p(x) stderr",
                                  "KL", "KL stderr", "MIG", "MIG stderr"]
    assert list(wide["train.beta"]) == [1.0, 4.0] and list(wide["n_seeds"]) == [3, 3]
    first = wide.iloc[0]
    assert first["log p(x)"] == pytest.approx(-81.0) and first["KL"] == pytest.approx(21.0)
    assert first["MIG stderr"] == pytest.approx(0.01 / math.sqrt(3))
    text = report.tradeoff_markdown(wide, columns, digits=2)
    assert "| -81.00 ± 0.58 | 21.00 ± 0.58 | 0.11 ± 0.01 |" in text
    assert text.splitlines()[0] == "| train.beta | split | n_seeds | log p(x) | KL | MIG |"


@pytest.mark.parametrize("text, message", [
    ("MIG", "not LABEL=ESTIMATOR"), ("MIG=mig,MIG=sap", "repeats a label")])
def test_tradeoff_columns_are_checked(text, message):
    with pytest.raises(ConfigError, match=message):
        report.parse_columns(text)


def test_tradeoff_names_a_missing_estimator():
    with pytest.raises(ConfigError, match="no rows of estimator 'sap'. Estimators there: "
                                          "is_log_px, mig"):
        report.tradeoff(beta_results(), ["train.beta"], [("SAP", "sap", "mean")])


def test_cli_reports_and_plots_the_tradeoff_of_a_sweep(tmp_path, capsys):
    csv = tmp_path / "beta.csv"
    beta_results().to_csv(csv, index=False)
    columns = "log p(x)=is_log_px,KL=is_log_px:kl,MIG=mig"
    assert main(["report", str(csv), "--columns", columns]) == 0
    out = capsys.readouterr().out
    assert "| -81.00 ± 0.58 | 21.00 ± 0.58 | 0.11 ± 0.01 |" in out
    assert "| -81.00 ± 0.58 |" in (tmp_path / "beta.md").read_text()
    assert main(["plot", str(csv), "--columns", columns, "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", str(csv), "--columns", "default"]) == 2  # no DCI rows here
    assert "no rows of estimator 'dci_disentanglement'" in capsys.readouterr().err


def test_cli_rewrites_a_readme_block_naming_the_results_file_only(tmp_path, capsys):
    path = tmp_path / "runs" / "results.csv"
    path.parent.mkdir()
    results().to_csv(path, index=False)
    readme = tmp_path / "README.md"
    readme.write_text("# title\n<!-- report:table -->\nold\n<!-- /report:table -->\nafter\n")
    assert main(["report", str(path), "--by", "model", "--where", "estimator=is_log_px",
                 "--readme", str(readme), "--block", "table"]) == 0
    assert f"and the 'table' block of {readme}" in capsys.readouterr().out
    text = readme.read_text()
    assert text.startswith("# title\n<!-- report:table -->\nMean and standard error across "
                           "seeds of `mean` in results.csv (train_seed is the seed).\n\n| model |")
    assert text.endswith("| vae | test | is_log_px | 3 | -92.00 | 1.15 | 0 1 2 |\n"
                         "<!-- /report:table -->\nafter\n")
    assert str(tmp_path) not in text and str(path) in (path.with_suffix(".md")).read_text()


BLOCK = "<!-- report:table -->\n<!-- /report:table -->\n"


@pytest.mark.parametrize("args, readme, message", [
    (["--block", "table"], None, "--readme and --block go together"),
    (["--readme", "README.md"], BLOCK, "--readme and --block go together"),
    (["--readme", "README.md", "--block", "other"], BLOCK,
     "has no '<!-- report:other -->' ... '<!-- /report:other -->' block"),
    (["--readme", "results.csv", "--block", "table"], None, "is the file of RESULTS"),
])
def test_a_readme_block_that_cannot_be_written_is_refused_before_reading(
        tmp_path, capsys, monkeypatch, args, readme, message):
    monkeypatch.chdir(tmp_path)
    results().to_csv(tmp_path / "results.csv", index=False)
    if readme is not None:
        (tmp_path / "README.md").write_text(readme)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(report, "read_results", lambda path: pytest.fail("read before refusing"))
    assert main(["report", "results.csv", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
