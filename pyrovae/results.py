"""Tidy result tables: appending rows to a CSV file without ever leaving it half-written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pyrovae import io
from pyrovae.errors import ConfigError


def append_rows(path: str | Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Append ``rows`` to the CSV at ``path`` (created if absent) by rewriting it atomically.

    :raises ConfigError: the existing file has other columns; it is left untouched.
    :returns: the whole table as written.
    """
    path = Path(path)
    if path.exists():
        old = pd.read_csv(path)
        if list(old.columns) != list(rows.columns):
            raise ConfigError(
                f"{path} has the columns {list(old.columns)}, not the {list(rows.columns)} of "
                f"these results; it was left as it was. Write to another file (--out)."
            )
        rows = pd.concat([old, rows], ignore_index=True)
    io.write_csv(rows, path)
    return rows
