"""The ``pyrovae`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pyrovae.errors import PyrovaeError


def _train(args) -> int:
    from pyrovae import run

    cfg = run.resolve_config(args.config, args.set, args.resume)
    if args.resume:
        out = Path(args.resume)
    elif args.out:
        out = Path(args.out)
    else:
        out = Path("runs") / f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    start = time.perf_counter()
    result = run.train(cfg, out, resume=bool(args.resume), quiet=args.quiet,
                       data_dir=args.data_dir, device=args.device)
    state = result["state"]
    print(f"trained {state.epoch} epochs in {time.perf_counter() - start:.1f}s on "
          f"{result['built'].device}; best valid ELBO {state.best_valid_elbo:.3f} per data point "
          f"(epoch {state.best_epoch})" + ("; stopped early" if state.stopped_early else ""))
    print("wrote:")
    for path in result["paths"]:
        print(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrovae", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model/guide pair from a TOML config")
    p.add_argument("config", nargs="?", help="config file (.toml); optional with --resume")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=3e-4 (repeatable)")
    p.add_argument("--out", help="run directory to write (default runs/<config>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="data directory (default $PYROVAE_DATA_DIR, else ./data)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PyrovaeError as e:
        print(f"pyrovae {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
