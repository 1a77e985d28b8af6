import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pyrovae import config, run
from pyrovae.cli import main
from pyrovae.plots import FIGURES, plot_run

TINY = {
    "data": {"name": "sprites", "num_train": 300, "num_valid": 50, "num_test": 60},
    "model": {"name": "vae", "latent_dim": 3, "hidden": [16]},
    "guide": {"name": "mlp_normal", "hidden": [16]},
    "train": {"epochs": 2, "batch_size": 50, "lr": 3e-3},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot_run")
    run.train(config.from_dict(TINY), path, quiet=True)
    return path


def test_plot_writes_every_figure(run_dir, capsys):
    for name in FIGURES:
        (run_dir / name).unlink(missing_ok=True)
    assert main(["plot", str(run_dir), "--points", "60"]) == 0
    printed = capsys.readouterr().out
    assert "note:" not in printed
    for name in FIGURES:
        assert str(run_dir / name) in printed
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG" and min(image.size) > 20
    with Image.open(run_dir / "traversals.png") as image:  # 3 latent dims x 9 steps of 28 px
        margin = image.size[0] - (9 * 29 + 1)  # where each row names the factor it captures
        assert image.size[1] == 3 * 29 + 1 and 40 < margin < 200
        pixels = np.asarray(image)
        assert (pixels[:, :margin] < 128).any()
    with Image.open(run_dir / "interpolation.png") as image:  # 4 pairs: input, 8 steps, input
        assert image.size == (10 * 29 + 1, 4 * 29 + 1)


def test_plot_uses_k_convergence_csv_when_present(run_dir):
    rows = pd.DataFrame({"run": "r", "split": "test", "estimator": ["iwae", "iwae", "elbo"],
                         "K": [1, 10, 1], "mean": [-10.0, -9.0, -10.0],
                         "stderr_of_mean": [0.1, 0.1, 0.1], "n": 5})
    rows.to_csv(run_dir / "k_convergence.csv", index=False)
    try:
        paths, notes = plot_run(run_dir, num_points=20)
    finally:
        (run_dir / "k_convergence.csv").unlink()
    assert run_dir / "log_px_vs_k.png" in paths and not notes


def test_plot_of_non_image_data_draws_what_it_can(tmp_path, capsys):
    data = tmp_path / "vectors.npy"
    np.save(data, np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32))
    cfg = config.from_dict({"data": {"name": "file", "path": str(data)},
                            "model": {"name": "vae", "latent_dim": 2, "hidden": [8]},
                            "guide": {"name": "mlp_normal", "hidden": [8]},
                            "train": {"epochs": 1, "batch_size": 50}})
    run.train(cfg, tmp_path / "run", quiet=True)
    assert main(["plot", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "the data are not images" in printed
    for name in ("latent_scatter.png", "training_curves.png", "log_px_vs_k.png"):
        assert (tmp_path / "run" / name).is_file()
    assert not (tmp_path / "run" / "traversals.png").exists()


def test_plot_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize("damage, why", [
    (b"", "is not a readable CSV (EmptyDataError)"),
    (b"epoch,valid_elbo\n1,-3.0\n", "lacks the column(s) train_objective"),
    (b"\xff\xfe\x00e\x00p\x00o\x00c\x00h", "is not a readable CSV (UnicodeDecodeError)"),
    (b"epoch,train_objective,valid_elbo\n", "holds no rows"),
    (b"epoch,train_objective,valid_elbo\n1,abc,-3\n", "holds text where numbers belong"),
])
def test_plot_of_a_damaged_history_draws_the_other_figures(run_dir, tmp_path, capsys, damage,
                                                          why):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "history.csv").write_bytes(damage)
    (copy / "training_curves.png").unlink(missing_ok=True)
    assert main(["plot", str(copy), "--points", "50"]) == 0
    printed = capsys.readouterr().out
    assert f"note: no training curves: {copy / 'history.csv'} {why}" in printed
    assert not (copy / "training_curves.png").exists() and (copy / "samples.png").is_file()
    assert (copy / "history.csv").read_bytes() == damage


def test_plot_of_a_damaged_k_convergence_csv_estimates_log_px_itself(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "k_convergence.csv").write_text("split,K\ntest,1\n")
    assert main(["plot", str(copy), "--points", "50"]) == 0
    assert "lacks the column(s) estimator, mean, stderr_of_mean" in capsys.readouterr().out
    assert (copy / "log_px_vs_k.png").is_file()
