"""Tidy result tables: appending rows to a CSV file without ever leaving it half-written."""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import pandas as pd

from pyrovae import io
from pyrovae.errors import ConfigError


def header(path: str | Path) -> list[str] | None:
    """The column names of the CSV at ``path``; None when there is no such file or it is empty."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with open(path, newline="") as f:
        return next(csv.reader(f), None)


def append_rows(path: str | Path, rows: pd.DataFrame) -> None:
    """Append ``rows`` to the CSV at ``path`` (created if absent) in one atomic rename.

    The bytes already in the file are kept as they are (no parse and re-print of old numbers).

    :raises ConfigError: the existing file has other columns; it is left untouched.
    """
    path = Path(path)
    found = header(path)
    if found is not None and found != list(rows.columns):
        raise ConfigError(
            f"{path} has the columns {found}, not the {list(rows.columns)} of these results; it "
            f"was left as it was. Write to another file (--out)."
        )
    old = path.read_bytes() if found is not None else b""
    buffer = _io.StringIO()
    rows.to_csv(buffer, index=False, header=not old, lineterminator="\n")
    with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(old)
        if old and not old.endswith(b"\n"):
            f.write(b"\n")
        f.write(buffer.getvalue().encode())
