"""Reproduce published log-likelihoods on statically binarized MNIST with the papers' networks
and protocols (``configs/papers/``), and print them beside the papers.

Each row of a table is one config of ``configs/papers/`` that names its source table and
protocol; the script trains it as a sweep point (:mod:`pyrovae.sweep`: a finished run is
reused, an interrupted one resumed, rows already in the CSV kept), scores the weights of the
best validation ELBO by importance sampling with K = 5000 on the test split, and writes the
sweep CSV and a Markdown table: ours (mean, standard error, epochs, wall time, device) beside the
published negative log-likelihood and the gap.

    python scripts/reproduce.py --table vampprior --data-dir ../shared/data
    python scripts/reproduce.py --table iwae_static --budget 0.1 --readme README.md
    python scripts/reproduce.py --summary    # one JSON line per finished row

``--budget F`` shortens every schedule to a fraction F of the published one, in a stated way:
the epochs, each stage of a staged learning-rate schedule, the KL warm-up and the
early-stopping patience are multiplied by F (at least one epoch each, and a patience of at
least 5); the networks, objectives, optimizers and batch sizes stay the papers'. ``--readme``
rewrites the table between the README's markers ``<!-- reproduce:TABLE -->`` and
``<!-- /reproduce:TABLE -->``. The last line printed is one JSON object. ``--summary`` trains
nothing: it prints one JSON object per line for each finished row of the CSVs in ``--out`` (a row
that ran its published protocol to the end: budget 1, every test point the paper scored,
K = 5000); with ``--table`` and ``--readme`` it first rewrites that table (its Markdown file and
the README block) from the CSV as it stands, so a row finished elsewhere reaches the README
without running anything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pyrovae import config
from pyrovae.base import io
from pyrovae.base.boundary import run_main
from pyrovae.base.errors import PyrovaeError
from pyrovae.base.options import PositiveInt, check
from pyrovae.report import markdown
from pyrovae.sweep import make_plan, run_sweep

PAPERS = Path(__file__).resolve().parents[1] / "configs" / "papers"
BURDA = "Burda et al. (2016), App. D, Table 3"
TOMCZAK = "Tomczak & Welling (2018), Table 2"


@dataclass(frozen=True)
class Row:
    """A published number and the config that reproduces it.

    :param label: the row's name in the table.
    :param config: file name in ``configs/papers/``.
    :param published: the paper's negative test log-likelihood (nats).
    :param source: the paper and table.
    :param target: the negative log-likelihood we aim for.
    :param test_points: the test points the paper scored (a row is finished when trained at
        budget 1 and scored on these, with :data:`NUM_SAMPLES` particles).
    """

    label: str
    config: str
    published: float
    source: str
    target: float
    test_points: int = 10_000


TABLES = {
    "iwae_static": (
        Row("VAE 784-200-200-50 tanh, k = 1", "burda_vae_k1.toml", 88.71, BURDA, 89.2),
        Row("IWAE 784-200-200-50 tanh, k = 50", "burda_iwae_k50.toml", 87.10, BURDA, 87.6),
    ),
    "vampprior": (
        Row("VAE + VampPrior, gated 300, 40 latent", "tomczak_vampprior.toml", 85.57, TOMCZAK,
            86.0),
        Row("HVAE + VampPrior (spec hierarchy)", "tomczak_hvae_vampprior.toml", 83.19, TOMCZAK,
            83.7),
        Row("HVAE + VampPrior (the paper's hierarchy)", "tomczak_hvae_paper.toml", 83.19,
            TOMCZAK, 83.7),
        Row("HVAE + VampPrior (the paper's hierarchy, their code's pseudo-inputs and biases)",
            "tomczak_hvae_code.toml", 83.19, TOMCZAK, 83.7),
        Row("HVAE + VampPrior (the paper's hierarchy, their first code's protocol)",
            "tomczak_hvae_2017.toml", 83.19, TOMCZAK, 83.7),
    ),
}
NUM_SAMPLES = 5000
# whole numbers of a summary line (floats in a table where another row is not scored)
COUNTS = ("seeds", "test_points", "epochs", "schedule_epochs", "best_epoch", "K")
MIN_PATIENCE = 5  # a shortened patience below this stops on noise


def scaled(n: float, budget: float) -> int:
    """``n`` epochs times ``budget``, rounded, at least 1."""
    return max(1, round(n * budget))


def budget_overrides(t: config.TrainConfig, budget: float) -> dict:
    """The ``[train]`` overrides that shorten ``t``'s schedule to ``budget`` times its length:
    epochs, the stages of a staged schedule, the KL warm-up and the patience (at least
    :data:`MIN_PATIENCE`). ``budget = 1`` changes nothing."""
    if budget == 1:
        return {}
    out = {"train.epochs": scaled(t.epochs, budget)}
    if t.lr_stages:
        stages = [[scaled(n, budget), lr] for n, lr in t.lr_stages]
        out["train.lr_stages"] = stages
        out["train.epochs"] = min(out["train.epochs"], sum(n for n, _ in stages))
    if t.kl_warmup_epochs:
        out["train.kl_warmup_epochs"] = t.kl_warmup_epochs * budget
    if t.patience:
        out["train.patience"] = max(MIN_PATIENCE, scaled(t.patience, budget))
    return out


def sweep_for(row: Row, args) -> dict:
    """The sweep document of one row."""
    path = PAPERS / row.config
    fixed = budget_overrides(config.load(path).train, args.budget)
    fixed.update(config.parse_override(item) for item in args.set)
    evaluate = {"num_samples": args.num_samples, "ks": [1, args.num_samples]}
    if args.limit is not None:
        evaluate["limit"] = args.limit
    return {"base": str(path), "seeds": args.seeds, "set": fixed,
            "tags": {"row": row.label, "budget": args.budget}, "evaluate": evaluate}


def published_epochs(row: Row) -> int:
    """The epochs of the published schedule of ``row`` (its config's ``train.epochs``)."""
    return config.load(PAPERS / row.config).train.epochs


def summarize(table: pd.DataFrame, rows, num_samples: int) -> pd.DataFrame:
    """One line per row, from its runs at the largest budget in ``table``: our negative test
    log-likelihood (mean over seeds; its standard error across seeds, or across test points for
    one seed), the ELBO, epochs, wall time, the budget trained (epochs trained over the
    published schedule's; ``budget_asked``: ``--budget``), and the published number with the gap
    (ours minus published; positive is worse)."""
    lines = []
    for row in rows:
        mine = table[(table["row"] == row.label) & (table["split"] == "test")]
        if len(mine):
            mine = mine[mine["budget"] == mine["budget"].max()]
        is_rows = mine[(mine["estimator"] == "is_log_px") & (mine["K"] == num_samples)]
        elbo = mine[mine["estimator"] == "elbo"]
        line = {"model": row.label, "source": row.source, "published": row.published,
                "target": row.target}
        if len(is_rows):
            nll = -is_rows["mean"]
            stderr = (nll.std() / math.sqrt(len(nll)) if len(nll) > 1
                      else float(is_rows["stderr_of_mean"].iloc[0]))
            line.update({
                "ours": nll.mean(), "stderr": stderr, "gap": nll.mean() - row.published,
                "ours_elbo": -elbo["mean"].mean() if len(elbo) else float("nan"),
                "seeds": len(nll), "test_points": int(is_rows["n"].iloc[0]),
                "epochs": int(is_rows["epochs"].max()),
                "schedule_epochs": published_epochs(row),
                "best_epoch": int(is_rows["best_epoch"].max()),
                "wall_hours": is_rows["train_seconds"].mean() / 3600,
                # trained, not asked for: rounding to whole epochs and early stopping differ
                "budget": float(is_rows["epochs"].mean()) / published_epochs(row),
                "budget_asked": float(is_rows["budget"].iloc[0]), "K": num_samples,
                "dataset": is_rows["dataset"].iloc[0], "device": is_rows["device"].iloc[0],
            })
        lines.append(line)
    return pd.DataFrame(lines)


def finished(summary: pd.DataFrame, rows, num_samples: int = NUM_SAMPLES) -> list[dict]:
    """The lines of ``summary`` whose row ran its published protocol to the end: trained at
    ``--budget 1`` (to the schedule's end or its early stop), scored on every test point the
    paper scored with ``K = num_samples``; JSON-ready (no NaN)."""
    protocol = {row.label: row.test_points for row in rows}
    done = []
    for line in summary.to_dict("records"):
        if (not pd.isna(line.get("ours", math.nan)) and line["budget_asked"] == 1
                and line["test_points"] == protocol[line["model"]] and line["K"] == num_samples):
            done.append({k: None if isinstance(v, float) and math.isnan(v)
                         else int(v) if k in COUNTS else v for k, v in line.items()})
    return done


def table_markdown(summary: pd.DataFrame) -> str:
    """The summary as the Markdown table the README shows."""
    shown = []
    for line in summary.to_dict("records"):
        run = not pd.isna(line.get("ours", float("nan")))
        shown.append({
            "model (source)": f"{line['model']} ({line['source']})",
            "published": line["published"],
            "target": f"<= {line['target']:.1f}",
            "ours": f"{line['ours']:.2f} ± {line['stderr']:.2f}" if run else "not scored yet",
            "gap": f"{line['gap']:+.2f}" if run else "",
            "ours, -ELBO": f"{line['ours_elbo']:.2f}" if run else "",
            # a row with a NaN (another row not scored) holds its integers as floats
            "epochs of schedule (best)": (f"{int(line['epochs'])} of "
                                          f"{int(line['schedule_epochs'])} "
                                          f"({int(line['best_epoch'])})") if run else "",
            "budget": f"{line['budget']:.3g}" if run else "",
            "test points": f"{int(line['test_points']):,}" if run else "",
            "training time": f"{line['wall_hours']:.2f} h" if run else "",
            "device": line["device"] if run else "",
        })
    return markdown(pd.DataFrame(shown), fixed=["published"])


def note(summary: pd.DataFrame) -> str:
    """What the table's numbers are, in words."""
    done = summary.dropna(subset=["ours"]) if "ours" in summary else summary.iloc[:0]

    def values(column):
        shown = {f"{v:g}" if isinstance(v, float) else str(v) for v in done.get(column, [])}
        return ", ".join(sorted(shown)) or "?"

    return (f"Negative test log-likelihood in nats on {values('dataset')}, importance sampling "
            f"with K = {values('K')} from the guide on {values('test_points')} test points (± "
            f"is the standard error across seeds, or across test points for one seed); gap = "
            f"ours - published (positive is worse); -ELBO of the same weights; epochs trained of "
            f"the published schedule's, and the best validation ELBO's epoch, whose weights "
            f"are scored (fewer than the schedule at budget 1: early stopping stopped it). "
            f"Budget: the fraction of the published schedule trained (epochs, learning-rate "
            f"stages, warm-up and patience scaled alike); training time on the device that "
            f"ran it.\n")


def is_table(path: Path) -> bool:
    """Whether the file at ``path`` is a table this script wrote (it may replace it)."""
    try:
        return path.read_text(encoding="utf-8").startswith("| model (source)")
    except (OSError, UnicodeDecodeError):
        return False


def pick(rows, item: str) -> Row:
    """Row number ``item`` (1-based) of ``rows``."""
    if not item.strip().isdigit() or not 1 <= int(item) <= len(rows):
        raise PyrovaeError(f"--rows takes row numbers from 1 to {len(rows)}, got '{item}'.")
    return rows[int(item) - 1]


def write_tables(out: Path, name: str, num_samples: int, readme: str | None) -> pd.DataFrame:
    """Write table ``name``'s Markdown (``out/NAME.md``, and the block of ``readme`` when
    given) from its CSV ``out/NAME.csv`` as it stands, print it, and return its summary."""
    csv, rows = out / f"{name}.csv", TABLES[name]
    table = pd.read_csv(csv) if csv.is_file() else pd.DataFrame(
        {c: [] for c in ("row", "split", "estimator", "K", "budget")})
    summary = summarize(table, rows, num_samples)
    text = table_markdown(summary) + "\n" + note(summary)
    io.write_text(out / f"{name}.md", text)
    if readme:
        io.write_block(readme, f"reproduce:{name}", text)
    print(text)
    return summary


def print_finished(out: Path, tables) -> int:
    """Print one JSON line per finished row of the ``tables`` whose CSVs are in ``out``."""
    lines = []
    for name in tables:
        csv = out / f"{name}.csv"
        if csv.is_file():
            summary = summarize(pd.read_csv(csv), TABLES[name], NUM_SAMPLES)
            lines += [{"table": name, **line}
                      for line in finished(summary, TABLES[name], NUM_SAMPLES)]
    for line in lines:
        print(json.dumps(line, default=float))
    if not lines:
        print(f"reproduce: no finished row in {out} (budget 1, every test point, K = "
              f"{NUM_SAMPLES})", file=sys.stderr)
    return 0


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", choices=sorted(TABLES),
                        help="which published table to reproduce (required but with --summary)")
    parser.add_argument("--summary", action="store_true",
                        help="train nothing: print one JSON line per finished row (budget 1, "
                             "every test point, K = 5000) of the CSVs in --out; with --table "
                             "and --readme, also rewrite that table from its CSV")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="fraction of the published schedule to train (default 1)")
    parser.add_argument("--rows", help="comma-separated row numbers (1-based) to run; default all")
    parser.add_argument("--seeds", default="0", help="training seeds, e.g. 0,1,2")
    parser.add_argument("--num-samples", type=int, default=NUM_SAMPLES, help="K of the estimate")
    parser.add_argument("--limit", type=int, help="score N test points spread over the split "
                                                  "(default: all 10,000, as the papers)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of every config (repeatable)")
    parser.add_argument("--out", default="results/reproduce", help="folder of the CSV, the "
                        "Markdown table and (under runs/) the run directories")
    parser.add_argument("--readme", help="README whose reproduce block to rewrite")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.summary and args.readme and args.table is None:
        parser.error("--summary --readme needs --table: the README block to rewrite")
    if args.table is None and not args.summary:
        parser.error("--table is required (but with --summary)")
    if args.readme:
        io.check_block(args.readme, f"reproduce:{args.table}", "--readme")
    if args.summary:
        if args.readme:
            io.check_output(out / f"{args.table}.md", "the Markdown table", ours=is_table)
            write_tables(out, args.table, args.num_samples, args.readme)
        return print_finished(out, [args.table] if args.table else sorted(TABLES))
    rows = TABLES[args.table]
    failed = 0
    if not (0 < args.budget <= 1):
        raise PyrovaeError(f"--budget must be in (0, 1], got {args.budget}.")
    check("--limit", args.limit, PositiveInt | None)
    if not all(s.strip().isdigit() for s in args.seeds.split(",")):
        raise PyrovaeError(f"--seeds takes whole numbers separated by commas, e.g. 0,1,2; "
                           f"got '{args.seeds}'.")
    args.seeds = sorted({int(s) for s in args.seeds.split(",")})
    chosen = rows if not args.rows else [pick(rows, item) for item in args.rows.split(",")]
    io.check_output(out / f"{args.table}.md", "the Markdown table", ours=is_table)
    for row in chosen:
        plan = make_plan(sweep_for(row, args), source=f"reproduce ({row.label})",
                         out=out / f"{args.table}.csv",
                         runs_dir=out / "runs" / Path(row.config).stem)
        report = run_sweep(plan, data_dir=args.data_dir, device=args.device)
        failed += len(report["failed"])
    summary = write_tables(out, args.table, args.num_samples, args.readme)
    records = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
               for r in summary.to_dict("records")]
    print(json.dumps({"table": args.table, "failed": failed, "rows": records}, default=float))
    return 1 if failed else 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("reproduce", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
