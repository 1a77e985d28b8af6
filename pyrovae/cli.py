"""The ``pyrovae`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pyrovae.base.boundary import run_main
from pyrovae.base.errors import ConfigError
from pyrovae.base.options import NonNegativeInt, check


def _train(args) -> int:
    from pyrovae import run
    from pyrovae.train import distributed

    cfg = run.resolve_config(args.config, args.set, args.resume)
    if args.resume:
        out = Path(args.resume)
    elif args.out:
        out = Path(args.out)
    elif distributed.launched():
        raise ConfigError("under torchrun every process must write to one run directory: give "
                          "--out RUN_DIR.")
    else:
        out = Path("runs") / f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    start = time.perf_counter()
    result = run.train(cfg, out, resume=bool(args.resume), quiet=args.quiet,
                       data_dir=args.data_dir, device=args.device)
    if not distributed.current().main:
        return 0
    state = result.state
    print(f"trained {state.epoch} epochs in {time.perf_counter() - start:.1f}s on "
          f"{result.device}; best valid ELBO {state.best_valid_elbo:.3f} per data point "
          f"(epoch {state.best_epoch})" + ("; stopped early" if state.stopped_early else ""))
    print("wrote:")
    for path in result.paths:
        print(f"  {path}")
    return 0


def _ks(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(k) for k in text.split(",")]
    except ValueError:
        raise ConfigError(f"--ks '{text}' is not a comma-separated list of integers, "
                          f"e.g. --ks 1,10,100.") from None


def _check_outputs(outputs: dict[str, str], read: dict[str, str] | None = None,
                   ours: dict | None = None) -> None:
    """Refuse, before any work, output paths that name one file (each other's or an input's)
    or that the output policy refuses (:func:`pyrovae.base.io.check_output`).

    :param outputs: option -> path of each file the command writes.
    :param read: option -> path of each file the command reads.
    :param ours: option -> whether an existing file at its path may be written over (default:
        none may).
    """
    from pyrovae.base import io

    given = [(option, path) for option, path in {**(read or {}), **outputs}.items() if path]
    for i, (option, path) in enumerate(given):
        for other, other_path in given[:i]:
            if io.same_file(path, other_path):
                raise ConfigError(f"{option} {path} is the file of {other} ({other_path}); "
                                  f"writing it would replace that file. Give another path.")
    for option, path in outputs.items():
        if path:
            io.check_output(path, option, ours=(ours or {}).get(option))


def _evaluate(args) -> int:
    import pandas as pd

    from pyrovae import evaluation, factor_scores, results, run
    from pyrovae.base import io
    from pyrovae.train import distributed

    annealing = {key: value for key, value in (("chains", args.chains), ("steps", args.steps),
                 ("leapfrog", args.leapfrog), ("step_size", args.step_size)) if value is not None}
    if annealing and args.estimator == "is":
        given = ", ".join(f"--{name.replace('_', '-')}" for name in annealing)
        raise ConfigError(f"{given} set(s) annealed importance sampling, which --estimator is "
                          f"does not run: add --estimator ais (or bdmc), or leave {given} out.")
    settings = evaluation.EvalSettings.checked(
        num_samples=args.num_samples, ks=_ks(args.ks), seed=args.seed,
        batch_size=args.batch_size, limit=args.limit, estimator=args.estimator, **annealing)
    metrics = factor_scores.check_metrics(args.metrics.split(",")) if args.metrics else ()
    _check_outputs({"--out": args.out, "--per-datapoint": args.per_datapoint},
                   ours={"--out": lambda path: True, "--per-datapoint": results.is_per_point})
    results.check_appendable(args.out, results.SUMMARY_COLUMNS)
    built = run.load(args.run_dir, data_dir=args.data_dir, device=args.device, weights=args.weights)
    if metrics:
        factor_scores.check_factors(built)
    world = distributed.join(built.device)
    summary, per_point = evaluation.evaluate(built, str(args.run_dir), split=args.split,
                                             settings=settings, quiet=args.quiet)
    if not world.main:  # under torchrun every rank holds all rows; rank 0 writes them
        return 0
    if metrics:
        rows = factor_scores.disentanglement_rows(built, str(args.run_dir), split=args.split,
                                                  seed=args.seed, limit=args.limit,
                                                  batch_size=args.batch_size)
        summary = pd.concat([summary, rows], ignore_index=True)
    results.append_rows(args.out, summary)
    written = [args.out]
    if args.per_datapoint:
        io.write_csv(per_point, args.per_datapoint)
        written.append(args.per_datapoint)
    shown = ["estimator", "K"] + (["steps"] if args.estimator != "is" else [])
    print(summary[[*shown, "n", "mean", "stderr_of_mean"]].to_string(index=False))
    print("wrote:")
    for path in written:
        print(f"  {path}")
    return 0


def _sweep(args) -> int:
    from pyrovae.sweep import load_plan, run_sweep

    plan = load_plan(args.sweep, out=args.out, runs_dir=args.runs_dir)
    report = run_sweep(plan, jobs=args.jobs, data_dir=args.data_dir, device=args.device,
                       dry_run=args.dry_run, executor=args.executor)
    if args.dry_run:
        return 0
    print(f"{report['ran']} points run, {report['rows']} rows appended to {plan.out}; "
          f"{report['complete']} points were already there")
    if report["failed"]:
        print(f"pyrovae sweep: {len(report['failed'])} points failed (listed above); the rows of "
              f"the others are in {plan.out}. Fix the cause and run the sweep again: it runs only "
              f"the points still missing.", file=sys.stderr)
        return 1
    return 0


def _report(args) -> int:
    from pyrovae import report
    from pyrovae.base import io

    check("--digits", args.digits, NonNegativeInt)
    by = [c.strip() for c in args.by.split(",") if c.strip()] if args.by else None
    md = Path(args.md) if args.md else Path(args.results).with_suffix(".md")
    if (args.readme is None) != (args.block is None):
        raise ConfigError("--readme and --block go together: the file and the name of its "
                          "'<!-- report:NAME -->' block to rewrite.")
    _check_outputs({"--md": md}, read={"RESULTS": args.results}, ours={"--md": report.is_report})
    if args.readme:
        _check_outputs({"--readme": args.readme}, read={"RESULTS": args.results, "--md": md},
                       ours={"--readme": lambda path: True})
        io.check_block(args.readme, f"report:{args.block}", "--readme")
    table = report.read_results(args.results)
    notes = []
    if args.columns:
        columns = report.parse_columns(report.TRADEOFF_COLUMNS if args.columns == "default"
                                       else args.columns)
        wide = report.tradeoff(table, by or ["train.beta"], columns, where=args.where)
        notes = wide.attrs.get("notes", [])
        text = report.tradeoff_markdown(wide, columns, args.digits)
        what = "Mean ± standard error across seeds in"
        rows = f", one row per {', '.join(by or ['train.beta'])}"
    else:
        summary, notes = report.summarize(table, by=by, value=args.value, where=args.where)
        text = report.markdown(summary, digits=args.digits, fixed=["mean", "stderr"])
        what, rows = f"Mean and standard error across seeds of `{args.value}` in", ""
    seed = f" ({report.seed_column(table)} is the seed)."
    io.write_text(md, f"{what} {args.results}{rows}{seed}\n\n{text}")
    if args.readme:  # the file's name only: a README is read on other machines
        io.write_block(args.readme, f"report:{args.block}",
                       f"{what} {Path(args.results).name}{rows}{seed}\n\n{text}")
    for note in notes:
        print(f"note: {note}")
    print(text, end="")
    print(f"wrote: {md}" + (f" and the '{args.block}' block of {args.readme}" if args.readme
                            else ""))
    return 0


def _plot(args) -> int:
    from pyrovae import report
    from pyrovae.plots import plot_run, plot_sweep
    from pyrovae.plots.figure import is_figure

    if Path(args.run_dir).suffix == ".csv":
        _check_outputs({"--out": args.out}, read={"RESULTS.csv": args.run_dir},
                       ours={"--out": is_figure})
        columns = report.TRADEOFF_COLUMNS if args.columns in (None, "default") else args.columns
        path, _ = plot_sweep(args.run_dir, by=args.by, columns=columns, out=args.out)
        print(f"wrote:\n  {path}")
        return 0
    paths, notes = plot_run(args.run_dir, split=args.split, data_dir=args.data_dir,
                            device=args.device, seed=args.seed, num_points=args.points)
    for note in notes:
        print(f"note: {note}")
    print("wrote:")
    for path in paths:
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

    p = sub.add_parser("evaluate", help="estimate log p(x) of a trained run; append rows to a CSV")
    p.add_argument("run_dir", help="run directory written by 'pyrovae train'")
    p.add_argument("--split", default="test", help="data split to evaluate (default test)")
    p.add_argument("--weights", default="best", choices=["best", "last"],
                   help="the trained values to score: best (the epoch with the best validation "
                        "ELBO, default) or last (the last epoch trained)")
    p.add_argument("--num-samples", type=int, default=5000,
                   help="K, importance samples per data point (default 5000)")
    p.add_argument("--ks", help="IWAE bounds to report from the same samples, e.g. 1,10,100 "
                                "(default: 1,10,100,1000,5000 up to K)")
    p.add_argument("--estimator", default="is", choices=["is", "ais", "bdmc"],
                   help="is: importance sampling rows (default); ais: also annealed importance "
                        "sampling (row ais_log_px); bdmc: also AIS and BDMC bounds on data "
                        "simulated from the model (rows bdmc_lower, bdmc_upper)")
    p.add_argument("--chains", type=int, help="AIS chains per data point (default 16)")
    p.add_argument("--steps", type=int, help="AIS annealing steps (default 100)")
    p.add_argument("--leapfrog", type=int, help="leapfrog steps per HMC transition (default 10)")
    p.add_argument("--step-size", type=float,
                   help="initial HMC step size, adapted per data point (default 0.05)")
    p.add_argument("--metrics", help="also score the latent space on a dataset with known "
                                     "factors: disentanglement (MIG, beta-VAE, FactorVAE, DCI, "
                                     "SAP; one row each)")
    p.add_argument("--out", default="results.csv", help="CSV file the rows are appended to")
    p.add_argument("--per-datapoint", metavar="FILE", help="also write one row per data point")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    p.add_argument("--limit", type=int, help="evaluate only N data points, spread evenly over the split")
    p.add_argument("--batch-size", type=int, default=100, help="data points per estimator call")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="data directory (default $PYROVAE_DATA_DIR, else ./data)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("sweep", help="train and evaluate a grid of configs and seeds into one CSV")
    p.add_argument("sweep", help="sweep file (.toml): base config, [grid], [zip], seeds, [evaluate]")
    p.add_argument("--jobs", type=int, default=1, help="points run at once, each in its own process")
    p.add_argument("--executor", choices=["local", "slurm"],
                   help="run each point as a submitit job (pip install 'pyrovae[slurm]'): local "
                        "subprocesses, or SLURM jobs with the sweep file's [executor] resources")
    p.add_argument("--out", help="CSV to append to (default: the sweep file's out)")
    p.add_argument("--runs-dir", help="where run directories go (default: the sweep file's runs_dir)")
    p.add_argument("--dry-run", action="store_true", help="list the points still to run, run none")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="data directory (default $PYROVAE_DATA_DIR, else ./data)")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("report", help="mean and standard error across seeds of a results CSV")
    p.add_argument("results", help="CSV written by 'pyrovae sweep' or 'pyrovae evaluate'")
    p.add_argument("--by", help="columns to group by, e.g. model,K (split and estimator are "
                                "always added); default: model, swept keys, split, estimator, K")
    p.add_argument("--value", default="mean", help="column to summarize (default mean)")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                   help="keep only rows where COLUMN equals VALUE (repeatable)")
    p.add_argument("--md", help="Markdown file to write (default: RESULTS with suffix .md)")
    p.add_argument("--digits", type=int, default=2, help="decimals in the table (default 2)")
    p.add_argument("--columns", help="one row per --by value (default train.beta) and a column "
                                     "per LABEL=ESTIMATOR[:VALUE], e.g. \"log p(x)=is_log_px,"
                                     "KL=is_log_px:kl,MIG=mig\"; "
                                     "'default' for log p(x), KL, MIG and DCI")
    p.add_argument("--readme", help="Markdown file (e.g. README.md) whose block between "
                                    "'<!-- report:NAME -->' and '<!-- /report:NAME -->' to "
                                    "rewrite with the table; with --block NAME")
    p.add_argument("--block", metavar="NAME", help="the name of that block")
    p.set_defaults(func=_report)

    p = sub.add_parser("plot", help="write the figures of a trained run into its directory, or "
                                    "of a sweep's results CSV (metrics against a swept key)")
    p.add_argument("run_dir", metavar="RUN_DIR|RESULTS.csv",
                   help="run directory written by 'pyrovae train' or a sweep, or a results CSV")
    p.add_argument("--by", default="train.beta", help="results CSV: the x axis (default "
                                                      "train.beta)")
    p.add_argument("--columns", help="results CSV: LABEL=ESTIMATOR[:VALUE],... to draw "
                                     "(default: log p(x), KL, MIG, DCI)")
    p.add_argument("--out", help="results CSV: the figure (default beside the CSV)")
    p.add_argument("--split", default="test", help="data split the figures use (default test)")
    p.add_argument("--points", type=int, default=1000,
                   help="data points in the latent scatter (default 1000)")
    p.add_argument("--seed", type=int, help="seed of the figures' random draws (default: the "
                                            "run's seed)")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", help="data directory (default $PYROVAE_DATA_DIR, else ./data)")
    p.set_defaults(func=_plot)
    return parser


def _run(args) -> int:
    code = args.func(args)
    if "torch" in sys.modules:  # under torchrun: leave once every rank finished
        from pyrovae.train import distributed

        distributed.leave()
    return code


def main(argv: list[str] | None = None) -> int:
    """The ``pyrovae`` command: its exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    args = build_parser().parse_args(argv)
    return run_main(f"pyrovae {args.command}", lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
