"""Benchmark of per-datapoint importance-sampled log p(x) on a trained binarized-MNIST VAE.

Times, on the same test points and networks:
  (i)   ``pyrovae.log_px`` (vectorized particles and data, streaming log-sum-exp);
  (ii)  ``pyro.infer.Importance`` run once per data point, what a Pyro user writes today
        (timed on a few points and scaled to ``--n``: it loops over particles in Python);
  (iii) a hand-written vectorized PyTorch importance sampler for the same networks, with the
        same tiles (the floor).
Prints the ratios (ii)/(i) and (i)/(iii), checks that (i), (ii) and (iii) agree within their
standard errors, and measures the peak memory of (i) at K=100 and K=5000 in fresh processes.
The last line is one JSON object.

Peak memory on CUDA is ``torch.cuda.max_memory_allocated``: the bytes of live tensors, not what
the caching allocator keeps. Its CPU counterpart is the growth of the peak resident set with
glibc's caching of freed memory switched off (``MALLOC_MMAP_THRESHOLD_``: every block of 1 MB or
more is mapped on allocation and unmapped on free): the bytes of live tensors, an operation's
scratch included. The same figure with glibc's defaults is printed too; it also counts freed
memory that glibc keeps for reuse, which grows with the number of tiles a run allocates.

    python scripts/bench_log_px.py --run runs/bmnist100 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import pyro
import torch
import torch.nn.functional as F

from pyrovae import config, run
from pyrovae.base.boundary import run_main

from pyrovae.infer import batching, log_px


def trained_run(args) -> str:
    """``--run``, or a VAE of configs/binarized_mnist_vae.toml trained ``--train-epochs``."""
    if args.run:
        return args.run
    out = tempfile.mkdtemp(prefix="bench_log_px_")
    cfg = config.load("configs/binarized_mnist_vae.toml", [f"train.epochs={args.train_epochs}"])
    run.train(cfg, out, quiet=True, data_dir=args.data_dir, device=args.device)
    return out


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def floor_log_px(model, guide, x: torch.Tensor, num_samples: int, batch: int, chunk: int):
    """(iii): log-mean-exp of :math:`\\log p(x|z) + \\log p(z) - \\log q(z|x)` written directly
    against the VAE's decoder and the encoder's network, tile by tile, streaming in float64."""
    out = []
    encoder = torch.nn.Sequential(guide.encoder.trunk, guide.encoder.head.linear)
    for lo in range(0, x.shape[0], batch):
        xb = x[lo:lo + batch]
        flat = xb.flatten(1)
        loc, raw = encoder(flat).split(guide.latent_dim, -1)
        scale = F.softplus(raw) + 1e-5
        running = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
        for start in range(0, num_samples, chunk):
            c = min(chunk, num_samples - start)
            eps = torch.randn((c, *loc.shape), device=x.device)
            z = loc + scale * eps
            log_q = (-0.5 * eps**2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
            logits = model.decoder(z)
            log_px_z = -F.binary_cross_entropy_with_logits(
                logits, flat.expand(c, *flat.shape), reduction="none").sum(-1)
            w = (log_px_z + log_pz - log_q).double()
            running = torch.logaddexp(running, torch.logsumexp(w, 0))
        out.append(running - math.log(num_samples))
    return torch.cat(out)


def importance_per_point(model, guide, x: torch.Tensor, num_samples: int) -> torch.Tensor:
    """(ii): ``pyro.infer.Importance(model, guide, K).run(x_n).get_log_normalizer()`` per point."""
    values = []
    for n in range(x.shape[0]):
        posterior = pyro.infer.Importance(model, guide, num_samples=num_samples)
        values.append(float(posterior.run(x[n:n + 1]).get_log_normalizer()))
    return torch.tensor(values, dtype=torch.float64)


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result


def resident_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def peak_memory_child(args) -> None:
    """Run in a fresh process: peak memory (MB) added by one ``log_px`` call at ``--K``."""
    built = run.load(args.run, data_dir=args.data_dir, device=args.device)
    x = built.data.split("test")[: args.n]
    if built.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(built.device)
        base = torch.cuda.memory_allocated(built.device)
        log_px(built.model, built.guide, x, num_samples=args.K)
        peak = torch.cuda.max_memory_allocated(built.device) - base
    else:
        # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM).
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = resident_kb("VmRSS")
        log_px(built.model, built.guide, x, num_samples=args.K)
        peak = (resident_kb("VmHWM") - base) * 1024
    print(json.dumps({"peak_mb": peak / 2**20}))


#: glibc settings that return every freed block of 1 MB or more to the system at once.
NO_ALLOCATOR_CACHE = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def peak_memory(args, num_samples: int, allocator_env: dict | None = None) -> float:
    """Peak memory (MB) of one ``log_px`` call at ``num_samples``, in a fresh process whose
    environment has ``allocator_env`` added."""
    cmd = [sys.executable, __file__, "--memory-child", "--run", args.run, "--n", str(args.memory_n),
           "--K", str(num_samples)]
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    cmd += ["--device", args.device] if args.device else []
    env = {**os.environ, **(allocator_env or {})}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mb"]


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="trained run directory (default: train one briefly)")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--n", type=int, default=500, help="test points")
    parser.add_argument("--K", type=int, default=1000, help="importance samples per point")
    parser.add_argument("--importance-points", type=int, default=5,
                        help="points timed for pyro.infer.Importance (scaled to --n)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating timings of (i), (iii)")
    parser.add_argument("--memory-n", type=int, default=100, help="test points of the memory runs")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        return peak_memory_child(args)

    args.run = trained_run(args)
    built = run.load(args.run, data_dir=args.data_dir, device=args.device)
    model, guide, device = built.model, built.guide, built.device
    x = built.data.split("test")[: args.n]
    batch = batching.default_batch_size(x.shape[0], batching.event_numel(x), args.K)
    chunk = batching.default_particle_chunk(batch, batching.event_numel(x), args.K)
    pyro.set_rng_seed(args.seed)
    log_px(model, guide, x[:10], num_samples=50)  # warm-up
    floor_log_px(model, guide, x[:10], 50, batch, chunk)

    times = {"pyrovae": [], "floor": []}
    for _ in range(args.repeats):
        t, ours = timed(lambda: log_px(model, guide, x, num_samples=args.K), device)
        times["pyrovae"].append(t)
        t, floor = timed(lambda: floor_log_px(model, guide, x, args.K, batch, chunk), device)
        times["floor"].append(t)
    m = args.importance_points
    t_imp, imp = timed(lambda: importance_per_point(model, guide, x[:m], args.K), device)

    t_ours, t_floor = statistics.median(times["pyrovae"]), statistics.median(times["floor"])
    t_imp_scaled = t_imp / m * x.shape[0]
    value, stderr = ours.value.cpu(), ours.stderr.cpu()
    floor = floor.cpu()
    within = ((value - floor).abs() <= 4 * math.sqrt(2) * stderr).double().mean()
    within_imp = ((value[:m] - imp).abs() <= 4 * math.sqrt(2) * stderr[:m]).double().mean()
    print(f"device {device}, {x.shape[0]} test points, K={args.K}, tiles {batch} points x {chunk} particles")
    print(f"(i)   pyrovae.log_px                 {t_ours:8.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times['pyrovae'])})")
    print(f"(ii)  pyro.infer.Importance per point {t_imp_scaled:8.2f} s   ({t_imp / m:.2f} s/point on {m} points, scaled)")
    print(f"(iii) hand-written PyTorch            {t_floor:8.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times['floor'])})")
    print(f"(ii)/(i) = {t_imp_scaled / t_ours:.0f}x faster than Importance;  (i)/(iii) = {t_ours / t_floor:.3f}")
    print(f"mean log p(x): (i) {value.mean():.3f}  (iii) {floor.mean():.3f}  "
          f"(ii, {m} points) {imp.mean():.3f} vs (i) {value[:m].mean():.3f}")
    print(f"points where (i) and (iii) agree within 4 combined stderr: {within:.1%}; (i) and (ii): {within_imp:.1%}")
    cpu = device.type == "cpu"
    mem = {k: peak_memory(args, k, NO_ALLOCATOR_CACHE if cpu else None) for k in (100, 5000)}
    print(f"peak memory of pyrovae.log_px on {args.memory_n} points (live tensors): "
          f"K=100 {mem[100]:.1f} MB, K=5000 {mem[5000]:.1f} MB")
    cached = {k: peak_memory(args, k) for k in (100, 5000)} if cpu else {}
    if cpu:
        print(f"  with glibc's default caching of freed memory: K=100 {cached[100]:.1f} MB, "
              f"K=5000 {cached[5000]:.1f} MB")
    print(json.dumps({
        "device": str(device), "n": x.shape[0], "K": args.K,
        "pyrovae_s": round(t_ours, 3), "importance_s_scaled": round(t_imp_scaled, 1),
        "floor_s": round(t_floor, 3), "speedup_vs_importance": round(t_imp_scaled / t_ours, 1),
        "ratio_vs_floor": round(t_ours / t_floor, 3),
        "mean_log_px": round(float(value.mean()), 3), "mean_log_px_floor": round(float(floor.mean()), 3),
        "agree_within_4se": round(float(within), 3),
        "peak_mb_k100": round(mem[100], 1), "peak_mb_k5000": round(mem[5000], 1),
        **({"peak_mb_glibc_cache_k100": round(cached[100], 1),
            "peak_mb_glibc_cache_k5000": round(cached[5000], 1)} if cpu else {}),
    }))


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("bench_log_px", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
