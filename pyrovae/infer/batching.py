"""Slicing a model's arguments into batches of data points.

The data are the first positional argument (or the keyword ``x``), a tensor ``[N, *event_shape]``.
Every other tensor argument whose first dimension is ``N`` (labels, masks, ...) is sliced with it;
everything else is passed unchanged to every batch.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import torch

#: Elements of one data-shaped tensor (particles x data points x event) a tile aims at: 16M
#: floats, 64 MB in float32. Models hold a few such tensors at once.
TILE_ELEMENTS = 1 << 24


def data_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    """The data ``x``: the first positional argument, else the keyword ``x``."""
    x = args[0] if args else kwargs.get("x")
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        raise ValueError(
            "pass the data as the first argument (or as x=...): a tensor [N, *event_shape], "
            f"got {type(x).__name__}."
        )
    if x.shape[0] == 0:
        raise ValueError("the data have no rows: pass at least one data point.")
    return x


def slice_args(args: tuple, kwargs: dict, num_data: int, start: int, stop: int):
    """``(args, kwargs)`` with every tensor whose first dimension is ``num_data`` cut to rows
    ``start:stop``."""

    def cut(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == num_data:
            return value[start:stop]
        return value

    return tuple(cut(a) for a in args), {k: cut(v) for k, v in kwargs.items()}


def default_batch_size(num_data: int, event_numel: int, num_samples: int) -> int:
    """Data points per batch so that a tile of ``min(num_samples, 64)`` particles stays within
    :data:`TILE_ELEMENTS` elements."""
    per_point = event_numel * min(num_samples, 64)
    return max(1, min(num_data, TILE_ELEMENTS // max(per_point, 1)))


def default_particle_chunk(batch_size: int, event_numel: int, num_samples: int) -> int:
    """Particles per tile so that ``particles * batch_size * event_numel`` stays within
    :data:`TILE_ELEMENTS` elements."""
    return max(1, min(num_samples, TILE_ELEMENTS // max(batch_size * event_numel, 1)))


def ranges(total: int, step: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of ``step`` covering ``range(total)``."""
    for start in range(0, total, step):
        yield start, min(start + step, total)


def check_positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def event_numel(x: torch.Tensor) -> int:
    return math.prod(x.shape[1:])
