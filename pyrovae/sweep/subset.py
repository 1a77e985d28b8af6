"""Evaluating part of a split: points spread evenly over it, not its first rows (the binarized
MNIST test split is sorted by class, so its first rows are all zeros)."""

from __future__ import annotations

import dataclasses

import torch

from pyrovae.run import Built


def spread_indices(n: int, limit: int | None) -> torch.Tensor | None:
    """``limit`` distinct indices spread evenly over ``range(n)``, first and last included
    (``round(i (n-1)/(limit-1))``); None when ``limit`` is None or not below ``n``."""
    if limit is None or limit >= n:
        return None
    return torch.linspace(0, n - 1, limit, dtype=torch.float64).round().long()


def spread(built: Built, split: str, limit: int | None) -> tuple[Built, torch.Tensor | None]:
    """``built`` whose ``split`` (data, labels, factors) holds only :func:`spread_indices`, and
    those indices (None, and ``built`` itself, when the whole split is kept)."""
    data = built.data
    index = spread_indices(data.split(split).shape[0], limit)
    if index is None:
        return built, None

    def take(tensors: dict) -> dict:
        return {**tensors, split: tensors[split][index.to(tensors[split].device)]} \
            if split in tensors else tensors

    part = dataclasses.replace(data, splits=take(data.splits), labels=take(data.labels),
                               factors=take(data.factors))
    return dataclasses.replace(built, data=part), index
