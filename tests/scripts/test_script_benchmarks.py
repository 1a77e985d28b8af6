"""The benchmark scripts run on the shipped models: bench_train's last line is its JSON, and
bench_log_px's hand-written sampler estimates what pyrovae.log_px estimates."""

import json
import subprocess
import sys
from pathlib import Path

import pyro
import pytest
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


@pytest.mark.parametrize("gradient, particles", [("stl", 1), ("dreg", 3)])
def test_bench_papers_hand_written_stl_and_dreg_are_pyrovaes_gradients(script, monkeypatch,
                                                                      gradient, particles):
    """The floor an STL or DReG epoch is timed against computes that gradient: on the two-layer
    network and the same draws, its surrogate's gradient is pyrovae's for every parameter."""
    from pyrovae.train.gradients import DReGIWAE, StickingTheLandingELBO

    bench = script("bench_papers")
    cfg = config.load(REPO / "configs/zoo/iwae_two_layer.toml",
                      ["data.name=sprites", "data.num_train=8", "data.num_valid=4",
                       "data.num_test=4"])
    pyro.set_rng_seed(0)
    built = run.build(cfg)
    model, guide = built.model.double(), built.guide.double()
    x = built.data.split("train")[:4].double()
    pyro.set_rng_seed(1)
    with pyro.plate("num_particles_vectorized", particles, dim=-2):
        draws = pyro.poutine.trace(guide).get_trace(x)
    pyro.set_rng_seed(1)
    elbo = {"stl": StickingTheLandingELBO, "dreg": DReGIWAE}[gradient]
    elbo(alpha=0.0, num_particles=particles, vectorize_particles=particles > 1,
         max_plate_nesting=2).differentiable_loss(model, guide, x).backward()
    expected = {name: p.grad.clone() for name, p in
                [*model.named_parameters(), *guide.named_parameters()] if p.grad is not None}
    for p in [*model.parameters(), *guide.parameters()]:
        p.grad = None

    hand = bench.HandWritten(model, guide)
    noise = []  # the draws' standard-normal noise, in the order the hand-written loop draws
    with torch.no_grad():
        for group in reversed(model.graph.groups):
            z = draws.nodes[group.name]["value"]
            inputs = x if group.generates_data else \
                torch.cat([draws.nodes[c]["value"] for c in group.children], -1)
            loc, scale = hand.posterior(guide.encoders[group.name], inputs)
            noise.append((z - loc) / scale)
    monkeypatch.setattr(torch, "randn_like", lambda like: noise.pop(0))
    path = []
    w = hand.log_weights(x, particles, 1.0, path)
    if gradient == "dreg":
        path.append(torch.softmax(w.detach(), 0))
        w = path[0] * w
    (-w.sum()).backward()
    assert not noise and expected
    for name, p in [*model.named_parameters(), *guide.named_parameters()]:
        if name in expected:
            torch.testing.assert_close(p.grad, expected[name], rtol=1e-8, atol=1e-10, msg=name)
