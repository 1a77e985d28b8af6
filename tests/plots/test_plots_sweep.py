"""The figure of metrics against a swept key, from a results CSV."""

import math

import pandas as pd
import pytest
from PIL import Image

from pyrovae.base.errors import ConfigError
from pyrovae.plots import plot_sweep


def write_results(path):
    rows = []
    for beta in (1.0, 2.0, 4.0, 8.0):
        for seed in range(3):
            common = {"run": f"b{beta}-{seed}", "split": "test", "train_seed": seed,
                      "train.beta": beta, "seed": 0, "K": 1}
            rows += [{**common, "estimator": "is_log_px", "mean": -80 - beta - seed,
                      "kl": 30 / beta},
                     {**common, "estimator": "mig", "mean": 0.05 * beta, "kl": math.nan},
                     {**common, "estimator": "dci_disentanglement", "mean": 0.1 * seed,
                      "kl": math.nan}]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_metric_against_beta_with_error_bars(tmp_path):
    csv = tmp_path / "sweep.csv"
    write_results(csv)
    path, wide = plot_sweep(csv)
    assert path == tmp_path / "sweep_vs_train.beta.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 3 * image.size[1]
    assert list(wide["train.beta"]) == [1.0, 2.0, 4.0, 8.0]
    assert wide["DCI stderr"].iloc[0] == pytest.approx(0.1 / math.sqrt(3))
    assert list(wide["KL"]) == pytest.approx([30.0, 15.0, 7.5, 3.75])


def test_a_missing_key_or_metric_is_a_clear_error(tmp_path):
    csv = tmp_path / "sweep.csv"
    write_results(csv)
    with pytest.raises(ConfigError, match="no column 'model.latent_dim'"):
        plot_sweep(csv, by="model.latent_dim")
    with pytest.raises(ConfigError, match="no rows of estimator 'sap'"):
        plot_sweep(csv, columns="SAP=sap")
    assert not list(tmp_path.glob("*.png"))


def test_seed_counts_and_notes_of_a_column_missing_for_some_rows(tmp_path):
    csv = tmp_path / "sweep.csv"
    write_results(csv)
    table = pd.read_csv(csv)
    table = table[~((table["estimator"] == "mig") & (table["train.beta"] == 8.0))]
    table = pd.concat([table, table[table["estimator"] == "is_log_px"].head(1)])  # a repeat
    table.to_csv(csv, index=False)
    path, wide = plot_sweep(csv)
    assert path.exists() and list(wide["n_seeds"]) == [3, 3, 3, 0]
    notes = wide.attrs["notes"]  # the repeat shows in both columns of is_log_px rows
    assert [n.split(":")[0] for n in notes] == ["log p(x)", "KL"]
    assert all("some groups hold several rows of one train_seed" in n for n in notes)
