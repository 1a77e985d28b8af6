"""Matplotlib figures without pyplot: no global state, no GUI backend, written atomically."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pyrovae.base import io


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A figure of ``width`` x ``height`` inches, drawn by the Agg renderer when saved."""
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically; returns ``path``."""
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def is_figure(path: Path) -> bool:
    """Whether the file at ``path`` is a PNG that Matplotlib wrote (a figure pyrovae may
    replace)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return head.startswith(b"\x89PNG\r\n\x1a\n") and b"Matplotlib" in head
