"""Checks every loaded dataset passes before the engine sees it."""

from __future__ import annotations

import torch

from pyrovae.base.errors import DataError
from pyrovae.data.dataset import MISSING_LABEL, Dataset


def is_binary(x: torch.Tensor) -> bool:
    """Whether every value of ``x`` is exactly 0 or 1."""
    return bool(((x == 0) | (x == 1)).all())


def check_finite(x: torch.Tensor, what: str, fix: str) -> None:
    """Raise :class:`DataError` if ``x`` holds a NaN or an infinity.

    :param x: tensor ``[N, ...]`` whose first axis indexes data points.
    :param what: what ``x`` is, for the message (e.g. ``"split 'train' of dataset 'file'"``).
    :param fix: sentence telling the user how to repair the data.
    """
    # A finite sum proves every value finite; only overflow or a bad value makes it non-finite.
    if not x.is_floating_point() or torch.isfinite(x.sum()):
        return
    flat = x.reshape(x.shape[0], -1)
    nan, inf = torch.isnan(flat), torch.isinf(flat)
    bad_rows = (nan | inf).any(dim=1).nonzero().flatten()
    if bad_rows.numel():
        raise DataError(
            f"{what} contains {int(nan.sum())} NaN and {int(inf.sum())} Inf values in "
            f"{bad_rows.numel()} data points; the first bad data point is index "
            f"{int(bad_rows[0])}. {fix}"
        )


def _check_split(dataset: Dataset, split: str, x: torch.Tensor, fix: str) -> None:
    what = f"split '{split}' of dataset '{dataset.name}'"
    if x.dtype != torch.float32 or x.ndim < 1 or x.shape[0] < 1:
        raise DataError(
            f"{what} must be a float32 tensor [N, *event_shape] with N >= 1, "
            f"got {x.dtype} of shape {tuple(x.shape)}. {fix}"
        )
    if tuple(x.shape[1:]) != tuple(dataset.event_shape):
        raise DataError(
            f"{what} has data points of shape {tuple(x.shape[1:])}, but the dataset's "
            f"event_shape is {tuple(dataset.event_shape)}; every split must agree. {fix}"
        )
    check_finite(x, what, f"Remove or replace those values in the source data. {fix}")
    if dataset.binary and not is_binary(x):
        raise DataError(f"{what} is marked binary but holds values other than 0 and 1. {fix}")


def _check_labels(dataset: Dataset, split: str, y: torch.Tensor, fix: str) -> None:
    what = f"labels of split '{split}' of dataset '{dataset.name}'"
    n = dataset.splits[split].shape[0]
    if y.dtype != torch.int64 or tuple(y.shape) != (n,):
        raise DataError(
            f"{what} must be an int64 tensor of shape ({n},) (one per data point), "
            f"got {y.dtype} of shape {tuple(y.shape)}. {fix}"
        )
    given = y[y != MISSING_LABEL]
    if given.numel() == 0:
        return
    low, high = int(given.min()), int(given.max())
    if low < 0 or high >= dataset.num_classes:
        raise DataError(
            f"{what} range from {low} to {high}, but num_classes={dataset.num_classes} allows "
            f"only 0..{dataset.num_classes - 1}. {fix}"
        )


def _check_factors(dataset: Dataset, split: str, f: torch.Tensor, fix: str) -> None:
    what = f"factors of split '{split}' of dataset '{dataset.name}'"
    expected = (dataset.splits[split].shape[0], len(dataset.factor_names))
    if f.dtype != torch.float32 or tuple(f.shape) != expected:
        raise DataError(
            f"{what} must be a float32 tensor of shape {expected} (one row per data point, one "
            f"column per factor name), got {f.dtype} of shape {tuple(f.shape)}. {fix}"
        )
    check_finite(f, what, fix)


def validate_dataset(dataset: Dataset) -> Dataset:
    """Return ``dataset`` unchanged after checking it, or raise :class:`DataError`.

    Checks: at least one split; float32 data ``[N, *event_shape]`` with ``N >= 1``; no NaN or
    Inf; ``binary`` holds; labels int64 ``[N]`` in ``0..num_classes-1``; factors ``[N, F]``, with
    a factor table of the same names.

    :param dataset: the dataset a loader built.
    """
    fix = f"Check the data it was loaded from ({dataset.source or 'unknown source'})."
    if not dataset.splits:
        raise DataError(f"dataset '{dataset.name}' has no splits. {fix}")
    for split, x in dataset.splits.items():
        _check_split(dataset, split, x, fix)
    for kind, tensors in (("labels", dataset.labels), ("factors", dataset.factors)):
        unknown = sorted(set(tensors) - set(dataset.splits))
        if unknown:
            raise DataError(
                f"dataset '{dataset.name}' has {kind} for splits {unknown} that hold no data; "
                f"its splits are {list(dataset.splits)}. {fix}"
            )
    for split, y in dataset.labels.items():
        _check_labels(dataset, split, y, fix)
    for split, f in dataset.factors.items():
        _check_factors(dataset, split, f, fix)
    names = tuple(f.name for f in dataset.factor_table)
    if dataset.factor_table and names != tuple(dataset.factor_names):
        raise DataError(f"dataset '{dataset.name}' has a factor table of {list(names)} but factor "
                        f"names {list(dataset.factor_names)}; they must agree. {fix}")
    return dataset
