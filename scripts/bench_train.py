"""Training speed of pyrovae against a hand-written PyTorch VAE loop with identical networks.

Both train the same MLP VAE (784-500-500-50 encoder and 50-500-500-784 decoder, tanh, Bernoulli
likelihood, diagonal-Normal encoder) by the one-sample Monte-Carlo ELBO with the same optimizer
(pyrovae's ``adam``), on the same batches of binary 784-pixel data, starting from the same
weights. pyrovae runs its own training step (``pyrovae.train.step.sgd_step`` on an
``Objective``: the model and guide are Pyro programs and the loss is Pyro's ELBO); the
hand-written loop computes the same estimator with plain tensor code. The two run alternately in
one process, ``--rounds`` times per batch size; ratio = median pyrovae time / median PyTorch
time. pyrovae's time includes the comparison of the replay with the Pyro program that the
training loop makes once per epoch (``reverify()`` of :func:`pyrovae.train.fast.trace_elbo`'s
ELBO), once every ``--epoch-size`` samples (default 50,000: an epoch of binarized MNIST). The
last line is one JSON object.

    python scripts/bench_train.py [--batch-sizes 20,100,1000] [--device cpu] \\
        [--pyro-trace-elbo | --no-replay]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import pyro
import torch
import torch.nn.functional as F

from pyrovae.base.boundary import run_main
from pyrovae.config import TrainConfig
from pyrovae.data import DataInfo
from pyrovae.registry import get_guide, get_model
from pyrovae.train.objective import Objective, make_elbo
from pyrovae.train.optim import make_optimizer
from pyrovae.train.step import sgd_step

HIDDEN = [500, 500]
LATENT = 50


def build(device):
    info = DataInfo((1, 28, 28), binary=True)
    model = get_model("vae").factory(info, latent_dim=LATENT, hidden=HIDDEN, likelihood="bernoulli")
    guide = get_guide("mlp_normal").factory(model, info, hidden=HIDDEN)
    return model.to(device), guide.to(device)


def torch_loss(decoder, encoder, x: torch.Tensor, scale: float) -> torch.Tensor:
    """Minus the one-sample ELBO :math:`\\log p(x|z) + \\log p(z) - \\log q(z|x)`, summed over the
    batch and times ``scale``: what ``Trace_ELBO`` computes, written by hand."""
    flat = x.flatten(1)
    loc, raw = encoder(flat).split(LATENT, -1)
    sd = F.softplus(raw) + 1e-5
    eps = torch.randn_like(loc)
    z = loc + sd * eps
    log_q = (-0.5 * eps**2 - sd.log()).sum(-1)
    log_p = (-0.5 * z**2).sum(-1)
    log_lik = -F.binary_cross_entropy_with_logits(decoder(z), flat, reduction="none").sum(-1)
    return -(log_lik + log_p - log_q).sum() * scale


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, batches, device) -> float:
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    sync(device)
    return time.perf_counter() - start


def bench(batch_size: int, device, steps: int, rounds: int, data: torch.Tensor,
          pyro_trace_elbo: bool = False, replay: bool = True, epoch_size: int = 50000) -> dict:
    pyro.set_rng_seed(0)
    model, guide = build(device)
    elbo = pyro.infer.Trace_ELBO() if pyro_trace_elbo else make_elbo("trace_elbo", replay=replay)
    objective = Objective(model, guide, elbo)
    ref_model, ref_guide = build(device)
    ref_model.load_state_dict(model.state_dict())
    ref_guide.load_state_dict(guide.state_dict())
    # the same networks as plain modules: flat x -> (loc, raw scale), z -> logits
    encoder = torch.nn.Sequential(ref_guide.encoder.trunk, ref_guide.encoder.head.linear)
    decoder = ref_model.decoder
    opt = make_optimizer(objective.parameters(), TrainConfig())
    ref_opt = make_optimizer([*decoder.parameters(), *encoder.parameters()], TrainConfig())
    n = data.shape[0]
    scale = n / batch_size

    def pyrovae_step(batch):
        sgd_step(objective, opt, (batch,), scale=scale)

    seen = {"samples": 0}

    def pyrovae_epoch(batch):
        if seen["samples"] // epoch_size != (seen["samples"] + len(batch)) // epoch_size \
                and hasattr(elbo, "reverify"):
            elbo.reverify()  # the check the training loop makes at the start of each epoch
        seen["samples"] += len(batch)
        pyrovae_step(batch)

    def torch_step(batch):
        loss = torch_loss(decoder, encoder, batch, scale)
        ref_opt.zero_grad(set_to_none=True)
        loss.backward()
        ref_opt.step()

    batches = [data[torch.randint(n, (batch_size,), device=device)] for _ in range(steps)]
    for step in (pyrovae_step, torch_step):  # warm-up
        time_steps(step, batches[:5], device)
    times = {"pyrovae": [], "torch": []}
    for _ in range(rounds):
        times["pyrovae"].append(time_steps(pyrovae_epoch, batches, device))
        times["torch"].append(time_steps(torch_step, batches, device))
    t_pyro, t_torch = statistics.median(times["pyrovae"]), statistics.median(times["torch"])
    return {
        "pyrovae_samples_per_s": round(steps * batch_size / t_pyro, 1),
        "torch_samples_per_s": round(steps * batch_size / t_torch, 1),
        "ratio": round(t_pyro / t_torch, 3),
        "ratio_min_max": [round(min(p / t for p, t in zip(times["pyrovae"], times["torch"])), 3),
                          round(max(p / t for p, t in zip(times["pyrovae"], times["torch"])), 3)],
    }


def _main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="20,100,1000")
    parser.add_argument("--device", action="append",
                        help="cpu and/or cuda (repeatable; default: cpu, and cuda when present)")
    parser.add_argument("--samples", type=int, default=20000,
                        help="data points per timed round (steps = samples / batch size)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epoch-size", type=int, default=50000,
                        help="samples per epoch: pyrovae re-checks its replay once per epoch")
    parser.add_argument("--pyro-trace-elbo", action="store_true",
                        help="time Pyro's own Trace_ELBO instead of pyrovae's lean one")
    parser.add_argument("--no-replay", action="store_true",
                        help="run pyrovae's lean ELBO without recording and replaying steps")
    args = parser.parse_args(argv)
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {}
    for name in devices:
        device = torch.device(name)
        gen = torch.Generator().manual_seed(0)
        data = torch.bernoulli(torch.full((10000, 1, 28, 28), 0.13), generator=gen).to(device)
        results[name] = {}
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            steps = max(10, math.ceil(args.samples / bs))
            r = bench(bs, device, steps, args.rounds, data, args.pyro_trace_elbo,
                      not args.no_replay, args.epoch_size)
            results[name][str(bs)] = r
            print(f"{name:5s} batch {bs:5d}: pyrovae {r['pyrovae_samples_per_s']:10.1f} samples/s, "
                  f"PyTorch {r['torch_samples_per_s']:10.1f} samples/s, ratio {r['ratio']:.3f} "
                  f"(rounds {r['ratio_min_max'][0]:.3f}..{r['ratio_min_max'][1]:.3f})", flush=True)
    elbo = ("pyro Trace_ELBO" if args.pyro_trace_elbo
            else "pyrovae trace_elbo" + (" (no replay)" if args.no_replay else ""))
    print(json.dumps({"elbo": elbo, "threads": torch.get_num_threads(), **results}))


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("bench_train", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
