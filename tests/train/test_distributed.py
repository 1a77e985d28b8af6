"""Training in two processes (``gloo``, spawned here as ``torchrun`` would launch them): one step
equals a one-process step on the union of the shards, a run resumes to the numbers of an
uninterrupted one, and another number of processes is refused."""

import os
import subprocess
import sys
from pathlib import Path

import ddp_pairs
import pandas as pd
import pytest
import torch
from ddp_pairs import data, one_step, pair, score_points

import pyrovae
from pyrovae.base.errors import ConfigError
from pyrovae.cli import main
from pyrovae.train import distributed
from pyrovae.train.distributed import ProcessGroup, World

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def spawn(function: str, args, tmp_path, world_size: int = 2) -> list:
    distributed.spawn(ddp_pairs.run, world_size, function, args, str(tmp_path))
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(world_size)]


def test_global_batches_share_every_point_once_in_contiguous_shards():
    world = World(0, 3)
    batches = distributed.global_batches(22, 10, seed=0, epoch=1, world=world)
    assert [len(b) for b in batches] == [10, 12]  # 2 points left for 3 ranks join the batch before
    assert sorted(torch.cat(batches).tolist()) == list(range(22))
    assert [len(b) for b in distributed.global_batches(23, 10, 0, 1, world)] == [10, 10, 3]
    shards = [ProcessGroup(r, 3).shard(batches[0]) for r in range(3)]
    assert [len(s) for s in shards] == [4, 3, 3]
    assert torch.equal(torch.cat(shards), batches[0])
    again = distributed.global_batches(22, 10, seed=0, epoch=1, world=World(2, 3))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    other = distributed.global_batches(22, 10, seed=0, epoch=2, world=world)
    assert not torch.equal(torch.cat(other), torch.cat(batches))
    with pytest.raises(ConfigError, match="2 training points cannot be shared by 3 processes"):
        distributed.global_batches(2, 10, 0, 1, world)


def test_a_two_process_step_is_the_one_process_step_on_the_union(tmp_path):
    ranks = spawn("one_step", (), tmp_path)
    single = one_step()
    for rank in ranks:
        assert rank["loss"] == pytest.approx(single["loss"], rel=1e-6)
        for name, value in single["params"].items():
            torch.testing.assert_close(rank["params"][name], value, rtol=1e-5, atol=1e-6)
    model, guide = pair(True)
    before = {**model.state_dict(), **guide.state_dict()}
    assert all(not torch.allclose(single["params"][k], v) for k, v in before.items())


def test_a_two_process_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    ranks = spawn("train_resume_and_straight", (str(tmp_path / "runs"),), tmp_path)
    for rank in ranks:
        resumed, straight = rank["resumed"], rank["straight"]
        assert len(resumed["history"]) == 5 and resumed["history"]["epoch"].tolist() == [1, 2, 3,
                                                                                          4, 5]
        pd.testing.assert_frame_equal(resumed["history"], straight["history"])
        for part in ("model", "guide"):
            for name, value in straight["best"][part].items():
                assert torch.equal(resumed["best"][part][name], value)
        assert {"checkpoint.pt", "best.pt", "history.csv"} <= set(resumed["files"])
    pd.testing.assert_frame_equal(ranks[0]["straight"]["history"],
                                  ranks[1]["straight"]["history"])
    written = pd.read_csv(tmp_path / "runs" / "resumed" / "history.csv")
    assert written["epoch"].tolist() == [1, 2, 3, 4, 5]  # one row per epoch, from rank 0 only
    ckpt = torch.load(tmp_path / "runs" / "resumed" / "checkpoint.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["rng_ranks"]) == 2 and "rng" not in ckpt
    assert not torch.equal(ckpt["rng_ranks"][0]["torch"], ckpt["rng_ranks"][1]["torch"])

    model, guide = pair(fixed_noise=False)
    with pytest.raises(ConfigError, match=r"trained in 2 process\(es\); resume it with the same "
                                          r"number \(torchrun --nproc_per_node=2\)"):
        pyrovae.fit(model, guide, data(), valid=data(12), epochs=6, batch_size=10,
                    out=tmp_path / "runs" / "resumed", resume=True, seed=3, replay=False)


def test_two_processes_score_shares_of_the_points_and_agree_with_one(tmp_path):
    summary, points = score_points()
    for rank_summary, rank_points in spawn("score_points", (), tmp_path):
        assert rank_points["index"].tolist() == list(range(40))
        assert rank_summary["n"].tolist() == summary["n"].tolist()
        assert rank_summary["estimator"].tolist() == summary["estimator"].tolist()
        # rank 0 scores the first 20 points with one process's draws
        pd.testing.assert_frame_equal(rank_points.iloc[:20], points.iloc[:20])
        second, first = rank_points.iloc[20:], points.iloc[20:]
        assert not second["log_px"].equals(first["log_px"])  # rank 1 draws its own
        bound = 4 * (second["stderr"] ** 2 + first["stderr"] ** 2) ** 0.5
        assert ((second["log_px"] - first["log_px"]).abs() <= bound).all()


def test_pyrovae_train_under_torchrun_writes_one_run_and_resumes(tmp_path):
    out = tmp_path / "run"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                f"--master_port={distributed.free_port()}", "-m", "pyrovae", "train"]
    tiny = ["--set", "data.num_train=100", "--set", "data.num_valid=20", "--set",
            "model.hidden=[16]", "--set", "guide.hidden=[16]", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*torchrun, str(CONFIGS / "quickstart.toml"), "--set",
                           "train.epochs=1", *tiny, "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("trained 1 epochs") == 1  # rank 0 speaks for the run
    assert "not replaying recorded steps under DistributedDataParallel" in done.stderr
    done = subprocess.run([*torchrun, "--resume", str(out), "--set", "train.epochs=2", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2]


def test_under_torchrun_a_run_directory_must_be_named(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", str(CONFIGS / "quickstart.toml")]) == 2
    assert capsys.readouterr().err == ("pyrovae train: error: under torchrun every process must "
                                       "write to one run directory: give --out RUN_DIR.\n")


def test_a_stalled_process_is_named_after_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("PYROVAE_DDP_TIMEOUT", "2")
    out = tmp_path / "rank0.txt"
    distributed.spawn(ddp_pairs.run, 2, "stall", (str(out), 8.0), str(tmp_path))
    seconds, message = out.read_text().split("\n", 1)
    assert message.startswith("TrainingError: process 0 of 2: process(es) 1 stopped answering "
                              "for 2 s (PYROVAE_DDP_TIMEOUT)"), message
    assert float(seconds) < 7


@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_a_bad_ddp_timeout_is_refused(monkeypatch, value):
    monkeypatch.setenv("PYROVAE_DDP_TIMEOUT", value)
    with pytest.raises(ConfigError, match="PYROVAE_DDP_TIMEOUT must be a number of seconds > 0"):
        distributed.timeout()
