"""Per-datapoint log p(x) as an anomaly score: a VAE trained without one class scores the held-out
class against the rest; AUROC of :math:`-\\log \\hat p(x)` (and of the negative ELBO) for "is the
held-out class".

Data (the honest choice): statically binarized MNIST carries labels only for its 10,000 test
images, so those are the pool. A fixed permutation (``--split-seed``) splits the pool into a
scoring set (``--score-size`` images, every class), a validation set (``--valid-size``, for
choosing the best epoch) and a training set (the rest); the held-out class is removed from
training and validation only. Training therefore uses about 6,300 images, not the 50,000 of the
unlabelled training split. The splits go to an ``.npz`` file read through the ``file`` dataset,
so each run directory says exactly what it was trained on. ``--source sprites`` does the same
with generated sprites (labelled by shape; ``--pool`` of them), for tiny runs without MNIST.

    python scripts/anomaly.py --holdout 0,1 --epochs 20 --data-dir ../shared/data

Rows (``--out``, appended; a re-run skips rows already there): one per held-out class and score,
with columns ``holdout``, ``score`` (``log_px``: anomalous when :math:`\\log \\hat p(x)` is low;
``elbo``), ``auroc``, ``n_anomalous``, ``n_normal``, ``mean_log_px_anomalous``,
``mean_log_px_normal``, ``K``, ``epochs``, ``best_epoch``, ``train_seed``, ``split_seed``,
``source``, ``n_train``, ``design`` (the data split in words), ``config_hash``, ``run``. The
per-point scores are in ``RUN_DIR/points_test.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pyrovae import config, evaluation, run
from pyrovae.base import io
from pyrovae.base.boundary import run_main
from pyrovae.base.errors import PyrovaeError
from pyrovae.data import load_dataset
from pyrovae.results import check_appendable
from pyrovae.sweep import table
from pyrovae.sweep.points import resolve
from pyrovae.sweep.training import train_or_reuse

COLUMNS = ["holdout", "score", "auroc", "n_anomalous", "n_normal", "mean_log_px_anomalous",
           "mean_log_px_normal", "K", "epochs", "best_epoch", "train_seed", "split_seed", "source",
           "n_train", "design", "config_hash", "run"]
SCORES = ("log_px", "elbo")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def auroc(scores, positive) -> float:
    """Area under the ROC curve of ``scores`` (higher: more likely positive) for the boolean
    labels ``positive``, by the rank statistic of Mann and Whitney, in float64:

    .. math:: \\mathrm{AUROC} = \\frac{R_+ - n_+(n_+ + 1)/2}{n_+ n_-},

    with :math:`R_+` the sum of the positives' ranks (ties get their average rank), i.e. the
    probability that a random positive scores above a random negative, ties counting half.
    """
    scores = pd.Series(np.asarray(scores, dtype=np.float64))
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise PyrovaeError(f"AUROC needs positives and negatives; got {n_pos} and {n_neg}.")
    ranks = scores.rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def labelled_pool(source: str, data_dir, seed: int, pool: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every labelled image of ``source`` (its splits that carry labels, concatenated); for
    ``sprites``, ``pool`` generated images (default 10000)."""
    options = {"num_train": pool or 10000, "num_valid": 1, "num_test": 1} if source == "sprites" else {}
    data = load_dataset(source, data_dir=data_dir, seed=seed, **options)
    splits = [s for s in data.splits if s in data.labels]
    if not splits:
        raise PyrovaeError(f"dataset '{source}' has no labels; anomaly scoring needs a labelled "
                           f"dataset (binarized_mnist test split, sprites).")
    return (torch.cat([data.splits[s] for s in splits]), torch.cat([data.labels[s] for s in splits]))


