"""Throughput of two processes against one: the scaling of ``DistributedDataParallel``
training and of sharded evaluation (:mod:`pyrovae.train.distributed`) on one machine.

Trains ``configs/binarized_mnist_vae.toml``'s network (784-200-200-50 encoder and 50-200-200-784
decoder, tanh, Bernoulli) on binary 784-pixel data (random, so no download is needed) with
``pyrovae.fit``, in 1 process and then in ``--procs`` processes (spawned as ``torchrun`` would
launch them: ``gloo`` on CPU, ``nccl`` on CUDA), each with ``--threads`` torch threads and
``--batch`` points per rank per step. Throughput is training points per second over the last
``--epochs - 1`` epochs (the first warms up); efficiency = throughput(N) / (N x throughput(1)).
Under DDP the replay of the fast path steps aside, so the one-process run is timed both with it
(what a user gets by default) and without it (the same per-step work as each rank).
Evaluation: ``pyrovae.evaluate`` of ``--eval-points`` points with K = ``--eval-k`` importance
samples, in 1 process and in N (each scores its share), in points per second. The last line is
one JSON object.

    python scripts/bench_ddp.py [--procs 2] [--points 20000] [--epochs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

import pyrovae
from pyrovae.base.boundary import run_main
from pyrovae.data import DataInfo
from pyrovae.registry import get_guide, get_model
from pyrovae.train import distributed


def build():
    info = DataInfo((784,), binary=True)
    model = get_model("vae").factory(info, latent_dim=50, hidden=[200, 200],
                                     likelihood="bernoulli")
    guide = get_guide("mlp_normal").factory(model, info, hidden=[200, 200])
    return model, guide


def throughput(points: int, batch: int, epochs: int, device: str, replay: bool = True) -> float:
    """Training points per second of this process's run (all ranks train the same points)."""
    torch.manual_seed(0)
    data = torch.bernoulli(torch.full((points, 784), 0.13))
    model, guide = build()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    result = pyrovae.fit(model, guide, data, epochs=epochs, batch_size=batch * world,
                         device=device, quiet=True, replay=replay)
    seconds = result.history["seconds"].iloc[1:].sum()
    return points * (epochs - 1) / seconds


def eval_throughput(points: int, k: int, device: str) -> float:
    """Points per second of ``pyrovae.evaluate`` with K = ``k`` (all ranks score ``points``)."""
    torch.manual_seed(0)
    data = torch.bernoulli(torch.full((points, 784), 0.13)).to(device)
    model, guide = build()
    model.to(device)
    guide.to(device)
    pyrovae.evaluate(model, guide, data[:10], num_samples=k, ks=[1])  # warm-up
    start = time.perf_counter()
    pyrovae.evaluate(model, guide, data, num_samples=k, ks=[1])
    return points / (time.perf_counter() - start)


def rank_main(rank: int, args, out: str) -> None:
    torch.set_num_threads(args.threads)
    value = throughput(args.points, args.batch, args.epochs, args.device)
    scored = eval_throughput(args.eval_points, args.eval_k, args.device)
    if rank == 0:
        Path(out).write_text(f"{value} {scored}")


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--batch", type=int, default=100, help="points per rank per step")
    parser.add_argument("--points", type=int, default=20000, help="training points")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (the first is not timed)")
    parser.add_argument("--eval-points", type=int, default=1000, help="points evaluated")
    parser.add_argument("--eval-k", type=int, default=500, help="K of the evaluation")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.procs < 2 or args.epochs < 2 or args.points < args.batch * args.procs:
        print("bench_ddp: error: give --procs >= 2, --epochs >= 2 and --points >= --batch x "
              "--procs.", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    one = throughput(args.points, args.batch, args.epochs, args.device)
    plain = throughput(args.points, args.batch, args.epochs, args.device, replay=False)
    scored_one = eval_throughput(args.eval_points, args.eval_k, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "throughput"
        distributed.spawn(rank_main, args.procs, args, str(out))
        many, scored_many = map(float, out.read_text().split())
    efficiency = many / (args.procs * one)
    plain_efficiency = many / (args.procs * plain)
    eval_efficiency = scored_many / (args.procs * scored_one)
    print(f"training: 1 process {one:.0f} points/s ({plain:.0f} without the replay), "
          f"{args.procs} processes {many:.0f} points/s, efficiency {efficiency:.2f} "
          f"({plain_efficiency:.2f} against one process without the replay)")
    print(f"evaluation (K = {args.eval_k}): 1 process {scored_one:.1f} points/s, {args.procs} "
          f"processes {scored_many:.1f} points/s, efficiency {eval_efficiency:.2f}")
    print(json.dumps({"procs": args.procs, "threads": args.threads, "batch_per_rank": args.batch,
                      "device": args.device, "train_points_per_s_1": round(one, 1),
                      f"train_points_per_s_{args.procs}": round(many, 1),
                      "train_efficiency": round(efficiency, 3),
                      "train_points_per_s_1_no_replay": round(plain, 1),
                      "train_efficiency_no_replay": round(plain_efficiency, 3),
                      "eval_k": args.eval_k,
                      "eval_points_per_s_1": round(scored_one, 2),
                      f"eval_points_per_s_{args.procs}": round(scored_many, 2),
                      "eval_efficiency": round(eval_efficiency, 3)}))
    return 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("bench_ddp", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
