"""Line plots: training curves from ``history.csv`` and log p(x) against the number of
importance samples K."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pyrovae.plots.figure import new_figure, save_figure


def save_training_curves(history: pd.DataFrame, path: Path) -> Path:
    """The training objective and the validation ELBO (per data point) against the epoch, from
    a run's ``history.csv`` rows."""
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    objective = str(history["objective"].iloc[-1]) if "objective" in history else "objective"
    ax.plot(history["epoch"], history["train_objective"], marker=".", label=f"train {objective}")
    ax.plot(history["epoch"], history["valid_elbo"], marker=".", label="valid ELBO")
    ax.set_xlabel("epoch")
    ax.set_ylabel("per data point (nats)")
    ax.set_title("training curves")
    ax.legend()
    return save_figure(fig, path)


def save_log_px_vs_k(rows: pd.DataFrame, path: Path, title: str = "") -> Path:
    """log p(x) estimates against K (log axis), with error bars of one standard error of the
    mean over data points.

    :param rows: summary rows of one run and split (columns ``estimator``, ``K``, ``mean``,
        ``stderr_of_mean``): ``iwae`` rows draw the IWAE-K bound, ``is_log_px`` rows the
        estimate of log p(x) with K samples, an ``elbo`` row a dashed line.
    """
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    styles = {"iwae": dict(marker="o", label="IWAE bound, K samples"),
              "is_log_px": dict(marker="s", linestyle="none", label="log p(x) estimate, K samples")}
    for estimator, style in styles.items():
        part = rows[rows["estimator"] == estimator].sort_values("K")
        if len(part):
            ax.errorbar(part["K"], part["mean"], yerr=part["stderr_of_mean"].fillna(0),
                        capsize=3, **style)
    elbo = rows[rows["estimator"] == "elbo"]
    if len(elbo):
        ax.axhline(float(elbo["mean"].iloc[0]), linestyle="--", color="gray", label="ELBO")
    ax.set_xscale("log")
    ax.set_xlabel("K (importance samples)")
    ax.set_ylabel("per data point (nats)")
    ax.set_title(title or "log p(x) versus K")
    ax.legend()
    return save_figure(fig, path)
