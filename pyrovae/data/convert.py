"""Data given in Python, as the tuple of tensors the engine trains and evaluates on."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from pyrovae.base.errors import DataError


def _stack(items, what: str) -> tuple[torch.Tensor, ...]:
    """Items (each a tensor or a tuple of tensors) stacked along a new first dim."""
    items = [tuple(item) if isinstance(item, (tuple, list)) else (item,) for item in items]
    if not items:
        raise DataError(f"{what} holds no data points: give at least one.")
    try:
        return tuple(torch.stack([torch.as_tensor(v) for v in column]) for column in zip(*items))
    except (RuntimeError, TypeError) as e:
        raise DataError(f"{what}: its items are not tensors of one shape ({e}).") from None


def as_tensors(data, what: str = "data") -> tuple[torch.Tensor, ...]:
    """``data`` as a tuple of tensors with one row per data point, the data first (then e.g.
    the labels): from a tensor, a tuple or list of tensors, a ``torch.utils.data.Dataset``
    (its items stacked) or a ``DataLoader`` (its batches concatenated, all in memory).

    :param what: how the data were given, for messages (e.g. ``"valid"``).
    :raises DataError: not one of these, no rows, or tensors of different numbers of rows.
    """
    if isinstance(data, torch.Tensor):
        tensors = (data,)
    elif isinstance(data, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in data):
        tensors = tuple(data)
    elif isinstance(data, DataLoader):
        batches = [(b,) if isinstance(b, torch.Tensor) else tuple(b) for b in data]
        if not batches:
            raise DataError(f"{what} holds no data points: give at least one.")
        tensors = tuple(torch.cat(column) for column in zip(*batches))
    elif isinstance(data, TorchDataset):
        tensors = _stack((data[i] for i in range(len(data))), what)
    else:
        raise DataError(f"{what} must be a tensor [N, ...], a tuple of tensors (data, labels), a "
                        f"torch Dataset or a DataLoader; got {type(data).__name__}.")
    if not tensors or tensors[0].dim() == 0 or tensors[0].shape[0] == 0:
        raise DataError(f"{what} has no data points: give a tensor [N, ...] with N >= 1.")
    rows = {t.shape[0] for t in tensors}
    if len(rows) > 1:
        raise DataError(f"the tensors of {what} have different numbers of rows "
                        f"({', '.join(str(t.shape[0]) for t in tensors)}): give one row per "
                        f"data point in each.")
    return tensors
