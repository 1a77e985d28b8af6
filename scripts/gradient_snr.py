"""Signal-to-noise ratio of the encoder's and the decoder's gradients of a trained run, for the
reparameterized IWAE gradient, sticking the landing and DReG, against the number of particles K.

For each estimator and K, the gradient of the objective on one fixed batch of ``--points``
training points is drawn ``--draws`` times, with fresh particles each time. Per parameter
element, :math:`\\mathrm{SNR} = |\\mathbb E[\\Delta]| / \\sigma[\\Delta]` over the draws
(Rainforth et al. 2018, "Tighter variational bounds are not necessarily better"). Each group is
summarized by the mean SNR over its elements (elements whose gradient never varies are left
out): the encoder is the guide's parameters (those its sampled values reach), the decoder the
others. The estimators
(:mod:`pyrovae.train.gradients`):

- ``iwae``: the reparameterized gradient of the IWAE-K bound (K = 1: the ELBO's);
- ``stl``: sticking the landing on the ELBO averaged over K particles;
- ``dreg``: the doubly reparameterized gradient of the IWAE-K bound.

Rainforth et al. show the IWAE encoder's SNR falling like 1/sqrt(K); DReG's does not.

    python scripts/gradient_snr.py runs/bmnist --data-dir ../shared/data --ks 1,10,100

writes ``RUN_DIR/gradient_snr.csv`` and ``RUN_DIR/gradient_snr.png``; the last line is one JSON
object, ``{"iwae": {"1": encoder SNR, ...}, "stl": ..., "dreg": ..., "decoder": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pyro
import torch
from pyro import poutine

from pyrovae import results, run
from pyrovae.base import io
from pyrovae.base.boundary import run_main
from pyrovae.base.errors import PyrovaeError
from pyrovae.base.nn import module_of
from pyrovae.plots.figure import is_figure, new_figure, save_figure
from pyrovae.train.gradients import DReGIWAE, StickingTheLandingELBO, guide_parameter_ids
from pyrovae.train.objective import DifferentiableRenyiELBO

ESTIMATORS = {"iwae": DifferentiableRenyiELBO, "stl": StickingTheLandingELBO, "dreg": DReGIWAE}
GROUPS = ("encoder", "decoder")


def parameter_groups(model, guide, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """The guide's parameters (encoder: those its sampled values reach on ``x``,
    :func:`~pyrovae.train.gradients.guide_parameter_ids`) and the others of the modules that
    hold the pair (decoder); a model and guide that are methods of one module split too."""
    with poutine.block():
        guide_ids = guide_parameter_ids(poutine.trace(guide).get_trace(x))
    params = {id(p): p for program in (guide, model) for p in module_of(program).parameters()
              if p.requires_grad}
    return {"encoder": [p for i, p in params.items() if i in guide_ids],
            "decoder": [p for i, p in params.items() if i not in guide_ids]}


def snr(draws: torch.Tensor) -> float:
    """Mean over elements of :math:`|\\bar\\Delta| / s_\\Delta` of ``draws`` ``[M, elements]``
    (unbiased standard deviation; elements with none left out)."""
    spread = draws.std(0)
    keep = spread > 0
    if not bool(keep.any()):
        return math.nan
    return float((draws.mean(0)[keep].abs() / spread[keep]).mean())


def gradient_snr(model, guide, x: torch.Tensor, ks, *, draws: int = 100,
                 estimators=tuple(ESTIMATORS)) -> pd.DataFrame:
    """Rows ``estimator, K, group, snr, draws, points``: the SNR of each group's gradient over
    ``draws`` draws on the batch ``x`` (the random streams as the caller seeded them)."""
    groups = parameter_groups(model, guide, x)
    rows = []
    for name in estimators:
        for k in ks:
            elbo = ESTIMATORS[name](alpha=0.0, num_particles=k, vectorize_particles=k > 1)
            drawn = {group: [] for group in GROUPS}
            for _ in range(draws):
                loss = elbo.differentiable_loss(model, guide, x)
                params = groups["encoder"] + groups["decoder"]
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                flat = [torch.zeros_like(p).flatten() if g is None else g.flatten()
                        for p, g in zip(params, grads)]
                split = len(groups["encoder"])
                drawn["encoder"].append(torch.cat(flat[:split]) if split else torch.zeros(0))
                drawn["decoder"].append(torch.cat(flat[split:]) if flat[split:] else
                                        torch.zeros(0))
            for group in GROUPS:
                rows.append({"estimator": name, "K": k, "group": group,
                             "snr": snr(torch.stack(drawn[group]).double()), "draws": draws,
                             "points": x.shape[0]})
    return pd.DataFrame(rows)


def save_plot(rows: pd.DataFrame, path: Path, title: str) -> Path:
    """SNR against K (log-log), one panel per group, one line per estimator."""
    fig = new_figure(9.0, 3.8)
    axes = fig.subplots(1, 2)
    for ax, group in zip(axes, GROUPS):
        part = rows[rows["group"] == group]
        for name, line in part.groupby("estimator", sort=False):
            ax.plot(line["K"], line["snr"], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("K (particles)")
        ax.set_ylabel(f"{group} gradient SNR")
        ax.set_title(group)
        ax.legend()
    fig.suptitle(title)
    return save_figure(fig, path)


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",")})
    except ValueError:
        raise PyrovaeError(f"--ks '{text}' is not a comma-separated list of whole numbers, "
                           f"e.g. --ks 1,10,100.") from None
    if ks[0] < 1:
        raise PyrovaeError(f"--ks must be >= 1, got {ks[0]}.")
    return ks


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="run directory written by 'pyrovae train' or a sweep")
    parser.add_argument("--ks", default="1,10,100", help="values of K (default 1,10,100)")
    parser.add_argument("--points", type=int, default=20,
                        help="training points in the fixed batch (default 20)")
    parser.add_argument("--draws", type=int, default=100,
                        help="gradient draws per estimator and K (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    parser.add_argument("--out", help="CSV to write (default RUN_DIR/gradient_snr.csv)")
    parser.add_argument("--plot", help="PNG to write (default RUN_DIR/gradient_snr.png)")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    ks = parse_ks(args.ks)
    for option in ("points", "draws"):
        if getattr(args, option) < 2:
            raise PyrovaeError(f"--{option} must be at least 2, got {getattr(args, option)}.")
    run_dir = Path(args.run_dir)
    out = Path(args.out or run_dir / "gradient_snr.csv")
    plot = Path(args.plot or run_dir / "gradient_snr.png")
    io.check_output(out, "--out", ours=lambda path: (results.header(path) or [])[:1] == ["run"])
    io.check_output(plot, "--plot", ours=is_figure)
    built = run.load(run_dir, data_dir=args.data_dir, device=args.device)
    train = built.data.split("train")
    x = train[torch.linspace(0, train.shape[0] - 1, args.points).long()].to(built.device)
    pyro.set_rng_seed(args.seed)
    rows = gradient_snr(built.model, built.guide, x, ks, draws=args.draws)
    rows.insert(0, "run", str(run_dir))
    rows["seed"] = args.seed
    io.write_csv(rows, out)
    save_plot(rows, plot, f"gradient SNR, {args.points} training points, {args.draws} draws")
    print(rows[["estimator", "K", "group", "snr"]].to_string(index=False))
    print(f"wrote:\n  {out}\n  {plot}")
    summary = {name: {str(r.K): round(r.snr, 5) for r in part.itertuples()}
               for name, part in rows[rows["group"] == "encoder"].groupby("estimator",
                                                                           sort=False)}
    summary["decoder"] = {name: {str(r.K): round(r.snr, 5) for r in part.itertuples()}
                          for name, part in rows[rows["group"] == "decoder"].groupby(
                              "estimator", sort=False)}
    print(json.dumps(summary))
    return 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("gradient_snr", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
