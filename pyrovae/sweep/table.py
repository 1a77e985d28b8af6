"""The sweep's CSV: which rows it holds, and appending rows without ever leaving it half-written.

Appending is :func:`pyrovae.results.append_rows`: the bytes already in the file stay as they
are, the new rows follow, in one atomic rename.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pyrovae.errors import ConfigError
from pyrovae.results import append_rows, header

KEY = ("run", "split", "estimator", "K")


def check_columns(path: Path, columns: list[str]) -> None:
    """Refuse a CSV whose columns are not ``columns``, before anything runs."""
    found = header(path)
    if found is not None and found != columns:
        missing = [c for c in columns if c not in found]
        extra = [c for c in found if c not in columns]
        raise ConfigError(
            f"{path} has other columns than the rows to append (missing there: "
            f"{missing or 'none'}; not in these rows: {extra or 'none'}; or another order); it was "
            f"left as it was. Write to another file (out = ... in a sweep file, or --out).")


def existing_keys(path: Path) -> set[tuple]:
    """The (run, split, estimator, K) of every row of the CSV at ``path``."""
    if header(path) is None:
        return set()
    table = pd.read_csv(path, usecols=list(KEY), dtype={"run": str, "split": str, "estimator": str})
    return set(zip(table["run"], table["split"], table["estimator"], table["K"].astype(int)))


def row_keys_in_order(rows: pd.DataFrame) -> list[tuple]:
    """The (run, split, estimator, K) of each row of ``rows``, in row order."""
    return list(zip(rows["run"].astype(str), rows["split"].astype(str),
                    rows["estimator"].astype(str), rows["K"].astype(int)))


def append(path: Path, rows: pd.DataFrame, columns: list[str]) -> None:
    """Append ``rows`` (in ``columns`` order) to the CSV at ``path`` in one atomic rewrite.

    :raises ConfigError: the file has other columns; it is left untouched.
    """
    check_columns(Path(path), columns)
    append_rows(path, rows[columns])
