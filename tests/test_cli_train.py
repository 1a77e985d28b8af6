"""``pyrovae train`` on bad input: exit status 2, one line on stderr naming the problem, and no
file written or changed."""

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import torch

from pyrovae.cli import main

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = str(REPO / "configs" / "quickstart.toml")
TINY = ["--set", "data.num_train=200", "--set", "data.num_valid=50", "--set", "data.num_test=50",
        "--set", "model.hidden=[32]", "--set", "guide.hidden=[32]", "--set", "train.epochs=2",
        "--quiet"]


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (and every directory, as None)."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


def _refused(argv, capsys, root: Path, *needles) -> str:
    """Run ``pyrovae`` with ``argv``; assert exit 2, one stderr line holding ``needles`` and no
    change under ``root``; return that line."""
    before = _files(root)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrovae train: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert _files(root) == before
    return lines[0]


def _train(out: Path, *extra) -> None:
    assert main(["train", QUICKSTART, "--out", str(out), *TINY, *extra]) == 0


@pytest.mark.parametrize("value, needle", [
    ('"32"', 'model.hidden must be a list of whole numbers >= 1 (layer widths), e.g. [200, 200]; '
             'got "32".'),
    ("32", "model.hidden must be a list of whole numbers >= 1 (layer widths)"),
])
def test_loosely_typed_hidden_is_refused(tmp_path, capsys, value, needle):
    _refused(["train", QUICKSTART, "--out", str(tmp_path / "run"), *TINY,
              "--set", f"model.hidden={value}"], capsys, tmp_path, needle)


@pytest.mark.parametrize("option", ["model.latent_dim=4.5", 'model.latent_dim="4"',
                                    "model.latent_dim=0", "guide.latent_dim=-2",
                                    "guide.activation=tanhh", "model.scale_floor=nan"])
def test_bad_model_and_guide_options_are_refused(tmp_path, capsys, option):
    key = option.partition("=")[0]
    _refused(["train", QUICKSTART, "--out", str(tmp_path / "run"), *TINY, "--set", option],
             capsys, tmp_path, key)


@pytest.mark.parametrize("option, needle", [
    ("seed=-1", "seed must be a whole number in 0..4294967295; got -1."),
    ("train.lr=nan", "train.lr must be a finite number > 0; got NaN."),
    ("train.lr=inf", "train.lr must be a finite number > 0; got Infinity."),
    ("train.beta=nan", "train.beta must be a finite number >= 0"),
])
def test_bad_train_options_are_refused(tmp_path, capsys, option, needle):
    _refused(["train", QUICKSTART, "--out", str(tmp_path / "run"), *TINY, "--set", option],
             capsys, tmp_path, needle)


@pytest.mark.parametrize("text", ["", "seed = 1\n[train]\nepochs = 1\n"])
def test_config_without_data_is_refused(tmp_path, capsys, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    _refused(["train", str(path), "--out", str(tmp_path / "run")], capsys, tmp_path,
             "has no [data] table", 'Add [data] name = "..." with one of: binarized_mnist, '
                                    "dsprites, file, mnist, sprites.")


def test_a_value_with_a_newline_is_written_as_valid_toml(tmp_path, capsys):
    """sprites ignores data.dir, so any text there trains; config.toml must still parse."""
    _train(tmp_path / "run", "--set", 'data.dir="first line\\nsecond \\"line\\" \\\\ é"',
           "--set", "train.epochs=1")
    saved = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert saved["data"]["dir"] == 'first line\nsecond "line" \\ é'
    # the run can be repeated from its config.toml, and resumed
    assert main(["train", str(tmp_path / "run" / "config.toml"), "--out", str(tmp_path / "again"),
                 "--quiet"]) == 0
    assert main(["train", "--resume", str(tmp_path / "run"), "--set", "train.epochs=2",
                 "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 2


def test_resume_refuses_a_checkpoint_of_another_learning_rate(tmp_path, capsys):
    _train(tmp_path / "run", "--set", "train.epochs=1")
    _train(tmp_path / "other", "--set", "train.epochs=1", "--set", "train.lr=0.01")
    shutil.copy(tmp_path / "other" / "checkpoint.pt", tmp_path / "run" / "checkpoint.pt")
    _refused(["train", "--resume", str(tmp_path / "run"), "--set", "train.epochs=3"], capsys,
             tmp_path, "train.lr: checkpoint has 0.01, this run has 0.001")


def test_resume_refuses_an_edited_learning_rate(tmp_path, capsys):
    _train(tmp_path / "run", "--set", "train.epochs=1")
    saved = tmp_path / "run" / "config.toml"
    saved.write_text(saved.read_text().replace("lr = 0.001", "lr = 0.002"))
    _refused(["train", "--resume", str(tmp_path / "run")], capsys, tmp_path,
             "train.lr: checkpoint has 0.001, this run has 0.002")


def test_resume_refuses_fewer_epochs_than_completed(tmp_path, capsys):
    _train(tmp_path / "run", "--set", "train.epochs=3")
    _refused(["train", "--resume", str(tmp_path / "run"), "--set", "train.epochs=2"], capsys,
             tmp_path, "has already completed 3 epochs; give train.epochs >= 3")
    assert tomllib.loads((tmp_path / "run" / "config.toml").read_text())["train"]["epochs"] == 3


def test_an_output_below_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("not a directory")
    _refused(["train", QUICKSTART, "--out", str(tmp_path / "file" / "run"), *TINY], capsys,
             tmp_path, f"cannot write the run directory {tmp_path / 'file' / 'run'}: "
                       f"{tmp_path / 'file'} is a file, not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _refused(["train", QUICKSTART, "--out", str(locked / "run"), *TINY], capsys, tmp_path,
                 f"{locked} is not writable")
    finally:
        locked.chmod(0o755)


def test_ctrl_c_says_how_to_resume_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    args = [QUICKSTART, "--out", str(out), *TINY, "--set", "train.epochs=40",
            "--set", "model.hidden=[256, 256]", "--set", "guide.hidden=[256, 256]"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pyrovae", "train", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    epochs = torch.load(out / "checkpoint.pt", weights_only=True)["state"]["epoch"]
    assert 1 <= epochs < 40
    assert err.strip() == (f"pyrovae train: error: interrupted; {out / 'checkpoint.pt'} holds "
                           f"epoch {epochs}. Continue with: pyrovae train --resume {out}")
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == list(range(1, 41))
