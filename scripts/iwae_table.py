"""Burda et al. (2016), "Importance Weighted Autoencoders", on statically binarized MNIST: test
log p(x) (importance sampling with K = 5000) of VAEs and IWAEs trained with k = 1, 5, 50
samples, with one and two stochastic layers, beside the published numbers of the same data.

The published numbers are those of Appendix D, Table 3 (arXiv 1509.00519 v4), the fixed
binarization that pyrovae's ``binarized_mnist`` is. Their Table 1 is MNIST binarized afresh
each time a digit is seen, with 60,000 training images (their footnote 2), about 2 nats easier
(their Appendix D); no pyrovae dataset matches it, so it is not shown.

"VAE, k" is the ELBO averaged over k samples (``train.loss = "trace_elbo"``,
``train.num_particles = k``); "IWAE, k" the k-sample importance-weighted bound
(``train.loss = "iwae"``). For k = 1 both are the same objective, so one run serves both cells
(as in the paper, where they share a number). Each configuration is one point of a sweep
(:mod:`pyrovae.sweep`): finished runs are reused and rows already in the CSV are kept, so a
re-run (or a run with more ``--seeds``) does only the missing work.

    python scripts/iwae_table.py --epochs 10 --data-dir ../shared/data

writes the sweep CSV (``--out``, one row per run, split, estimator and K) and the Markdown
table (``--md``). The budget knob is ``--epochs`` (the paper trains 3280 passes); ``--limit N``
evaluates N test points spread evenly over the test set (it is sorted by class).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from pyrovae import config
from pyrovae.base import io
from pyrovae.base.boundary import run_main
from pyrovae.base.errors import PyrovaeError
from pyrovae.report import markdown
from pyrovae.sweep import make_plan, run_sweep

# Burda et al. 2016, Appendix D, Table 3: statically binarized MNIST, test log p(x) (K = 5000):
# (layers, objective, k) -> value. IWAE k = 1 is the VAE k = 1 (the same objective).
PUBLISHED = {
    (1, "VAE", 1): -88.71, (1, "VAE", 5): -88.83, (1, "VAE", 50): -89.05,
    (1, "IWAE", 1): -88.71, (1, "IWAE", 5): -87.63, (1, "IWAE", 50): -87.10,
    (2, "VAE", 1): -88.08, (2, "VAE", 5): -87.63, (2, "VAE", 50): -87.86,
    (2, "IWAE", 1): -88.08, (2, "IWAE", 5): -86.17, (2, "IWAE", 50): -85.32,
}
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def objectives(ks: list[int]) -> list[tuple[str, int]]:
    """(loss, num_particles) of each run: VAE for every k, IWAE for k > 1 (k = 1 is the VAE)."""
    return [("trace_elbo", k) for k in ks] + [("iwae", k) for k in ks if k > 1]


def sweep_for(base: Path, layers: int, epochs: int, particles: list[int], args) -> dict:
    """The sweep document of one architecture."""
    runs = objectives(particles)
    fixed = {"train.epochs": epochs}
    fixed.update(config.parse_override(item) for item in args.set)
    evaluate = {"num_samples": args.num_samples,
                "ks": sorted({k for k in (1, *particles, args.num_samples) if k <= args.num_samples})}
    if args.limit:
        evaluate["limit"] = args.limit
    return {"base": str(base), "seeds": args.seeds, "set": fixed,
            "zip": {"train.loss": [r[0] for r in runs], "train.num_particles": [r[1] for r in runs]},
            "tags": {"layers": layers}, "evaluate": evaluate}


def ours(table: pd.DataFrame, num_samples: int) -> dict:
    """(layers, objective, k) -> (mean across seeds, standard error across seeds, seeds) of
    the test log p(x) estimate with ``num_samples`` samples."""
    rows = table[(table["estimator"] == "is_log_px") & (table["K"] == num_samples)
                 & (table["split"] == "test")]
    per_seed = rows.groupby(["layers", "train.loss", "train.num_particles", "train_seed"])["mean"].mean()
    out = {}
    for (layers, loss, k), values in per_seed.groupby(level=[0, 1, 2]):
        name = "VAE" if loss == "trace_elbo" else "IWAE"
        stderr = values.std() / len(values) ** 0.5 if len(values) > 1 else float("nan")
        out[(int(layers), name, int(k))] = (values.mean(), stderr, len(values))
        if k == 1 and name == "VAE":
            out[(int(layers), "IWAE", 1)] = out[(int(layers), "VAE", 1)]
    return out


def _cell(result) -> str:
    if result is None:
        return "not run"
    mean, stderr, n = result
    return f"{mean:.2f}" if n == 1 else f"{mean:.2f} ± {stderr:.2f}"


def _first_line(path: Path) -> str:
    """The first line of the text file at ``path`` ('' where it is not UTF-8 text)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline()
    except (OSError, UnicodeDecodeError):
        return ""


