"""Binary copies of slow-to-parse source files, keyed by the source's size and mtime."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from pyrovae.base.io import atomic_write
from pyrovae.data.paths import CACHE_DIR_ENV

CACHE_FORMAT = 1


def cache_path(cache_dir: Path, dataset: str, source: Path) -> Path:
    """The cache file for ``source``: one per source path, so a changed source overwrites it.

    :param cache_dir: root cache directory.
    :param dataset: dataset name, used as a subdirectory.
    :param source: the file the cached tensor was parsed from.
    """
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]
    return cache_dir / dataset / f"{source.name.split('.')[0]}-{digest}.pt"


def source_key(source: Path) -> dict:
    """What identifies the version of ``source`` a cache entry was made from."""
    stat = source.stat()
    return {
        "format": CACHE_FORMAT,
        "source": str(source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }


def load_cached(path: Path, key: dict) -> torch.Tensor | None:
    """The tensor cached at ``path`` if its key equals ``key``, else ``None``.

    An unreadable or stale cache file counts as absent; the caller re-parses and overwrites it.
    """
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, weights_only=True)
    except Exception:
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    return entry.get("data")


def save_cached(path: Path, key: dict, data: torch.Tensor) -> None:
    """Write ``data`` with ``key`` to ``path`` atomically (temp file, then rename).

    A cache that cannot be written only costs speed, so this warns instead of raising.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as file:
            torch.save({"key": key, "data": data}, file)
    except OSError as error:
        warnings.warn(
            f"could not write the dataset cache '{path}' ({error}); every load will re-parse "
            f"the source. Point ${CACHE_DIR_ENV} (or cache_dir=) at a writable directory.",
            stacklevel=3,
        )
