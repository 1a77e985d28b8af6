"""Deterministic train/valid/test split of one array, and evenly spread subsets of a split."""

from __future__ import annotations

import torch


def split_indices(n: int, num_valid: int, num_test: int, seed: int) -> dict[str, torch.Tensor]:
    """Disjoint index tensors ``train``/``valid``/``test`` that together cover ``range(n)``.

    The indices come from one permutation drawn with a local generator seeded by ``seed``:
    ``valid`` takes ``num_valid`` of them, ``test`` ``num_test``, ``train`` the rest.

    :param n: number of data points.
    :param num_valid: size of the validation split.
    :param num_test: size of the test split.
    :param seed: seed of the permutation.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    num_train = n - num_valid - num_test
    return {
        "train": perm[:num_train],
        "valid": perm[num_train : num_train + num_valid],
        "test": perm[num_train + num_valid :],
    }


def spread_indices(n: int, limit: int | None) -> torch.Tensor | None:
    """``limit`` distinct indices spread evenly over ``range(n)``, first and last included
    (``round(i (n-1)/(limit-1))``); None when ``limit`` is None or not below ``n``. A class-sorted
    split (binarized MNIST's test set) keeps its mix of classes, unlike its first rows."""
    if limit is None or limit >= n:
        return None
    return torch.linspace(0, n - 1, limit, dtype=torch.float64).round().long()


def spread_rows(tensors, limit: int | None) -> tuple[tuple, torch.Tensor | None]:
    """``tensors`` (each with one row per data point) cut to the rows :func:`spread_indices`
    keeps, and those indices (the tensors themselves and None when ``limit`` keeps them all)."""
    tensors = tuple(tensors)
    index = spread_indices(tensors[0].shape[0], limit)
    if index is None:
        return tensors, None
    return tuple(t[index.to(t.device)] for t in tensors), index
