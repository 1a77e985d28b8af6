"""Slicing a model's arguments into batches of data points, and checking the data first.

The data are the first positional argument (or the keyword ``x``), a tensor ``[N, *event_shape]``.
Every other tensor argument whose first dimension is ``N`` (labels, masks, ...) is sliced with it;
everything else is passed unchanged to every batch.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from pyrovae.base.errors import ConfigError, DataError, PyrovaeError

#: Elements of one data-shaped tensor (particles x data points x event) a tile aims at: 16M
#: floats, 64 MB in float32. Models hold a few such tensors at once.
TILE_ELEMENTS = 1 << 24


def unpacked(args: tuple) -> tuple:
    """The per-point arguments: ``args`` itself, or the tuple (or list) given as the only
    positional argument, the form ``pyrovae.fit`` takes its data in (``(x, labels)``)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return args


def data_tensor(args: tuple, kwargs: dict) -> torch.Tensor:
    """The data ``x``: the first positional argument, else the keyword ``x``.

    :raises DataError: there is no such tensor, it has no rows, or it holds NaN or Inf.
    """
    x = args[0] if args else kwargs.get("x")
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        raise DataError(
            "pass the data as the first argument (or as x=...): a tensor [N, *event_shape], "
            f"got {type(x).__name__}."
        )
    if x.shape[0] == 0:
        raise DataError("the data have no rows: pass at least one data point.")
    if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
        rows = ~torch.isfinite(x).reshape(x.shape[0], -1).all(1)
        raise DataError(
            f"x holds NaN or Inf in {int(rows.sum())} of {x.shape[0]} data points (the first is "
            f"row {int(rows.nonzero()[0, 0])}). Remove those points or fill in their values: "
            f"log p(x) of a NaN is not a number."
        )
    return x


def _describe(value) -> str:
    if not isinstance(value, torch.Tensor):
        return f"type {type(value).__name__}"
    return f"shape {tuple(value.shape)} and dtype {value.dtype}"


def _expected(name: str, program) -> str | None:
    """What a model or guide says it takes: its ``event_shape`` attribute and the dtype of its
    floating-point parameters, where it has them."""
    parts = []
    event_shape = getattr(program, "event_shape", None)
    if event_shape is not None:
        parts.append(f"takes data points of shape {tuple(event_shape)}")
    parameters = program.parameters() if isinstance(program, torch.nn.Module) else ()
    dtype = next((p.dtype for p in parameters if p.is_floating_point()), None)
    if dtype is not None:
        parts.append(f"has {dtype} parameters")
    return f"the {name} {' and '.join(parts)}" if parts else None


@contextmanager
def first_run(args: tuple, kwargs: dict, model=None, guide=None):
    """Run the block, the first run of ``model`` and ``guide`` on (a batch of) the arguments,
    turning the error of a program that cannot take them into a :class:`DataError` that names
    the arguments given and, where the programs say, what they take."""
    try:
        yield
    except PyrovaeError:
        raise
    except (ValueError, RuntimeError, IndexError, TypeError) as e:
        given = [f"x of {_describe(args[0] if args else kwargs.get('x'))}"]
        given += [f"argument {i + 1} of {_describe(a)}" for i, a in enumerate(args)
                  if i > 0 and isinstance(a, torch.Tensor)]
        given += [f"{k} of {_describe(v)}" for k, v in kwargs.items()
                  if k != "x" and isinstance(v, torch.Tensor)]
        expected = [t for t in (_expected("model", model), _expected("guide", guide)) if t]
        expected = f" ({'; '.join(expected)})" if expected else ""
        names = " and ".join(n for n, p in (("model", model), ("guide", guide)) if p is not None)
        lines = str(e).strip().splitlines()
        raise DataError(
            f"the {names} cannot run on {', '.join(given)}{expected}: "
            f"{type(e).__name__}: {lines[0] if lines else '(no message)'}. Pass x as "
            f"[N, *event_shape] with the shape and dtype the model was built for."
        ) from e


def map_rows(args: tuple, kwargs: dict, num_data: int, fn):
    """``(args, kwargs)`` with ``fn`` applied to every tensor whose first dimension is
    ``num_data`` (the per-data-point arguments); everything else unchanged."""

    def apply(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == num_data:
            return fn(value)
        return value

    return tuple(apply(a) for a in args), {k: apply(v) for k, v in kwargs.items()}


def slice_args(args: tuple, kwargs: dict, num_data: int, start: int, stop: int):
    """``(args, kwargs)`` with every tensor whose first dimension is ``num_data`` cut to rows
    ``start:stop``."""
    return map_rows(args, kwargs, num_data, lambda value: value[start:stop])


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
    """Raise ``ValueError`` unless ``value`` is None or a positive integer."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}.")


def event_numel(x: torch.Tensor) -> int:
    return math.prod(x.shape[1:])
