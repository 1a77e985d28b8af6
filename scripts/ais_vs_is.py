"""log p(x) of a trained run by importance sampling and by annealed importance sampling (AIS),
against compute, and the BDMC gap of AIS on data simulated from the model.

On ``--limit`` points of the split (spread evenly): importance sampling with ``--is-k`` samples
(and the IWAE bounds of smaller K from the same samples), then AIS with each of ``--steps``, with
wall times; then BDMC with each of ``--bdmc-steps`` on ``--bdmc-points`` simulated points. Writes
a figure (estimate against model evaluations per point, an AIS evaluation with its gradient
counted as one, like a forward-only IS evaluation; BDMC gap against steps) to ``--out``; the last
line printed is one JSON object with every number. Every BDMC row simulates the same points.

    python scripts/ais_vs_is.py runs/bmnist --data-dir ../shared/data --limit 200 --out ais.png
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time

import pyro
import torch

from pyrovae import run
from pyrovae.base import io
from pyrovae.base.boundary import run_main
from pyrovae.base.errors import PyrovaeError
from pyrovae.infer import ais, bdmc, log_px
from pyrovae.plots.figure import is_figure


def parse_steps(text: str, option: str) -> list[int]:
    try:
        steps = sorted({int(s) for s in text.split(",")})
    except ValueError:
        raise PyrovaeError(f"{option} '{text}' is not a comma-separated list of whole numbers, "
                           f"e.g. {option} 100,1000.") from None
    if steps[0] < 1:
        raise PyrovaeError(f"{option} must be >= 1, got {steps[0]}.")
    return steps


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    values = values.double()
    return float(values.mean()), float(values.std() / math.sqrt(values.numel()))


def split_data(built, split: str, limit: int | None, seed: int) -> torch.Tensor:
    data, _ = built.data.subset(split, limit)
    x = dataclasses.replace(built, data=data).tensors(split, marginal=True)[0]
    if built.data.dynamic_binarize:
        x = run.binarized_once(x, seed)
    return x.to(built.device)


def compare(model, guide, x, *, is_k, steps, bdmc_steps, bdmc_points, chains, leapfrog,
            step_size, batch_size, seed, log=print) -> dict:
    """Every number of the benchmark, as the JSON object it prints."""
    evaluations = lambda t: chains * ais.evaluations(t, leapfrog)
    pyro.set_rng_seed(seed)
    start = time.perf_counter()
    ks = [k for k in (1, 10, 100, 1000, 10000, 100000) if k < is_k] + [is_k]
    sampled = log_px(model, guide, x, num_samples=is_k, ks=ks, batch_size=batch_size)
    seconds = time.perf_counter() - start
    value, stderr = mean_and_stderr(sampled.value)
    out = {"points": x.shape[0], "chains": chains, "leapfrog": leapfrog,
           "is": {"K": is_k, "log_px": value, "stderr_of_mean": stderr, "seconds": seconds,
                  "iwae": {str(k): float(sampled.iwae[k].mean()) for k in ks},
                  "khat_above_0.7": float((sampled.khat > 0.7).double().mean())},
           "ais": [], "bdmc": []}
    log(f"IS, K={is_k}: {value:.3f} +- {stderr:.3f} ({seconds:.1f}s)")
    for t in steps:
        start = time.perf_counter()
        annealed = log_px(model, guide, x, method="ais", num_samples=chains, steps=t,
                          leapfrog=leapfrog, step_size=step_size, batch_size=batch_size)
        seconds = time.perf_counter() - start
        value, stderr = mean_and_stderr(annealed.value)
        diff, diff_stderr = mean_and_stderr(annealed.value - sampled.value)
        out["ais"].append({"steps": t, "log_px": value, "stderr_of_mean": stderr,
                           "minus_is": diff, "minus_is_stderr": diff_stderr,
                           "mean_point_stderr": float(annealed.stderr.mean()),
                           "acceptance": float(annealed.acceptance.mean()),
                           "evaluations_per_point": evaluations(t), "seconds": seconds})
        log(f"AIS, {t} steps: {value:.3f} +- {stderr:.3f}, {diff:+.3f} +- {diff_stderr:.3f} "
            f"over IS ({seconds:.1f}s)")
    for t in bdmc_steps:
        pyro.set_rng_seed(seed)  # every row simulates the same points
        start = time.perf_counter()
        bounds = bdmc(model, guide, bdmc_points, num_chains=chains, steps=t, leapfrog=leapfrog,
                      step_size=step_size, batch_size=batch_size)
        seconds = time.perf_counter() - start
        row = {"steps": t, "points": bdmc_points, "lower": float(bounds.lower.mean()),
               "upper": float(bounds.upper.mean()), "gap": bounds.mean_gap,
               "gap_stderr": mean_and_stderr(bounds.gap)[1], "seconds": seconds}
        out["bdmc"].append(row)
        log(f"BDMC, {t} steps: [{row['lower']:.3f}, {row['upper']:.3f}], gap {row['gap']:.3f} "
            f"({seconds:.1f}s)")
    return out


def plot(result: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    iwae = result["is"]["iwae"]
    left.plot([int(k) for k in iwae], list(iwae.values()), "o-", label="IS (IWAE-K bound)")
    left.plot([a["evaluations_per_point"] for a in result["ais"]],
              [a["log_px"] for a in result["ais"]], "s-", label=f"AIS, {result['chains']} chains")
    for a in result["ais"]:
        left.annotate(f"T={a['steps']}", (a["evaluations_per_point"], a["log_px"]),
                      textcoords="offset points", xytext=(4, -10), fontsize=8)
    left.set(xscale="log",
             xlabel="model evaluations per point (AIS's with gradients, its pilot included)",
             ylabel="mean log p(x) estimate (nats)", title=f"{result['points']} test points")
    left.legend()
    if result["bdmc"]:
        steps = [b["steps"] for b in result["bdmc"]]
        right.errorbar(steps, [b["gap"] for b in result["bdmc"]],
                       yerr=[b["gap_stderr"] for b in result["bdmc"]], fmt="o-")
        right.axhline(0, color="grey", lw=0.8)
        right.set(xscale="log", xlabel="annealing steps", ylabel="upper - lower (nats)",
                  title=f"BDMC gap, {result['bdmc'][0]['points']} simulated points")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:  # a crash leaves the previous figure whole
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="run directory written by 'pyrovae train'")
    parser.add_argument("--out", default="ais_vs_is.png", help="figure to write (PNG)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=200, help="points, spread over the split")
    parser.add_argument("--is-k", type=int, default=5000, help="importance samples per point")
    parser.add_argument("--steps", default="100,1000", help="AIS annealing steps to compare")
    parser.add_argument("--bdmc-steps", default="10,100,1000", help="BDMC steps ('' for none)")
    parser.add_argument("--bdmc-points", type=int, default=50, help="simulated points")
    parser.add_argument("--chains", type=int, default=4, help="AIS chains per point")
    parser.add_argument("--leapfrog", type=int, default=5, help="leapfrog steps per transition")
    parser.add_argument("--step-size", type=float, default=0.05, help="pilot's first step size")
    parser.add_argument("--batch-size", type=int, help="data points per tile")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    steps = parse_steps(args.steps, "--steps")
    io.check_output(args.out, "--out", ours=is_figure)
    bdmc_steps = parse_steps(args.bdmc_steps, "--bdmc-steps") if args.bdmc_steps else []
    built = run.load(args.run_dir, data_dir=args.data_dir, device=args.device)
    x = split_data(built, args.split, args.limit, args.seed)
    log = lambda line: print(line, file=sys.stderr, flush=True)
    result = compare(built.model, built.guide, x, is_k=args.is_k, steps=steps,
                     bdmc_steps=bdmc_steps, bdmc_points=args.bdmc_points,
                     chains=args.chains, leapfrog=args.leapfrog, step_size=args.step_size,
                     batch_size=args.batch_size, seed=args.seed, log=log)
    plot(result, args.out)
    result = {"run": str(args.run_dir), "split": args.split, "device": str(x.device),
              "figure": str(args.out), **result}
    print(json.dumps(result))
    return 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("ais_vs_is", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
