"""The benchmark scripts run on the shipped models: bench_train's last line is its JSON, and
bench_log_px's hand-written sampler estimates what pyrovae.log_px estimates."""

import json
import subprocess
import sys
from pathlib import Path

import pyro
import torch

from pyrovae import config, log_px, run

REPO = Path(__file__).resolve().parents[2]


def test_bench_train_prints_its_figures():
    done = subprocess.run([sys.executable, "scripts/bench_train.py", "--batch-sizes", "20",
                           "--samples", "40", "--rounds", "1"], cwd=REPO, capture_output=True,
                          text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""}, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["elbo"] == "pyrovae trace_elbo" and figures["cpu"]["20"]["ratio"] > 0


def test_bench_log_px_floor_agrees_with_log_px(script, tmp_path):
    bench = script("bench_log_px")
    cfg = config.load(REPO / "configs/quickstart.toml",
                      ["data.num_train=100", "data.num_valid=20", "data.num_test=20",
                       "train.epochs=1", "model.hidden=[16]", "guide.hidden=[16]",
                       "model.activation=\"tanh\"", "guide.activation=\"tanh\""])
    built = run.train(cfg, tmp_path, quiet=True).built
    x = built.data.split("test")
    pyro.set_rng_seed(0)
    ours = log_px(built.model, built.guide, x, num_samples=2000)
    floor = bench.floor_log_px(built.model, built.guide, x, 2000, 20, 500)
    assert torch.allclose(ours.value, floor.to(ours.value.dtype), atol=6 * ours.stderr.max().item())


def test_bench_ddp_prints_its_figures():
    done = subprocess.run([sys.executable, "scripts/bench_ddp.py", "--points", "400", "--epochs",
                           "2", "--eval-points", "20", "--eval-k", "10"], cwd=REPO,
                          capture_output=True, text=True,
                          env={"OMP_NUM_THREADS": "1", "PATH": ""}, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["procs"] == 2 and figures["train_efficiency"] > 0
    assert figures["eval_points_per_s_2"] > 0


def test_bench_papers_quick_times_every_config_against_its_floor(script, capsys):
    bench = script("bench_papers")
    tiny = ["data.name=sprites", "data.num_train=60", "data.num_valid=20", "data.num_test=4",
            "train.batch_size=20"]
    assert bench.main(["--quick", "--num-samples", "300", "--rounds", "1",
                       *(f"--set={s}" for s in tiny)]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures["eval_ratio"]) == set(figures["epoch_ratio"]) == set(bench.CONFIGS)
    for row in figures["rows"]:
        assert row["eval_ratio"] > 0 and row["epoch_ratio"] > 0 and row["train_points"] == 60
        # the paper networks take vectorized particles (the check's share is a timing: reported)
        assert row["layout"] == "vectorized" and row["layout_check_share"] > 0
        # the hand-written estimator estimates what log_px estimates
        gap = abs(row["log_px_mean"] - row["floor_log_px_mean"])
        assert gap < 6 * row["log_px_stderr"] + 0.5, row
