"""All figures of a trained run, written as PNG files into its directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyro
import torch

from pyrovae import evaluation, run
from pyrovae.base.options import PositiveInt, Seed, check
from pyrovae.pictures import as_images, save_pictures
from pyrovae.plots.curves import save_log_px_vs_k, save_training_curves
from pyrovae.plots.grids import (factor_labels, pick_pairs, save_interpolations, save_traversals,
                                 traversal_dims)
from pyrovae.plots.latents import posterior_means
from pyrovae.plots.scatter import save_latent_scatter

FIGURES = ("samples.png", "reconstructions.png", "traversals.png", "interpolation.png",
           "latent_scatter.png", "training_curves.png", "log_px_vs_k.png")
# Errors a model raises when it cannot run a figure's calls (e.g. it needs labels to sample).
MODEL_ERRORS = (TypeError, ValueError, RuntimeError, KeyError, IndexError, AttributeError)


#: The columns the figures read from ``history.csv`` and ``k_convergence.csv``, with whether
#: each must hold numbers.
HISTORY_COLUMNS = {"epoch": True, "train_objective": True, "valid_elbo": True}
K_COLUMNS = {"split": False, "estimator": False, "K": True, "mean": True, "stderr_of_mean": True}


def read_table(path: Path, columns: dict[str, bool]) -> tuple[pd.DataFrame | None, str]:
    """``(rows, "")`` of the CSV at ``path``, or ``(None, why not)``: it is absent, damaged, not
    UTF-8, lacks one of ``columns``, holds no rows, or text where a number belongs."""
    if not path.is_file():
        return None, f"{path} not found"
    try:
        rows = pd.read_csv(path, encoding="utf-8")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        return None, f"{path} is not a readable CSV ({type(e).__name__})"
    missing = [c for c in columns if c not in rows]
    if missing:
        return None, f"{path} lacks the column(s) {', '.join(missing)}"
    if rows.empty:
        return None, f"{path} holds no rows"
    text = [c for c, numeric in columns.items()
            if numeric and not pd.api.types.is_numeric_dtype(rows[c])]
    if text:
        return None, f"{path} holds text where numbers belong (column(s) {', '.join(text)})"
    return rows, ""


def _k_rows(built, saved: pd.DataFrame | None, run_dir: Path, split: str, k_max: int,
            num_points: int, seed: int):
    """Rows for log p(x) vs K: ``saved``, the rows of ``k_convergence.csv`` of the run (written
    by ``scripts/k_convergence.py``), when they hold ``split``, else a small evaluation
    (``k_max`` samples, ``num_points`` points)."""
    if saved is not None and split in set(saved["split"]):
        return saved[saved["split"] == split], "from k_convergence.csv"
    ks = sorted({k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if k <= k_max} | {k_max})
    summary, _ = evaluation.evaluate(built, str(run_dir), split=split, num_samples=k_max, ks=ks,
                                   seed=seed, limit=num_points, quiet=True)
    return summary, f"{summary['n'].iloc[0]} points, K up to {k_max}"


def plot_run(run_dir, *, split: str = "test", data_dir=None, device=None, seed: int | None = None,
             num_points: int = 1000, k_max: int = 100, k_points: int = 20) -> tuple[list[Path], list[str]]:
    """Write the figures of the run in ``run_dir`` (its best weights) into that directory.

    ``samples.png`` (means of p(x|z), z from the prior), ``reconstructions.png``, ``traversals.png``
    (one row per latent dimension of the guide's first latent site, moved over [-3, 3] from the
    posterior mean of the split's first point; on a dataset with factors, each row is labelled
    with the factor its dimension captures best), ``interpolation.png`` (between the posterior
    means of pairs of inputs), ``latent_scatter.png`` (posterior means of ``num_points`` points,
    PCA above 2 dimensions, coloured by label), ``training_curves.png`` (from ``history.csv``) and
    ``log_px_vs_k.png`` (from ``k_convergence.csv`` when present, else estimated on ``k_points``
    points with up to ``k_max`` samples). Image grids need image-shaped data.

    :param seed: seed of every random draw (default: the run's seed).
    :returns: the paths written, and notes on figures that could not be drawn.
    """
    run_dir = Path(run_dir)
    check("--points", num_points, PositiveInt)
    check("--seed", seed, Seed | None)
    history, no_history = read_table(run_dir / "history.csv", HISTORY_COLUMNS)
    saved, no_saved = read_table(run_dir / "k_convergence.csv", K_COLUMNS)
    built = run.load(run_dir, data_dir=data_dir, device=device)
    seed = built.cfg.seed if seed is None else seed
    pyro.set_rng_seed(seed)
    model, guide = built.model, built.guide
    tensors = built.tensors(split)
    written, notes = [], []
    images = as_images(tensors[0][:1]) is not None
    part, _ = built.data.subset(split, num_points)
    subset = dataclasses.replace(built, data=part).tensors(split)
    sub_labels = part.labels.get(split)
    with torch.no_grad():
        site, means = posterior_means(guide, *subset)
    written.append(save_latent_scatter(means, sub_labels, run_dir / "latent_scatter.png", site))
    if images:
        written += save_pictures(model, guide, tuple(t[:32] for t in subset), run_dir, seed=seed)
        try:
            dims = traversal_dims(means)
            labels = factor_labels(means, part, split, dims, site)
            written.append(save_traversals(model, site, means[0], dims, run_dir / "traversals.png",
                                           *subset[1:], like=subset[0], labels=labels))
            pairs = pick_pairs(sub_labels, subset[0].shape[0], 4)
            if pairs:
                written.append(save_interpolations(model, site, means, subset[0], pairs,
                                                   run_dir / "interpolation.png", *subset[1:]))
            else:
                notes.append("no interpolation: it needs two data points (--points >= 2)")
        except MODEL_ERRORS as e:
            notes.append(f"no traversals/interpolation: decoding latent site '{site}' failed ({e})")
    else:
        notes.append(f"the data are not images (one point has shape {tuple(tensors[0].shape[1:])}): "
                     f"no sample, reconstruction, traversal or interpolation grids")
    if history is not None:
        written.append(save_training_curves(history, run_dir / "training_curves.png"))
    else:
        notes.append(f"no training curves: {no_history}")
    if saved is None and (run_dir / "k_convergence.csv").exists():
        notes.append(f"log p(x) versus K estimated here: {no_saved}")
    rows, how = _k_rows(built, saved, run_dir, split, k_max, k_points, seed)
    written.append(save_log_px_vs_k(rows, run_dir / "log_px_vs_k.png",
                                    f"log p(x) versus K, {split} split ({how})"))
    return written, notes
