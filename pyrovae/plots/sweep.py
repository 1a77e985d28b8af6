"""Figures of a sweep's results CSV: metrics against a swept key, mean and standard error across
seeds (the beta-VAE trade-off: log p(x), KL and the disentanglement metrics against beta)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pyrovae import report
from pyrovae.base import io
from pyrovae.base.errors import ConfigError
from pyrovae.plots.figure import is_figure, new_figure, save_figure


def save_metrics_vs(wide: pd.DataFrame, x: str, columns, path: Path, title: str = "") -> Path:
    """One panel per ``(label, estimator, value)`` of ``columns``: ``label`` against ``x``
    with error bars of one standard error across seeds, one line per split; a log-2 ``x``
    axis when every ``x`` is positive.

    :param wide: :func:`pyrovae.report.tradeoff` rows grouped by ``x``.
    """
    fig = new_figure(3.2 * len(columns), 3.2)
    axes = fig.subplots(1, len(columns), squeeze=False)[0]
    splits = list(dict.fromkeys(wide["split"])) if "split" in wide.columns else [None]
    for ax, (label, estimator, value) in zip(axes, columns):
        for split in splits:
            part = wide if split is None else wide[wide["split"] == split]
            part = part.sort_values(x)
            ax.errorbar(part[x], part[label], yerr=part[f"{label} stderr"].fillna(0), capsize=3,
                        marker="o", label=split if len(splits) > 1 else None)
        if (wide[x] > 0).all():
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(set(wide[x])), [f"{v:g}" for v in sorted(set(wide[x]))])
        ax.set_xlabel(x)
        ax.set_title(label if value == "mean" else f"{label} ({estimator} {value})",
                     fontsize="medium")
        if len(splits) > 1:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_sweep(results, *, by: str = "train.beta", columns: str = report.TRADEOFF_COLUMNS,
               out=None, where=()) -> tuple[Path, pd.DataFrame]:
    """Draw :func:`save_metrics_vs` for the results CSV ``results``; returns the figure's path
    (default: beside the CSV, ``<stem>_vs_<by>.png``) and the wide table it shows.

    :param columns: ``LABEL=ESTIMATOR[:VALUE],...`` (:func:`pyrovae.report.parse_columns`).
    :raises ConfigError: the CSV, ``by`` or a column is missing, or ``by`` holds other values
        than numbers.
    """
    parsed = report.parse_columns(columns)
    path = Path(out) if out else Path(results).with_name(f"{Path(results).stem}_vs_{by}.png")
    io.check_output(path, "--out" if out else "the figure", ours=is_figure)
    table = report.read_results(results)
    wide = report.tradeoff(table, [by], parsed, where=where)
    if not pd.api.types.is_numeric_dtype(wide[by]) or wide[by].isna().any():
        raise ConfigError(f"--by {by}: the x axis needs a number in every row; {results} holds "
                          f"{', '.join(sorted(map(repr, set(wide[by].astype(str)))))[:200]}.")
    counts = sorted({int(n) for n in wide["n_seeds"].fillna(0)})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    save_metrics_vs(wide, by, parsed, path, f"mean ± standard error over {seeds} seeds")
    return path, wide