def make_splits(x, y, holdout: int, split_seed: int, score_size: int, valid_size: int,
                pool: int | None = None) -> dict:
    """Arrays for the ``file`` dataset from a permutation (``split_seed``) of the pool, or of its
    first ``pool`` permuted images: ``test`` (the scoring set, all classes), ``valid`` and
    ``train`` (without class ``holdout``), each with ``<split>_labels``."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(split_seed))[:pool]
    if holdout not in set(y.tolist()):
        raise PyrovaeError(f"--holdout {holdout}: no image of that class in the pool (classes "
                           f"{sorted(set(y.tolist()))}).")
    if score_size + valid_size >= len(perm):
        raise PyrovaeError(f"--score-size {score_size} + --valid-size {valid_size} leave no "
                           f"training images of the {len(perm)} in the pool.")
    parts = {"test": perm[:score_size], "valid": perm[score_size:score_size + valid_size],
             "train": perm[score_size + valid_size:]}
    out = {}
    for split, index in parts.items():
        if split != "test":
            index = index[y[index] != holdout]
        out[split] = x[index].numpy()
        out[f"{split}_labels"] = y[index].numpy()
    return out


def save_npz(arrays: dict, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def score_rows(per_point: pd.DataFrame, holdout: int) -> list[dict]:
    """AUROC rows of the two scores for "is class ``holdout``"."""
    anomalous = per_point["label"].to_numpy() == holdout
    rows = []
    for score in SCORES:
        rows.append({"holdout": holdout, "score": score,
                     "auroc": auroc(-per_point[score].to_numpy(), anomalous),
                     "n_anomalous": int(anomalous.sum()), "n_normal": int((~anomalous).sum()),
                     "mean_log_px_anomalous": float(per_point["log_px"][anomalous].mean()),
                     "mean_log_px_normal": float(per_point["log_px"][~anomalous].mean())})
    return rows


def design(args, holdout: int, arrays: dict) -> str:
    """How the data were split, in words (the CSV's ``design`` column)."""
    sizes = {k: len(arrays[k]) for k in ("train", "valid", "test")}
    return (f"labelled {args.source} pool permuted with split_seed {args.split_seed}: scored "
            f"{sizes['test']} (all classes); trained on {sizes['train']} and validated on "
            f"{sizes['valid']} without class {holdout}")


def done_rows(path: Path) -> set:
    """(holdout, score, train_seed, run) of the rows already in the CSV at ``path``."""
    if table.header(path) is None:
        return set()
    old = pd.read_csv(path, dtype={"run": str, "score": str})
    return set(zip(old["holdout"], old["score"], old["train_seed"], old["run"]))


def run_holdout(holdout: int, args, x, y, base_raw: dict, out: Path) -> pd.DataFrame | None:
    """Train (or reuse) the model without class ``holdout`` and score the scoring set; None when
    ``out`` already holds its rows."""
    runs_dir = Path(args.runs_dir)
    pool = f"-pool{args.pool}" if args.pool else ""
    data_path = runs_dir / (f"data-{args.source}{pool}-holdout{holdout}-split{args.split_seed}"
                            f"-score{args.score_size}-valid{args.valid_size}.npz")
    arrays = make_splits(x, y, holdout, args.split_seed, args.score_size, args.valid_size, args.pool)
    overrides = {"train.epochs": args.epochs}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise PyrovaeError(f"--set '{item}' is not key=value; write e.g. --set train.lr=3e-4.")
        overrides[key.strip()] = config.parse_value(value.strip())
    raw = {**base_raw, "data": {"name": "file", "path": str(data_path)}}
    cfg = resolve(raw, overrides, args.seed, f"anomaly (holdout {holdout})")
    digest = config.config_hash(cfg)
    run_dir = runs_dir / f"holdout{holdout}-s{args.seed}-{digest}"
    if all((holdout, score, args.seed, str(run_dir)) in done_rows(out) for score in SCORES):
        print(f"holdout {holdout}: rows already in {out} ({run_dir}); skipped")
        return None
    if not data_path.is_file():
        save_npz(arrays, data_path)
    trained = train_or_reuse(cfg, run_dir, data_dir=args.data_dir, device=args.device)
    built = run.load(run_dir, data_dir=args.data_dir, device=args.device)
    _, per_point = evaluation.evaluate(built, str(run_dir), split="test", num_samples=args.num_samples,
                                     ks=[1], seed=args.eval_seed, quiet=True)
    io.write_csv(per_point, run_dir / "points_test.csv")
    rows = pd.DataFrame(score_rows(per_point, holdout))
    rows = rows.assign(K=args.num_samples, epochs=trained["epochs"], best_epoch=trained["best_epoch"],
                       train_seed=args.seed, split_seed=args.split_seed, source=args.source,
                       n_train=len(arrays["train"]), config_hash=digest, run=str(run_dir),
                       design=design(args, holdout, arrays))
    return rows[COLUMNS]


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holdout", default="0", help="held-out classes, e.g. 0 or 0,1,7 (one model each)")
    parser.add_argument("--source", default="binarized_mnist", choices=["binarized_mnist", "sprites"])
    parser.add_argument("--config", default=str(CONFIGS / "binarized_mnist_vae.toml"),
                        help="model, guide and training options (its [data] is replaced)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-samples", type=int, default=1000, help="K of the per-point log p(x)")
    parser.add_argument("--score-size", type=int, default=2000, help="images scored (all classes)")
    parser.add_argument("--valid-size", type=int, default=1000)
    parser.add_argument("--pool", type=int, help="use only N images of the labelled pool")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the pool's permutation")
    parser.add_argument("--eval-seed", type=int, default=0, help="seed of the importance samples")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable), e.g. model.latent_dim=10")
    parser.add_argument("--out", default="results/anomaly.csv")
    parser.add_argument("--runs-dir", default="runs/anomaly")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    try:
        holdouts = [int(c) for c in args.holdout.split(",")]
    except ValueError:
        print(f"anomaly: error: --holdout '{args.holdout}' is not a comma-separated list of class "
              f"labels, e.g. 0 or 0,1,7.", file=sys.stderr)
        return 2
    out = Path(args.out)
    base_raw = config.read_toml(args.config, "--config", "configs/binarized_mnist_vae.toml "
                                "(its model, guide and [train] are used)")
    check_appendable(out, COLUMNS)
    x, y = labelled_pool(args.source, args.data_dir, args.split_seed, args.pool)
    for holdout in holdouts:
        rows = run_holdout(holdout, args, x, y, base_raw, out)
        if rows is None:
            continue
        table.append(out, rows, COLUMNS)
        for r in rows.itertuples():
            print(f"holdout {r.holdout}: AUROC {r.auroc:.3f} by {r.score} "
                  f"({r.n_anomalous} anomalous, {r.n_normal} normal; mean log p(x) "
                  f"{r.mean_log_px_anomalous:.2f} vs {r.mean_log_px_normal:.2f})")
    print(f"wrote: {out}")
    return 0


def main(argv=None) -> int:
    """The script's exit status; bad input is one line on stderr and status 2
    (:func:`pyrovae.base.boundary.run_main`)."""
    return run_main("anomaly", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
