"""Tensor helpers shared by the declarative models and their guides."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cat_features(*tensors: torch.Tensor | None) -> torch.Tensor:
    """Concatenate feature vectors along the last dim, broadcasting their batch dims.

    Latent samples may carry extra leading dims (particles, an enumerated label) that the data
    do not: ``[C, N, d]`` and ``[N, D]`` concatenate to ``[C, N, d + D]``. ``None`` entries
    are skipped.
    """
    parts = [t for t in tensors if t is not None]
    batch = torch.broadcast_shapes(*(t.shape[:-1] for t in parts))
    return torch.cat([t.expand(*batch, t.shape[-1]) for t in parts], dim=-1)


def one_hot(labels: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """``labels`` (int64, any shape) as one-hot vectors of ``like``'s dtype and device."""
    return F.one_hot(labels, num_classes).to(dtype=like.dtype, device=like.device)


def cycled_labels(n: int, num_classes: int, device) -> torch.Tensor:
    """Labels ``0, 1, ..., C-1, 0, 1, ...`` for ``n`` draws of a conditional model without
    given labels (prior samples show every class in turn)."""
    return torch.arange(n, device=device) % num_classes


def flatten_batch(x: torch.Tensor, event_dims: int) -> tuple[torch.Tensor, torch.Size]:
    """``x`` reshaped to ``[B, *event]`` for layers that take one batch dim, and its batch
    shape (to undo it with ``y.reshape(*batch, *y.shape[1:])``)."""
    batch = x.shape[: x.dim() - event_dims]
    return x.reshape(-1, *x.shape[x.dim() - event_dims:]), batch
