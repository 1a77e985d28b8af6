"""Atomic file writes: a crash or kill mid-write leaves the previous file whole; and the output
policy, the checks every writer (command line, API, scripts) makes on its output paths before it
starts any work (:func:`check_output`)."""

from __future__ import annotations

import csv
import os
import pickle
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch

from pyrovae.base.errors import ConfigError


@contextmanager
def atomic_path(path: str | Path):
    """Yield a fresh temporary path beside ``path``; on success it replaces ``path`` in one rename
    (atomic on one file system), on failure it is removed. The file gets ordinary permissions,
    so others sharing a directory can read it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: str | Path):
    """Yield a binary file open for writing that replaces ``path`` atomically on success."""
    with atomic_path(path) as tmp, open(tmp, "xb") as file:
        yield file


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_torch(obj, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class UnreadableFile(Exception):
    """:func:`load_torch` could not read a file; the message says why, in a phrase."""


def load_torch(path: str | Path, map_location=None):
    """``torch.load(path, weights_only=True)``: tensors and plain containers only.

    :raises UnreadableFile: the file holds pickled Python objects other than those (which
        pyrovae never loads: unpickling them could run code), or it is damaged or not a file
        ``torch.save`` wrote; the message says which, without torch's advice to load it unsafely.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's weights-only unpickler names the Python object it refused, where there is one
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found:
            raise UnreadableFile(f"holds pickled Python objects other than tensors (here "
                                 f"{found[1]}), which pyrovae does not load: unpickling them "
                                 f"could run code") from None
        raise UnreadableFile("is truncated, damaged or not a file torch.save wrote") from None
    except Exception as e:  # a damaged file fails in many ways
        first = (str(e).strip().splitlines() or [""])[0].split(". ")[0]
        raise UnreadableFile(f"is truncated, damaged or not a file torch.save wrote "
                             f"({type(e).__name__}: {first})") from None


def write_csv(frame, path: str | Path) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether the paths ``a`` and ``b`` name one file, however spelled (``..``, symbolic links;
    for existing files also hard links and case-insensitive file systems)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a parent without search permission: look further up
        return False


def check_writable(path: str | Path, what: str, *, directory: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``path`` can be written: as a file (with
    :func:`atomic_path`), or with ``directory`` as a directory, existing or created; either way
    its nearest existing ancestor must be a directory this process may write in.

    :param what: how the path was given, for the message (e.g. ``"--out"``).
    """
    path = Path(path)
    if not directory and path.is_dir():
        raise ConfigError(f"{what} {path} is a directory; give the path of a file to write.")
    existing = next(p for p in (path if directory else path.parent, *path.parents) if _exists(p))
    if not existing.is_dir():
        raise ConfigError(f"cannot write {what} {path}: {existing} is a file, not a directory. "
                          f"Give a path in a directory.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {what} {path}: {existing} is not writable. Give a path "
                          f"in a directory you may write in, or make {existing} writable.")


def check_output(path: str | Path, what: str, *, directory: bool = False,
                 ours: Callable[[Path], bool] | None = None) -> None:
    """The output policy: raise :class:`ConfigError` unless ``path`` may be written.

    A directory (``directory``) may exist or be created; a file may be created, or replaced or
    appended to only where ``ours(path)`` says the file there is one pyrovae may write over (a
    CSV of the exact columns to append, a file of the kind pyrovae writes there). Refused: a
    directory where a file is expected and the reverse, anything but a regular file in a file's
    place, an existing file not ``ours``, and a path whose nearest existing ancestor is not a
    writable directory (:func:`check_writable`).

    :param what: how the path was given, for the message (e.g. ``"--out"``).
    :param ours: whether the existing file at ``path`` may be written over; None: none may.
    """
    path = Path(path)
    check_writable(path, what, directory=directory)
    if directory or not (path.is_symlink() or _exists(path)):
        return
    if not path.is_file():
        raise ConfigError(f"{what} {path} exists and is not a regular file; give the path of a "
                          f"file to write.")
    if ours is None or not ours(path):
        raise ConfigError(f"{what} {path} already exists and is not a file pyrovae wrote there, "
                          f"so it was left as it is. Give a new path, or move that file away.")


def replace_block(text: str, name: str, block: str) -> str:
    r"""``text`` with what lies between the markers ``<!-- NAME -->`` and ``<!-- /NAME -->`` (a
    block of a Markdown file that a script rewrites) replaced by ``block``; the markers stay.

    >>> replace_block("a\n<!-- t -->\nold\n<!-- /t -->\nb", "t", "new\n")
    'a\n<!-- t -->\nnew\n<!-- /t -->\nb'

    :raises ConfigError: the markers are missing.
    """
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ConfigError(f"the file has no '{start}' ... '{end}' block; add the two markers "
                          f"where the table goes.")
    return pattern.sub(lambda _: f"{start}\n{block}{end}", text)


def check_block(path: str | Path, name: str, what: str) -> None:
    """Refuse, before any work, a file whose block ``name`` (:func:`replace_block`) cannot be
    rewritten: not an existing UTF-8 file, no such block, or not writable.

    :param what: how the path was given, for the message (e.g. ``"--readme"``).
    :raises ConfigError: saying which.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' does not exist or is not a file.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} '{path}' is not UTF-8 text.") from None
    check_output(path, what, ours=lambda _: True)
    try:
        replace_block(text, name, "")
    except ConfigError as e:
        raise ConfigError(f"{what} '{path}': {e}") from None


def write_block(path: str | Path, name: str, block: str) -> None:
    """Rewrite block ``name`` of the file at ``path`` (:func:`replace_block`) atomically."""
    write_text(path, replace_block(Path(path).read_text(encoding="utf-8"), name, block))


def csv_header(path: str | Path) -> list[str] | None:
    """The column names of the CSV file at ``path``; None when there is no such file or it is
    empty.

    :raises ConfigError: the file is not UTF-8 text (then it is no CSV pyrovae wrote).
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), None)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{path} is not a CSV text file ({type(e).__name__}); it was left as "
                          f"it is. Give another file.") from None
