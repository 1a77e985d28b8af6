import json

import pytest

from pyrovae import config, run

TINY = {
    "data": {"name": "sprites", "num_train": 200, "num_valid": 50, "num_test": 60},
    "model": {"name": "vae", "latent_dim": 2, "hidden": [16]},
    "guide": {"name": "mlp_normal", "hidden": [16]},
    "train": {"epochs": 1, "batch_size": 50},
}


def test_ais_vs_is_on_a_tiny_budget(script, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run.train(config.from_dict(TINY), run_dir, quiet=True)
    figure = tmp_path / "ais.png"
    argv = [str(run_dir), "--limit", "6", "--is-k", "50", "--steps", "1,8", "--bdmc-steps", "2,8",
            "--bdmc-points", "4", "--chains", "2", "--leapfrog", "2", "--out", str(figure)]
    assert script("ais_vs_is").main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["points"] == 6 and result["is"]["K"] == 50 and figure.is_file()
    assert [a["steps"] for a in result["ais"]] == [1, 8]
    assert result["ais"][0]["evaluations_per_point"] == 2
    assert [b["steps"] for b in result["bdmc"]] == [2, 8]
    assert all(b["upper"] - b["lower"] == pytest.approx(b["gap"]) for b in result["bdmc"])
    assert 0 < result["ais"][1]["acceptance"] <= 1


def test_ais_vs_is_bad_steps_is_a_clear_error(script, tmp_path, capsys):
    assert script("ais_vs_is").main([str(tmp_path), "--steps", "0,10"]) == 2
    assert "--steps must be >= 1" in capsys.readouterr().err


def test_ais_vs_is_refuses_a_figure_path_it_did_not_write_before_loading(script, tmp_path,
                                                                         capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n not ours")
    assert script("ais_vs_is").main([str(tmp_path / "absent_run"), "--out", str(photo)]) == 2
    assert "already exists and is not a file pyrovae wrote" in capsys.readouterr().err
    assert photo.read_bytes() == b"\x89PNG\r\n\x1a\n not ours"
