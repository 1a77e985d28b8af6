"""log p(x) and the IWAE bound of a trained run against the number of importance samples K.

For each K in ``--ks``: the IWAE-K bound :math:`\\mathbb E[\\log \\frac1K \\sum_{k=1}^K w_k]`,
estimated from one evaluation with the largest K (the average over its disjoint groups of K
samples: ``estimator = iwae``), and the importance-sampled estimate of log p(x) with K samples
from an evaluation of its own (``estimator = is_log_px``), whose expectation is that bound; plus
the ELBO. Rows have the columns of ``pyrovae evaluate`` (docs/guide/csv_schema.md); the
plot shows both curves.

    python scripts/k_convergence.py runs/bmnist100 --data-dir ../shared/data --limit 500

writes ``RUN_DIR/k_convergence.csv`` (which ``pyrovae plot`` then uses) and
``RUN_DIR/log_px_vs_k.png``. Evaluated points are spread evenly over the split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from pyrovae import evaluation, results, run
from pyrovae.base import io
from pyrovae.base.boundary import run_main
from pyrovae.base.errors import PyrovaeError
from pyrovae.plots.curves import save_log_px_vs_k
from pyrovae.plots.figure import is_figure

DEFAULT_KS = "1,2,5,10,20,50,100,200,500,1000,2000,5000"


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",")})
    except ValueError:
        raise PyrovaeError(f"--ks '{text}' is not a comma-separated list of whole numbers, "
                           f"e.g. --ks 1,10,100.") from None
    if ks[0] < 1:
        raise PyrovaeError(f"--ks must be >= 1, got {ks[0]}.")
    return ks


def k_convergence(built, run_name: str, ks: list[int], *, split: str = "test",
                  limit: int | None = None, seed: int = 0, batch_size: int = 100,
                  log=print) -> pd.DataFrame:
    """Summary rows: the evaluation with ``max(ks)`` samples (is_log_px, iwae for every k,
    elbo), then ``is_log_px`` from an evaluation with each smaller K (same ``seed``)."""
    frames = []
    for k in sorted(ks, reverse=True):
        start = time.perf_counter()
        summary, _ = evaluation.evaluate(built, run_name, split=split, num_samples=k,
                                       ks=ks if k == max(ks) else [k], seed=seed,
                                       batch_size=batch_size, limit=limit, quiet=True)
        frames.append(summary if k == max(ks) else summary[summary["estimator"] == "is_log_px"])
        log(f"K={k}: log p(x) estimate {summary['mean'].iloc[0]:.3f} "
            f"({time.perf_counter() - start:.1f}s)")
    return pd.concat(frames, ignore_index=True)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="run directory written by 'pyrovae train' or a sweep")
    parser.add_argument("--ks", default=DEFAULT_KS, help=f"values of K (default {DEFAULT_KS})")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, help="evaluate N points spread over the split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--out", help="CSV to write (default RUN_DIR/k_convergence.csv)")
    parser.add_argument("--plot", help="PNG to write (default RUN_DIR/log_px_vs_k.png)")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    out = Path(args.out or run_dir / "k_convergence.csv")
    plot = Path(args.plot or run_dir / "log_px_vs_k.png")
    ks = parse_ks(args.ks)
    io.check_output(out, "--out", ours=lambda path: (results.header(path) or [])[:1] == ["run"])
    io.check_output(plot, "--plot", ours=is_figure)
    built = run.load(run_dir, data_dir=args.data_dir, device=args.device)
    rows = k_convergence(built, str(run_dir), ks, split=args.split, limit=args.limit,
                         seed=args.seed, batch_size=args.batch_size)
    io.write_csv(rows, out)
    save_log_px_vs_k(rows, plot, f"log p(x) versus K, {args.split} split, {rows['n'].iloc[0]} points")
    print(rows[["estimator", "K", "mean", "stderr_of_mean"]].to_string(index=False))
    print(f"wrote:\n  {out}\n  {plot}")
    return 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("k_convergence", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
