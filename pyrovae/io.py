"""Atomic file writes: a crash or kill mid-write leaves the previous file whole."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import torch


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
        tmp.write_text(text)


def save_torch(obj, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_csv(frame, path: str | Path) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
