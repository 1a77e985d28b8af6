"""The sweep's CSV: which rows it holds, and appending rows without ever leaving it half-written.

Appending keeps the bytes already in the file as they are (no parse and re-print of old
numbers) and adds the new rows after them, in one atomic rename.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import pandas as pd

from pyrovae import io
from pyrovae.errors import ConfigError

KEY = ("run", "split", "estimator", "K")


def header(path: Path) -> list[str] | None:
    """The column names of the CSV at ``path``, or None when there is no such file (or it is
    empty)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with open(path, newline="") as f:
        return next(csv.reader(f), None)


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
    path = Path(path)
    check_columns(path, columns)
    old = path.read_bytes() if header(path) is not None else b""
    buffer = _io.StringIO()
    rows[columns].to_csv(buffer, index=False, header=not old, lineterminator="\n")
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(old)
            if old and not old.endswith(b"\n"):
                f.write(b"\n")
            f.write(buffer.getvalue().encode())
