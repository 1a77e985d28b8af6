"""Summaries of a results CSV: mean and standard error across seeds for each group of rows, as a
DataFrame and as a Markdown table.

For a group with seeds :math:`s = 1..n` and per-seed values :math:`v_s` (the mean of the group's
rows of that seed), ``mean`` is :math:`\\bar v = \\frac1n \\sum_s v_s` and ``stderr`` is
:math:`\\sqrt{\\frac{1}{n(n-1)} \\sum_s (v_s - \\bar v)^2}` (empty for one seed): the spread
from training seed to seed, not the Monte-Carlo error within a run (``stderr_of_mean``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import suggest
from pyrovae.results import RUN_COLUMNS, SUMMARY_COLUMNS

# Never averaged across: mixing splits or estimators gives a number with no meaning.
ALWAYS_BY = ("split", "estimator")
DEFAULT_BY = ("dataset", "model", "guide")


def read_results(path) -> pd.DataFrame:
    """The CSV at ``path``, with a clear error when it is missing, empty or not a table."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"results file '{path}' not found. Give a CSV written by 'pyrovae sweep' "
                          f"or 'pyrovae evaluate'.")
    try:
        table = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ConfigError(f"'{path}' is not a readable CSV table: {e}.") from None
    if table.empty:
        raise ConfigError(f"'{path}' holds no rows; run a sweep or an evaluation first.")
    return table


#: The first word of the caption of every table ``pyrovae report`` writes.
CAPTION_START = "Mean "


