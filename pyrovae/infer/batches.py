"""A model's per-data-point arguments as batches: the one batching path of training, the valid
ELBO and :func:`pyrovae.infer.log_px`.

Two sources give the same :class:`Batch` es:

- :class:`InMemory`: tensors ``[N, ...]`` held in memory, cut into row slices (evaluation, in
  data order) or taken by index (training, in the loop's own random order, which is what makes
  a run reproducible and resumable bit for bit).
- :class:`Streamed`: the batches of a ``torch.utils.data.DataLoader``, built with the user's
  own ``collate_fn``, read one at a time and never held together: data larger than memory,
  sequences of different lengths with masks, packed sequences, dictionaries of tensors.

A streamed batch is the model's positional arguments: a tuple or list is taken apart, anything
else (a tensor, a dict, a ``PackedSequence``) is the one argument. Its number of data points is
the first dim of its first tensor (positional arguments first, then inside containers), which
the model's data plate must have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch.nn.utils.rnn import PackedSequence
from torch.utils.data import DataLoader, IterableDataset

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.infer.batching import data_tensor, map_rows, ranges, slice_args


@dataclass(frozen=True)
class Batch:
    """The arguments of one run of the model and guide on the data points ``rows``
    (``(start, stop)`` in the source's order; for a batch taken by index, ``(0, size)``)."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    rows: tuple[int, int] = (0, 0)

    @property
    def size(self) -> int:
        """The number of data points."""
        return self.rows[1] - self.rows[0]

    def to(self, device) -> Batch:
        """The batch with every tensor (and packed sequence) on ``device``; a no-op where they
        are there already."""
        return Batch(moved(self.args, device), moved(self.kwargs, device), self.rows)


def moved(value: Any, device) -> Any:
    """``value`` with the tensors and packed sequences it holds (in tuples, lists and dicts)
    moved to ``device``."""
    if isinstance(value, (torch.Tensor, PackedSequence)):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: moved(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(moved(v, device) for v in value)
    return value


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor ``value`` holds (itself, in tuples, lists and dicts, a packed sequence's
    data)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, PackedSequence):
        yield value.data
    elif isinstance(value, dict):
        for v in value.values():
            yield from tensors_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from tensors_in(v)


def cuda_devices(value: Any) -> list[torch.device]:
    """The CUDA devices of the tensors in ``value`` (for ``torch.random.fork_rng``)."""
    return sorted({t.device for t in tensors_in(value) if t.device.type == "cuda"}, key=str)


def first_tensor(value: Any) -> torch.Tensor | None:
    """The first tensor in ``value``, depth first through tuples, lists and dicts (a packed
    sequence's rows are not its data points: it is skipped)."""
    if isinstance(value, torch.Tensor):
        return value if value.dim() > 0 else None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)) and not isinstance(value, PackedSequence):
        for v in value:
            found = first_tensor(v)
            if found is not None:
                return found
    return None


def arguments(item: Any) -> tuple:
    """The model's positional arguments in a ``DataLoader``'s batch ``item``: a tuple or list
    taken apart, anything else the one argument."""
    if isinstance(item, (tuple, list)) and not hasattr(item, "_fields"):
        return tuple(item)
    return (item,)


