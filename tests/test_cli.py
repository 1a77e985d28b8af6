import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from pyrovae.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "data.num_train=500", "--set", "data.num_valid=100", "--set", "data.num_test=100"]


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", str(REPO / "configs" / "quickstart.toml"), "--out", str(out), "--quiet",
                 "--set", "train.epochs=2", *TINY])
    printed = capsys.readouterr().out
    assert code == 0
    assert "wrote:" in printed
    for name in ("config.toml", "checkpoint.pt", "best.pt", "history.csv", "samples.png",
                 "reconstructions.png"):
        assert str(out / name) in printed
        assert (out / name).is_file()


def test_config_typo_is_a_clear_error(tmp_path, capsys):
    code = main(["train", str(REPO / "configs" / "quickstart.toml"), "--out", str(tmp_path / "r"),
                 "--set", "train.epoch=2"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown config key 'train.epoch'. Did you mean 'epochs'?" in err
    assert not (tmp_path / "r").exists()


def _train_process(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pyrovae", "train", *args, "--quiet"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _history(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "history.csv")[["epoch", "train_objective", "valid_elbo"]]


def test_killed_and_resumed_run_equals_uninterrupted(tmp_path):
    args = [str(REPO / "configs" / "quickstart.toml"), "--set", "train.epochs=6", *TINY,
            "--set", "model.hidden=[512, 512]", "--set", "guide.hidden=[512, 512]"]
    straight = _train_process(*args, "--out", str(tmp_path / "a"))
    assert straight.wait(timeout=300) == 0, straight.stdout.read().decode()

    victim = _train_process(*args, "--out", str(tmp_path / "b"))
    history = tmp_path / "b" / "history.csv"
    deadline = time.time() + 120
    while not (history.exists() and len(pd.read_csv(history)) >= 2) and time.time() < deadline:
        assert victim.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = len(pd.read_csv(history))
    assert 2 <= killed_at < 6
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["epoch"] >= killed_at

    resumed = _train_process("--resume", str(tmp_path / "b"))
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read().decode()
    pd.testing.assert_frame_equal(_history(tmp_path / "a"), _history(tmp_path / "b"), check_exact=True)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    for part in ("model", "guide"):
        for key, value in a["values"][part].items():
            assert torch.equal(value, b["values"][part][key]), key
