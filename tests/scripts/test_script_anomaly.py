import numpy as np
import pandas as pd
import pytest

from pyrovae.base.errors import PyrovaeError

TINY = ["--source", "sprites", "--pool", "300", "--holdout", "0", "--epochs", "1",
        "--num-samples", "10", "--score-size", "80", "--valid-size", "40",
        "--set", "model.hidden=[16]", "--set", "guide.hidden=[16]", "--set", "model.latent_dim=2"]


def test_auroc_by_hand(script):
    auroc = script("anomaly").auroc
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: pairs won 1 + 2 of 4
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert auroc([3.0, 2.0, 1.0], [True, False, False]) == 1.0
    assert auroc([3.0, 2.0, 1.0], [False, True, True]) == 0.0
    # a tie counts half: positive 1 vs negatives 1 (tie) and 2 (lost)
    assert auroc([1.0, 1.0, 2.0], [True, False, False]) == 0.25
    scores = np.random.default_rng(0).normal(size=50)
    labels = np.arange(50) % 3 == 0
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels] for n in scores[~labels]]
    assert auroc(scores, labels) == pytest.approx(np.mean(pairs), abs=1e-15)
    with pytest.raises(PyrovaeError, match="needs positives and negatives"):
        auroc([1.0, 2.0], [True, True])


def test_splits_keep_the_held_out_class_out_of_training(script):
    anomaly = script("anomaly")
    x = np.arange(100, dtype=np.float32)[:, None].repeat(4, 1)
    import torch

    arrays = anomaly.make_splits(torch.from_numpy(x), torch.arange(100) % 4, 2, 0, 20, 10)
    assert len(arrays["test"]) == 20 and 2 in set(arrays["test_labels"].tolist())
    assert 2 not in set(arrays["train_labels"]) and 2 not in set(arrays["valid_labels"])
    used = np.concatenate([arrays[s][:, 0] for s in ("train", "valid", "test")])
    assert len(set(used)) == len(used)  # disjoint
    outside_test = set(range(100)) - set(arrays["test"][:, 0].astype(int).tolist())
    assert len(arrays["train"]) + len(arrays["valid"]) == sum(v % 4 != 2 for v in outside_test)


def test_anomaly_on_a_tiny_budget(script, tmp_path, capsys):
    anomaly = script("anomaly")
    args = [*TINY, "--out", str(tmp_path / "anomaly.csv"), "--runs-dir", str(tmp_path / "runs"),
            "--config", str(__import__("pathlib").Path(anomaly.__file__).parents[1] / "configs"
                            / "binarized_mnist_vae.toml")]
    assert anomaly.main(args) == 0
    rows = pd.read_csv(tmp_path / "anomaly.csv")
    assert list(rows.columns) == anomaly.COLUMNS
    assert list(rows["score"]) == ["log_px", "elbo"] and (rows["holdout"] == 0).all()
    assert rows["auroc"].between(0, 1).all() and (rows["n_anomalous"] > 0).all()
    assert (rows["n_anomalous"] + rows["n_normal"] == 80).all()
    points = pd.read_csv(f"{rows['run'][0]}/points_test.csv")
    anomalous = points["label"] == 0
    assert rows["auroc"][0] == anomaly.auroc(-points["log_px"], anomalous)
    assert "trained on" in rows["design"][0] and "without class 0" in rows["design"][0]
    capsys.readouterr()
    assert anomaly.main(args) == 0
    assert "skipped" in capsys.readouterr().out and len(pd.read_csv(tmp_path / "anomaly.csv")) == 2
