"""The sweep's CSV: which rows it holds, and appending rows without ever leaving it half-written.

Appending is :func:`pyrovae.results.append_rows`: the bytes already in the file stay as they
are, the new rows follow, in one atomic rename; the column check is
:func:`pyrovae.results.check_columns`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pyrovae.results import append_rows, check_columns, header

__all__ = ["KEY", "append", "check_columns", "existing_keys"]

KEY = ("run", "split", "estimator", "K")


def existing_keys(path: Path) -> set[tuple]:
    """The (run, split, estimator, K) of every row of the CSV at ``path``."""
    if header(path) is None:
        return set()
    table = pd.read_csv(path, usecols=list(KEY), dtype={"run": str, "split": str, "estimator": str})
    return set(zip(table["run"], table["split"], table["estimator"], table["K"].astype(int)))


def append(path: Path, rows: pd.DataFrame, columns: list[str]) -> int:
    """Append the rows of ``rows`` (in ``columns`` order) whose key the CSV at ``path`` does not
    hold yet, in one atomic rewrite under the file's lock; returns how many.

    :raises ConfigError: the file has other columns; it is left untouched.
    """
    return append_rows(path, rows[columns], unless_present=KEY)
