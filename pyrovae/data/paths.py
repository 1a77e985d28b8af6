"""Where datasets are read from, where caches and downloads are written, and file lookup."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DATA_DIR_ENV = "PYROVAE_DATA_DIR"
CACHE_DIR_ENV = "PYROVAE_CACHE_DIR"
# How a user sets the data directory, for messages.
DATA_DIR_SETTINGS = f"data.dir (or --data-dir, ${DATA_DIR_ENV})"


def default_data_dir() -> Path:
    """The data directory: ``$PYROVAE_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data").expanduser()


def default_cache_dir() -> Path:
    """The cache directory: ``$PYROVAE_CACHE_DIR`` if set, else ``~/.cache/pyrovae``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or "~/.cache/pyrovae").expanduser()


def absent_dir(directory: Path) -> str:
    """``"<directory> does not exist; "`` if it does not, else ``""``: the start of the reason
    a message about files missing from ``directory`` gives."""
    return "" if directory.is_dir() else f"{directory} does not exist; "


def find_file(dirs: list[Path], name: str) -> Path | None:
    """The first of ``dir/name`` or ``dir/name.gz`` that exists, over ``dirs`` in order.

    :param dirs: directories to search, most preferred first.
    :param name: file name without a ``.gz`` suffix.
    """
    for directory in dirs:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def writable_dir(candidates: list[Path]) -> Path | None:
    """The first of ``candidates`` that exists or can be created, and accepts a new file.

    :param candidates: directories to try, most preferred first.
    """
    for directory in candidates:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError:
            continue
        return directory
    return None
