"""Discretization, entropies and mutual information of discrete variables (in nats)."""

from __future__ import annotations

import torch


def bin_edges(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Inner edges ``[D, bins - 1]`` of ``bins`` equal-width bins over each column's range of
    ``x`` ``[N, D]`` (a constant column gets edges it never crosses)."""
    low, high = x.min(0).values, x.max(0).values
    width = torch.where(high > low, high - low, torch.ones_like(high))
    steps = torch.arange(1, bins, dtype=x.dtype) / bins
    return low[:, None] + width[:, None] * steps[None, :]


def bucketize(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin indices int64 ``[N, D]`` of ``x`` ``[N, D]`` for per-column inner ``edges``
    ``[D, B - 1]``: ``b`` such that ``edges[b - 1] <= x < edges[b]``, clipped to ``0..B - 1``."""
    return torch.stack([torch.bucketize(x[:, j].contiguous(), edges[j].contiguous(), right=True)
                        for j in range(x.shape[1])], 1)


def discretize(x: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """``x`` ``[N, D]`` as int64 bin indices in ``0..bins - 1``: ``bins`` equal-width bins over
    each column's range (the histogram discretization of Chen et al. 2018)."""
    return bucketize(x, bin_edges(x, bins))


def joint_counts(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Counts ``[A, B]`` of the pairs ``(a_n, b_n)`` of two int64 ``[N]`` tensors."""
    size_a, size_b = int(a.max()) + 1, int(b.max()) + 1
    counts = torch.bincount(a * size_b + b, minlength=size_a * size_b)
    return counts.reshape(size_a, size_b).double()


def entropy(a: torch.Tensor) -> float:
    """:math:`H(a) = -\\sum_v p(v) \\log p(v)` of the empirical distribution of int64 ``[N]``."""
    p = torch.bincount(a).double()
    p = p[p > 0] / a.numel()
    return float(-(p * p.log()).sum())


def mutual_info(a: torch.Tensor, b: torch.Tensor) -> float:
    """:math:`I(a; b) = \\sum_{u,v} p(u,v) \\log \\frac{p(u,v)}{p(u)p(v)}` of the empirical
    joint distribution of two int64 ``[N]`` tensors (the plug-in estimate)."""
    p = joint_counts(a, b) / a.numel()
    outer = p.sum(1, keepdim=True) * p.sum(0, keepdim=True)
    nonzero = p > 0
    return float((p[nonzero] * (p[nonzero] / outer[nonzero]).log()).sum())


def mutual_info_matrix(codes: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """float64 ``[D, K]``: :func:`mutual_info` of each discrete code column with each factor."""
    return torch.tensor([[mutual_info(codes[:, j], factors[:, k])
                          for k in range(factors.shape[1])] for j in range(codes.shape[1])],
                        dtype=torch.float64).reshape(codes.shape[1], factors.shape[1])


def normalized_entropy(p: torch.Tensor, dim: int) -> torch.Tensor:
    """Entropy along ``dim`` of the non-negative ``p`` normalized to sum 1 there, in units of
    ``log(size)``, so in ``[0, 1]`` (a slice of zeros counts as uniform: entropy 1)."""
    size = p.shape[dim]
    total = p.sum(dim, keepdim=True)
    q = torch.where(total > 0, p / total.clamp_min(1e-300), torch.full_like(p, 1.0 / size))
    terms = torch.where(q > 0, -q * q.clamp_min(1e-300).log(), torch.zeros_like(q))
    return terms.sum(dim) / (torch.log(torch.tensor(float(size))) if size > 1 else 1.0)
