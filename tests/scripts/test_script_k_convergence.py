import pandas as pd
import pytest

from pyrovae import config, run

TINY = {
    "data": {"name": "sprites", "num_train": 200, "num_valid": 50, "num_test": 60},
    "model": {"name": "vae", "latent_dim": 2, "hidden": [16]},
    "guide": {"name": "mlp_normal", "hidden": [16]},
    "train": {"epochs": 1, "batch_size": 50},
}


def test_k_convergence_on_a_tiny_budget(script, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run.train(config.from_dict(TINY), run_dir, quiet=True)
    k_convergence = script("k_convergence")
    assert k_convergence.main([str(run_dir), "--ks", "1,4,2", "--limit", "20"]) == 0
    rows = pd.read_csv(run_dir / "k_convergence.csv")
    assert list(zip(rows["estimator"], rows["K"])) == [
        ("is_log_px", 4), ("iwae", 1), ("iwae", 2), ("iwae", 4), ("elbo", 1),
        ("is_log_px", 2), ("is_log_px", 1)]
    assert (rows["n"] == 20).all()
    bound = rows[rows["estimator"] == "iwae"]["mean"].tolist()
    assert bound[0] <= bound[1] <= bound[2]  # the IWAE bound grows with K
    assert rows.iloc[0]["mean"] == pytest.approx(bound[2])  # all 4 samples: one group
    assert (run_dir / "log_px_vs_k.png").is_file()
    assert str(run_dir / "k_convergence.csv") in capsys.readouterr().out


def test_k_convergence_bad_ks_is_a_clear_error(script, tmp_path, capsys):
    assert script("k_convergence").main([str(tmp_path), "--ks", "1,x"]) == 2
    assert "not a comma-separated list" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--out", "--plot"])
def test_k_convergence_refuses_a_file_it_did_not_write_before_loading(script, tmp_path, capsys,
                                                                     option):
    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    assert script("k_convergence").main([str(tmp_path / "absent_run"), option, str(mine)]) == 2
    assert f"{option} {mine} already exists and is not a file pyrovae wrote" in \
        capsys.readouterr().err
    assert mine.read_text() == "mine\n"