def is_report(path) -> bool:
    """Whether the file at ``path`` is a Markdown table ``pyrovae report`` wrote (it may
    replace it): its first line is one of our captions."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith(CAPTION_START)
    except (OSError, UnicodeDecodeError):
        return False


def seed_column(table: pd.DataFrame) -> str:
    """The column whose values are the replicates: ``train_seed`` (sweeps), else ``seed``."""
    return "train_seed" if "train_seed" in table.columns else "seed"


def default_by(table: pd.DataFrame) -> list[str]:
    """Dataset, model and guide, the tag and swept-key columns of a sweep, split, estimator
    and K: everything that says what was run, nothing that says how it came out."""
    known = set(SUMMARY_COLUMNS) | set(RUN_COLUMNS)
    extra = [c for c in table.columns if c not in known]
    return [c for c in (*DEFAULT_BY, *extra, *ALWAYS_BY, "K") if c in table.columns]


def _check_column(table: pd.DataFrame, column: str, what: str) -> None:
    if column not in table.columns:
        raise ConfigError(f"{what}: no column '{column}' in the results."
                          f"{suggest(column, table.columns)} Columns: {', '.join(table.columns)}.")


def _filter(table: pd.DataFrame, where) -> pd.DataFrame:
    for item in where:
        column, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--where '{item}' is not COLUMN=VALUE; write e.g. "
                              f"--where estimator=is_log_px.")
        _check_column(table, column, "--where")
        table = table[table[column].astype(str) == value]
    if table.empty:
        raise ConfigError(f"no rows left after --where {' '.join(where)}; check the values.")
    return table


def summarize(table: pd.DataFrame, by=None, value: str = "mean",
              where=()) -> tuple[pd.DataFrame, list[str]]:
    """Mean and standard error across seeds of ``value`` for each group of ``by``.

    :param by: grouping columns (default :func:`default_by`); ``split`` and ``estimator`` are
        added when missing.
    :param value: the numeric column to summarize.
    :param where: ``COLUMN=VALUE`` filters applied first (compared as text).
    :returns: one row per group (``by`` columns, ``n_seeds``, ``mean``, ``stderr``, ``seeds``)
        sorted by ``by``, and notes worth printing.
    """
    notes = []
    table = _filter(table, where)
    by = list(by) if by else default_by(table)
    for column in by:
        _check_column(table, column, "--by")
    added = [c for c in ALWAYS_BY if c in table.columns and c not in by]
    if added:
        notes.append(f"also grouped by {', '.join(added)}: values of different "
                     f"{' or '.join(added)} are never averaged together")
        by += added
    _check_column(table, value, "--value")
    if not pd.api.types.is_numeric_dtype(table[value]):
        raise ConfigError(f"--value {value}: column '{value}' is not numeric.")
    seed = seed_column(table)
    _check_column(table, seed, "seeds")
    per_seed = table.groupby([*by, seed], dropna=False, sort=True)[value]
    if (per_seed.size() > 1).any():
        notes.append(f"some groups hold several rows of one {seed} (runs that differ in a "
                     f"column not in --by, or repeated evaluations); those rows are averaged "
                     f"before the mean across seeds")
    values = per_seed.mean().reset_index()
    groups = values.groupby(by, dropna=False, sort=True)
    summary = groups[value].agg(n_seeds="count", mean="mean", std="std").reset_index()
    summary["stderr"] = summary["std"] / summary["n_seeds"].map(math.sqrt)
    summary["seeds"] = groups[seed].agg(lambda s: " ".join(str(v) for v in sorted(s))).values
    return summary.drop(columns="std"), notes


def _cell(value, digits: int | None) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{digits}f}" if digits is not None else f"{value:g}"
    return str(value).replace("|", "\\|")


def markdown(frame: pd.DataFrame, digits: int = 2, fixed=None) -> str:
    """``frame`` as a GitHub Markdown table: numbers right-aligned, NaN as an empty cell, floats
    of the ``fixed`` columns (default: every float column) with ``digits`` decimals, other floats
    in their shortest form (``0.001``)."""
    fixed = set(frame.select_dtypes("float").columns if fixed is None else fixed)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    places = [digits if c in fixed else None for c in frame.columns]
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, d) for v, d in zip(row, places)) + " |")
    return "\n".join(lines) + "\n"


#: The columns of the beta-VAE trade-off table: ``LABEL=ESTIMATOR[:VALUE]`` (VALUE default mean).
TRADEOFF_COLUMNS = "log p(x)=is_log_px,KL=is_log_px:kl,MIG=mig,DCI=dci_disentanglement"


def parse_columns(text: str) -> list[tuple[str, str, str]]:
    """``"LABEL=ESTIMATOR[:VALUE],..."`` as (label, estimator, value column) triples, e.g.
    ``"KL=is_log_px:kl"`` -> ``("KL", "is_log_px", "kl")``.

    >>> parse_columns("log p(x)=is_log_px,KL=is_log_px:kl")
    [('log p(x)', 'is_log_px', 'mean'), ('KL', 'is_log_px', 'kl')]

    :raises ConfigError: an item is not of that form, or a label repeats.
    """
    columns = []
    for item in (part.strip() for part in text.split(",")):
        label, sep, rest = item.partition("=")
        estimator, _, value = rest.partition(":")
        if not (sep and label.strip() and estimator.strip()):
            raise ConfigError(f"--columns item '{item}' is not LABEL=ESTIMATOR[:VALUE]; write "
                              f"e.g. --columns \"{TRADEOFF_COLUMNS}\".")
        columns.append((label.strip(), estimator.strip(), value.strip() or "mean"))
    labels = [c[0] for c in columns]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--columns repeats a label: {labels}; give each column its own.")
    return columns


def tradeoff(table: pd.DataFrame, by, columns, where=()) -> pd.DataFrame:
    """A wide table: one row per group of ``by`` (and split), and for each ``(label,
    estimator, value)`` of ``columns`` the mean and standard error across seeds
    (:func:`summarize`) of ``value`` on the rows of that estimator, as columns ``label`` and
    ``label stderr``; ``n_seeds`` is the fewest seeds of any column of the row (0 when a
    column has no value for that row). :func:`summarize`'s notes, once each, are in
    ``wide.attrs["notes"]`` (a list of strings worth printing).

    :raises ConfigError: a column's estimator has no rows (naming those there are).
    """
    table = _filter(table, where)
    by = list(by)
    _check_column(table, "estimator", "--columns")
    for column in by:
        _check_column(table, column, "--by")
    keys = by + [c for c in ("split",) if c in table.columns and c not in by]
    wide, notes = None, []
    for label, estimator, value in columns:
        part = table[table["estimator"].astype(str) == estimator]
        if part.empty:
            raise ConfigError(f"--columns {label}: no rows of estimator '{estimator}'. Estimators "
                              f"there: {', '.join(sorted(map(str, set(table['estimator']))))}.")
        summary, found = summarize(part, by=keys + ["estimator"], value=value)
        notes += [f"{label}: {note}" for note in found]
        summary = summary[keys + ["n_seeds", "mean", "stderr"]].rename(
            columns={"mean": label, "stderr": f"{label} stderr", "n_seeds": f"n {label}"})
        wide = summary if wide is None else wide.merge(summary, on=keys, how="outer")
    counts = [f"n {label}" for label, _, _ in columns]
    wide.insert(len(keys), "n_seeds", wide[counts].fillna(0).min(axis=1).astype("int64"))
    wide = wide.drop(columns=counts).sort_values(keys).reset_index(drop=True)
    wide.attrs["notes"] = list(dict.fromkeys(notes))
    return wide


def tradeoff_markdown(wide: pd.DataFrame, columns, digits: int = 2) -> str:
    """:func:`tradeoff`'s table as Markdown, each column's cell ``mean ± stderr``."""
    labels = [label for label, _, _ in columns]
    frame = wide.drop(columns=[f"{label} stderr" for label in labels])
    for label in labels:
        frame[label] = [_cell(m, digits) + (f" ± {_cell(s, digits)}" if not math.isnan(s) else "")
                        if not math.isnan(m) else "" for m, s in zip(wide[label],
                                                                     wide[f"{label} stderr"])]
    return markdown(frame, digits=digits, fixed=[])
