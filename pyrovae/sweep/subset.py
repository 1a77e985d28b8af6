"""Evaluating part of a split: points spread evenly over it, not its first rows (the binarized
MNIST test split is sorted by class, so its first rows are all zeros)."""

from __future__ import annotations

import dataclasses

import torch

from pyrovae.data.splitting import spread_indices
from pyrovae.run import Built

__all__ = ["spread", "spread_indices"]


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
