"""Batches of data points that share the value of one factor, drawn from a dataset.

The beta-VAE and FactorVAE scores fix one factor and draw the others at random; with a dataset
instead of its generator, a batch is drawn among the points whose factor ``k`` equals that of a
random anchor point. For factors drawn independently (sprites, dSprites), this is a draw from
the generator with factor ``k`` fixed.

A batch is drawn without replacement when its group (the points sharing the anchor's value)
holds at least ``size`` points; a smaller group is drawn with replacement, and with
``pairs=True`` the two points of each pair (first half, second half) are still distinct. Every
class of every factor must hold at least 2 points (a pair of identical points, or a batch of
one point repeated, would differ by nothing and give the vote away); for batches without any
repeat, N must be at least ``size`` times the largest number of classes (e.g. 64 x 40 = 2560
points for dSprites' orientation with FactorVAE's defaults; 128 x 40 for the beta-VAE score).
"""

from __future__ import annotations

import torch

from pyrovae.base.errors import DataError


def check_groups(factors: torch.Tensor, what: str) -> None:
    """Refuse factors with a class of a single point (see the module's note), in one line."""
    for k in range(factors.shape[1]):
        counts = torch.bincount(factors[:, k])
        counts = counts[counts > 0]
        if int(counts.min()) < 2:
            raise DataError(f"{what} needs at least 2 data points in every class of every "
                            f"factor; factor {k} has a class with 1 point among {len(factors)}. "
                            f"Use more data points or bin the factor more coarsely.")


def distinct_offsets(counts: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """``size`` distinct offsets in ``0..counts[v] - 1`` for each row ``v``, int64
    ``[V, size]`` (needs ``counts >= size``), uniformly without replacement: the ``i``-th draw
    picks a rank among the ``counts - i`` offsets not yet drawn, and steps over the drawn ones
    in ascending order."""
    uniform = torch.rand(counts.shape[0], size, generator=gen, dtype=torch.float64)
    drawn = torch.empty(counts.shape[0], 0, dtype=torch.int64)
    out = torch.empty(counts.shape[0], size, dtype=torch.int64)
    for i in range(size):
        offset = (uniform[:, i] * (counts - i)).long()
        for j in range(i):  # drawn sorted ascending: skip each one at or below the offset
            offset += (drawn[:, j] <= offset).long()
        drawn = torch.sort(torch.cat([drawn, offset[:, None]], 1), 1).values
        out[:, i] = offset
    return out


def group_offsets(counts: torch.Tensor, size: int, pairs: bool,
                  gen: torch.Generator) -> torch.Tensor:
    """Offsets ``[V, size]`` into groups of ``counts`` ``[V]`` points (see the module's note)."""
    offsets = (torch.rand(counts.shape[0], size, generator=gen, dtype=torch.float64)
               * counts[:, None]).long()
    if pairs:  # the second point of a pair: one of the other counts - 1 points
        half = size // 2
        other = (torch.rand(counts.shape[0], half, generator=gen, dtype=torch.float64)
                 * (counts[:, None] - 1)).long()
        offsets[:, half:] = other + (other >= offsets[:, :half]).long()
    large = counts >= size
    if bool(large.any()):
        offsets[large] = distinct_offsets(counts[large], size, gen)
    return offsets


def same_factor_batches(factors: torch.Tensor, num: int, size: int, gen: torch.Generator, *,
                        pairs: bool = False):
    """``num`` batches of ``size`` point indices, each sharing the value of one factor.

    :param factors: int64 ``[N, K]``, every class with at least 2 points (:func:`check_groups`).
    :param pairs: the batch is ``size / 2`` pairs (first half, second half) of distinct points.
    :returns: the fixed factor of each batch, int64 ``[num]``, and the indices ``[num, size]``.
    """
    n, num_factors = factors.shape
    chosen = torch.randint(num_factors, (num,), generator=gen)
    anchors = torch.randint(n, (num,), generator=gen)
    indices = torch.empty(num, size, dtype=torch.int64)
    for k in range(num_factors):
        votes = torch.nonzero(chosen == k).flatten()
        if votes.numel() == 0:
            continue
        values, order = torch.sort(factors[:, k], stable=True)
        starts = torch.searchsorted(values, factors[anchors[votes], k])
        ends = torch.searchsorted(values, factors[anchors[votes], k], right=True)
        offsets = group_offsets(ends - starts, size, pairs, gen)
        indices[votes] = order[starts[:, None] + offsets]
    return chosen, indices
