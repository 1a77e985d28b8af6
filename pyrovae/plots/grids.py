"""Image grids of the latent space: traversals of each latent dimension and interpolations
between pairs of inputs, decoded through the model (see :mod:`pyrovae.plots.latents`)."""

from __future__ import annotations

from pathlib import Path

import torch

from pyrovae.data import Dataset
from pyrovae.metrics import discretize, entropy, mutual_info_matrix
from pyrovae.pictures import as_images, save_png
from pyrovae.plots.latents import decode

MAX_ROWS = 32


def traversal_dims(means: torch.Tensor, max_rows: int = MAX_ROWS) -> torch.Tensor:
    """The latent dimensions a traversal shows: all of them, or the ``max_rows`` whose posterior
    means vary most across data points (in that order) when there are more."""
    if means.shape[1] <= max_rows:
        return torch.arange(means.shape[1])
    return means.var(0).argsort(descending=True)[:max_rows]


def factor_labels(means: torch.Tensor, data: Dataset, split: str, dims: torch.Tensor,
                  site: str = "z", bins: int = 20) -> list[str] | None:
    """For each dimension ``d`` of ``dims``, ``"z[d] ~ FACTOR (s)"``: the factor the posterior
    means ``[N, D]`` of the split's points capture best, by the share of its entropy,
    :math:`s = I(z_d; v_k) / H(v_k)` (``bins`` equal-width bins, as for MIG); None when the
    dataset carries no factors."""
    if not data.factor_table or split not in data.factors:
        return None
    factors = data.factor_classes(split).cpu()
    heights = torch.tensor([entropy(factors[:, k]) for k in range(factors.shape[1])])
    share = mutual_info_matrix(discretize(means.double().cpu(), bins), factors) / \
        heights.clamp_min(1e-12)
    labels = []
    for d in dims.tolist():
        k = int(share[d].argmax())
        labels.append(f"{site}[{d}] ~ {data.factor_table[k].name} ({float(share[d, k]):.2f})")
    return labels


def save_traversals(model, site: str, base: torch.Tensor, dims: torch.Tensor, path: Path, *extra,
                    like: torch.Tensor, steps: int = 9, span: float = 3.0,
                    labels=None) -> Path:
    """One row per dimension ``d`` of ``dims``: the decoded ``base`` (a posterior mean ``[D]``)
    with coordinate ``d`` set to each of ``steps`` values evenly spaced over [-span, span];
    ``labels`` (one text per row, e.g. :func:`factor_labels`) in a margin on the left."""
    values = torch.linspace(-span, span, steps, dtype=base.dtype, device=base.device)
    z = base.repeat(len(dims), steps, 1)
    z[torch.arange(len(dims))[:, None], torch.arange(steps)[None, :], dims[:, None].to(z.device)] = values
    z = z.reshape(-1, base.shape[0])
    images = as_images(decode(model, site, z, *(e[:1].expand(len(z), *e.shape[1:]) for e in extra),
                              like=like))
    save_png(images.cpu(), path, nrow=steps, row_labels=labels)
    return Path(path)


def pick_pairs(labels: torch.Tensor | None, n: int, num_pairs: int) -> list[tuple[int, int]]:
    """Up to ``num_pairs`` index pairs (a, b) of inputs to interpolate between: the a spread over
    ``range(n)``, each b the first point half-way round from a whose label differs (any other
    point when there are no labels); deterministic, empty for ``n < 2``."""
    pairs = []
    for i in range(min(num_pairs, n // 2) if n >= 2 else 0):
        a = (i * n) // min(num_pairs, n // 2)
        order = [(a + n // 2 + j) % n for j in range(n)]
        differ = [j for j in order if j != a and (labels is None or labels[j] != labels[a])]
        pairs.append((a, differ[0] if differ else order[0] if order[0] != a else (a + 1) % n))
    return pairs


def save_interpolations(model, site: str, means: torch.Tensor, inputs: torch.Tensor,
                        pairs, path: Path, *extra, steps: int = 8) -> Path:
    """One row per pair (a, b): input a, the decoded means of
    :math:`(1-t)\\mu_a + t\\mu_b` for ``steps`` values of t in [0, 1], input b."""
    t = torch.linspace(0, 1, steps, dtype=means.dtype, device=means.device)[:, None]
    rows = []
    for a, b in pairs:
        z = (1 - t) * means[a] + t * means[b]
        args = (e[a:a + 1].expand(steps, *e.shape[1:]) for e in extra)
        path_images = as_images(decode(model, site, z, *args, like=inputs))
        rows += [as_images(inputs[a:a + 1]), path_images, as_images(inputs[b:b + 1])]
    save_png(torch.cat(rows).cpu(), path, nrow=steps + 2)
    return Path(path)