class InMemory:
    """Per-point tensors held in memory: the data ``x`` first (or ``x=``), and every tensor
    argument whose first dim is ``N`` with it; other arguments go to every batch unchanged.

    :param batch_size: data points per batch of ``__iter__``.
    """

    streamed = False

    def __init__(self, args: tuple, kwargs: dict | None = None, batch_size: int = 100):
        self.args, self.kwargs = tuple(args), dict(kwargs or {})
        self.x = data_tensor(self.args, self.kwargs)
        self.num_data = self.x.shape[0]
        self.batch_size = batch_size

    @property
    def tensors(self) -> tuple:
        """The positional arguments (for in-memory training data: the tensors, data first)."""
        return self.args

    def __iter__(self) -> Iterator[Batch]:
        """The batches of :attr:`batch_size` consecutive rows, in order."""
        for start, stop in ranges(self.num_data, self.batch_size):
            yield Batch(*slice_args(self.args, self.kwargs, self.num_data, start, stop),
                        (start, stop))

    def __len__(self) -> int:
        return -(-self.num_data // self.batch_size)

    def first(self) -> Batch:
        """The first batch."""
        return next(iter(self))

    def take(self, index: torch.Tensor) -> Batch:
        """The batch of rows ``index`` (in that order)."""
        args, kwargs = map_rows(self.args, self.kwargs, self.num_data, lambda v: v[index])
        return Batch(args, kwargs, (0, len(index)))

    def mapped(self, fn, batch_size: int | None = None) -> InMemory:
        """The source of ``fn`` applied to every per-point tensor (e.g. a process's shard), in
        batches of ``batch_size`` (default: the same)."""
        args, kwargs = map_rows(self.args, self.kwargs, self.num_data, fn)
        return InMemory(args, kwargs, batch_size or self.batch_size)


class Streamed:
    """The batches of a ``DataLoader``, read as it yields them (its own batch size, order and
    ``collate_fn``); see the module docstring for what a batch holds.

    :param loader: a ``DataLoader`` whose dataset has a length (an ``IterableDataset`` says it
        with ``__len__``): the number of data points, which scales each batch's loss to the
        full data.
    :param what: how the data were given, for messages.
    """

    streamed = True

    def __init__(self, loader: DataLoader, what: str = "data"):
        if not isinstance(loader, DataLoader):
            raise DataError(f"{what} must be a DataLoader to be streamed; got "
                            f"{type(loader).__name__}.")
        try:
            self.num_data = len(loader.dataset)
        except TypeError:
            raise ConfigError(f"{what}: the DataLoader's dataset ({type(loader.dataset).__name__}) "
                              f"has no length; give it __len__ (its number of data points), "
                              f"which scales each batch to the full data.") from None
        if self.num_data < 1:
            raise DataError(f"{what} holds no data points: give at least one.")
        self.loader, self.what = loader, what
        self._first: Batch | None = None

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        """The loader's batches, in the order it gives them; ``rows`` count data points."""
        start = 0
        for item in self.loader:
            args = arguments(item)
            size = self.rows_of(args)
            yield Batch(args, {}, (start, start + size))
            start += size

    def rows_of(self, args: tuple) -> int:
        """The number of data points of a batch: the first dim of its first tensor."""
        found = first_tensor(args)
        if found is None:
            raise DataError(f"a batch of {self.what} holds no tensor with a first dim: the "
                            f"DataLoader's batches are the model's arguments, one of them a "
                            f"tensor with one row per data point (got "
                            f"{', '.join(type(a).__name__ for a in args)}).")
        return found.shape[0]

    def first(self) -> Batch:
        """The loader's first batch (read once, then kept)."""
        if self._first is None:
            self._first = next(iter(self), None)
            if self._first is None:
                raise DataError(f"{self.what} holds no data points: its DataLoader yields no "
                                f"batch.")
        return self._first


Batches = InMemory | Streamed


def streamed(data, batch_size: int, what: str = "data") -> Streamed | None:
    """``data`` as a :class:`Streamed` source when it is a ``DataLoader`` or an
    ``IterableDataset`` (batched by ``batch_size``); None for data to hold in memory."""
    if isinstance(data, IterableDataset):
        data = DataLoader(data, batch_size=batch_size)
    return Streamed(data, what) if isinstance(data, DataLoader) else None


def source(args: tuple, kwargs: dict, batch_size: int) -> Batches:
    """The batches of a model's arguments: :class:`Streamed` when the only one is a
    ``DataLoader`` (or an ``IterableDataset``), else :class:`InMemory` in batches of
    ``batch_size``."""
    if len(args) == 1 and not kwargs:
        found = streamed(args[0], batch_size)
        if found is not None:
            return found
    return InMemory(args, kwargs, batch_size)
