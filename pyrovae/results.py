"""Tidy result tables: appending rows to a CSV file without ever leaving it half-written, and
without losing rows when several processes append to it at once."""

from __future__ import annotations

import csv
import io as _io
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import pandas as pd
from filelock import FileLock

from pyrovae.base import io
from pyrovae.base.errors import ConfigError

#: The columns of an evaluation's rows (``pyrovae evaluate``), in order; ``steps`` (annealing
#: steps) is empty but on AIS and BDMC rows; ``particles`` is the particle layout of importance
#: sampling (``vectorized``, ``batch`` or ``loop``).
SUMMARY_COLUMNS = [
    "run", "model", "guide", "dataset", "split", "estimator", "K", "steps", "seed", "n", "mean",
    "stderr_of_mean", "kl", "reconstruction", "active_units", "seconds", "device", "particles",
    "weights", "pyrovae_version", "pyro_version", "torch_version",
]
#: The columns a sweep adds after them, before its tag and swept-key columns.
RUN_COLUMNS = ["train_seed", "config_hash", "epochs", "best_epoch", "train_seconds"]
#: Columns added after files were written without them: a file that lacks only these gets them,
#: empty in its rows, when rows are appended to it.
ADDED_COLUMNS = ("steps", "particles", "weights")


#: The first columns of the per-data-point rows (``pyrovae evaluate --per-datapoint``): a CSV
#: that starts with them is one pyrovae wrote, and may be replaced.
PER_POINT_LEAD = ["run", "split", "seed", "index"]


def header(path: str | Path) -> list[str] | None:
    """The column names of the CSV at ``path``; None when there is no such file or it is empty.

    :raises ConfigError: the file is not UTF-8 text.
    """
    return io.csv_header(path)


def check_columns(path: str | Path, columns) -> None:
    """Refuse a CSV at ``path`` whose columns are not ``columns`` (in order); an absent or empty
    file is fine.

    :raises ConfigError: naming the columns missing there and those not in ``columns``.
    """
    found, columns = header(path), list(columns)
    if found is not None and found != columns and not _upgradable(found, columns):
        missing = [c for c in columns if c not in found]
        extra = [c for c in found if c not in columns]
        raise ConfigError(
            f"{path} has other columns than the rows to append (missing there: "
            f"{missing or 'none'}; not in these rows: {extra or 'none'}; or another order); it was "
            f"left as it was. Write to another file (--out, or out = ... in a sweep file).")


def check_appendable(path: str | Path, columns, what: str = "--out") -> None:
    """The output policy (:func:`pyrovae.base.io.check_output`) for a CSV that rows of ``columns``
    are appended to: a new file, or a CSV of those columns, in a writable directory.

    :raises ConfigError: before any work, the file left as it is.
    """
    io.check_output(path, what, ours=lambda p: True)
    check_columns(path, columns)


def is_per_point(path: str | Path) -> bool:
    """Whether the file at ``path`` holds per-data-point rows pyrovae wrote (it may replace
    them)."""
    try:
        found = header(path)
    except ConfigError:
        return False
    return found is not None and found[:len(PER_POINT_LEAD)] == PER_POINT_LEAD


def _upgradable(found: list[str], columns: list[str]) -> bool:
    """``found`` is ``columns`` without some of the :data:`ADDED_COLUMNS`."""
    return found == [c for c in columns if c in found or c not in ADDED_COLUMNS]


def _with_columns(path: Path, columns: list[str]) -> bytes:
    """The CSV at ``path`` rewritten to ``columns``, the columns it lacks empty; every other
    field stays the text it was."""
    out = _io.StringIO()
    with open(path, newline="") as f:
        reader = csv.reader(f)
        found = next(reader)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in reader:
            values = dict(zip(found, row))
            writer.writerow([values.get(c, "") for c in columns])
    return out.getvalue().encode()


@contextmanager
def locked(path: str | Path):
    """Hold an exclusive lock on the CSV ``path`` for the block (other processes calling this wait).

    The lock is held on the sidecar file ``.NAME.lock`` beside it: the CSV itself is replaced by
    a rename on every append, so a lock on it would not outlive the append.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(f".{path.name}.lock")):
        yield


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    return list(zip(*(frame[c].astype(str) for c in columns)))


def append_rows(path: str | Path, rows: pd.DataFrame, *, unless_present: Sequence[str] = ()) -> int:
    """Append ``rows`` to the CSV at ``path`` (created if absent) in one atomic rename, under
    :func:`locked`, so concurrent appends from several processes all keep their rows.

    The bytes already in the file are kept as they are (no parse and re-print of old numbers).

    :param unless_present: key columns: a row whose values in them (as text) equal those of a
        row already in the file is not appended.

    A file written before some :data:`ADDED_COLUMNS` gets them, empty in its rows.

    :returns: the number of rows appended.
    :raises ConfigError: the existing file has other columns; it is left untouched.
    """
    path = Path(path)
    buffer = _io.StringIO()
    with locked(path):
        check_columns(path, rows.columns)
        found = header(path)
        old = b"" if found is None else path.read_bytes() if found == list(rows.columns) else \
            _with_columns(path, list(rows.columns))
        if old and unless_present:
            held = set(_keys(pd.read_csv(path, usecols=list(unless_present), dtype=str),
                             unless_present))
            rows = rows[[key not in held for key in _keys(rows, unless_present)]]
        rows.to_csv(buffer, index=False, header=not old, lineterminator="\n")
        with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(old)
            if old and not old.endswith(b"\n"):
                f.write(b"\n")
            f.write(buffer.getvalue().encode())
    return len(rows)