def table_markdown(results: dict, particles: list[int], skipped: list[int], note: str) -> str:
    """The comparison as Markdown: one row per (layers, k), ours beside the published values."""
    lines = []
    for layers in (1, 2):
        for k in particles:
            row = {"stochastic layers": layers, "k": k}
            for name in ("VAE", "IWAE"):
                row[f"{name} (ours)"] = "skipped" if layers in skipped else _cell(results.get((layers, name, k)))
                published = PUBLISHED.get((layers, name, k))
                row[f"{name} (Burda et al.)"] = "" if published is None else f"{published:.2f}"
            lines.append(row)
    return markdown(pd.DataFrame(lines)) + "\n" + note + "\n"


def _ints(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return sorted({int(k) for k in text.split(",")})
    except ValueError:
        raise PyrovaeError(f"{what} '{text}' is not a comma-separated list of whole numbers.") from None


def _note(table: pd.DataFrame, args, budgets: dict) -> str:
    test_n = "/".join(map(str, sorted(set(table["n"])))) if len(table) else "?"
    datasets = ", ".join(sorted(set(table["dataset"]))) if len(table) else "?"
    budget = "; ".join(f"{layers} layer{'s' if layers > 1 else ''}: {epochs} epochs"
                       for layers, epochs in budgets.items()) or "none run"
    return (f"Ours: test log p(x) in nats, importance sampling with K = {args.num_samples} on "
            f"{test_n} test points of {datasets}; training budget {budget}; seeds "
            f"{', '.join(map(str, args.seeds))} (± is the standard error across seeds). IWAE k = 1 "
            f"is the VAE k = 1 run (the same objective). Burda et al. (2016), Appendix D, Table 3: "
            f"statically binarized MNIST, 3280 passes over the data, K = 5000.")


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every run (budget)")
    parser.add_argument("--particles", default="1,5,50", help="the k of the table (default 1,5,50)")
    parser.add_argument("--two-layer-epochs", type=int, help="epochs of the two-layer runs "
                                                             "(default --epochs)")
    parser.add_argument("--two-layer-particles", help="k of the two-layer runs (default --particles)")
    parser.add_argument("--num-samples", type=int, default=5000, help="K of the test log p(x)")
    parser.add_argument("--limit", type=int, help="evaluate N test points spread over the test set")
    parser.add_argument("--seeds", default="0", help="training seeds, e.g. 0,1,2")
    parser.add_argument("--one-layer-config", default=str(CONFIGS / "binarized_mnist_vae.toml"))
    parser.add_argument("--two-layer-config", default=str(CONFIGS / "zoo" / "iwae_two_layer.toml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of both configs (repeatable), e.g. data.name=sprites")
    parser.add_argument("--out", default="results/iwae_table.csv", help="sweep CSV")
    parser.add_argument("--md", help="Markdown table (default: --out with suffix .md)")
    parser.add_argument("--runs-dir", default="runs/iwae_table")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once (processes)")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    out = Path(args.out)
    md = Path(args.md) if args.md else out.with_suffix(".md")
    skipped, failed, hashes, budgets = [], 0, set(), {}
    io.check_output(md, "--md", ours=lambda path: _first_line(path).startswith(
        "| stochastic layers |"))
    args.particles = _ints(args.particles, "--particles")
    args.seeds = sorted(set(_ints(args.seeds, "--seeds")))
    architectures = [
        (1, Path(args.one_layer_config), args.epochs, args.particles),
        (2, Path(args.two_layer_config), args.two_layer_epochs or args.epochs,
         _ints(args.two_layer_particles, "--two-layer-particles") or args.particles)]
    for layers, base, epochs, particles in architectures:
        if not base.is_file():
            print(f"NOTICE: {layers} stochastic layer(s): config {base} does not exist (yet); "
                  f"skipping those rows. Give it with --{'one' if layers == 1 else 'two'}-layer-config.")
            skipped.append(layers)
            continue
        plan = make_plan(sweep_for(base, layers, epochs, particles, args),
                         source=f"iwae_table ({layers} layer(s))", out=out,
                         runs_dir=Path(args.runs_dir) / f"{layers}layer")
        report = run_sweep(plan, jobs=args.jobs, data_dir=args.data_dir, device=args.device)
        failed += len(report["failed"])
        hashes |= {point.config_hash for point in plan.points}
        budgets[layers] = epochs
    table = pd.read_csv(out) if out.is_file() else pd.DataFrame({"config_hash": []})
    table = table[table["config_hash"].isin(hashes)]  # this budget's runs only
    results = ours(table, args.num_samples) if len(table) else {}
    ks = sorted({k for *_, particles in architectures for k in particles})
    text = table_markdown(results, ks, skipped, _note(table, args, budgets))
    io.write_text(md, text)
    print(text)
    print(f"wrote:\n  {out}\n  {md}")
    return 1 if failed else 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("iwae_table", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
