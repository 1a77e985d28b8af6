"""The 2-D latent scatter: posterior means, projected on their first two principal
components when there are more than two dimensions, coloured by label."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch

from pyrovae.plots.figure import new_figure, save_figure


def pca2(x: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Coordinates of ``x`` ``[N, D]`` (D > 2) on its first two principal components (from the
    SVD of the centred data, float64) and the share of variance each explains."""
    x = x.double()
    centred = x - x.mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    share = (s**2 / (s**2).sum()).tolist()
    return centred @ vh[:2].T, share[:2]


def save_latent_scatter(means: torch.Tensor, labels: torch.Tensor | None, path: Path,
                        site: str = "z") -> Path:
    """Scatter of posterior means ``[N, D]``: the two coordinates for D = 2, PCA for D > 2, the
    coordinate against the label (or 0) for D = 1; coloured by ``labels`` when given."""
    fig = new_figure(5.5, 4.5)
    ax = fig.add_subplot()
    dim = means.shape[1]
    if dim > 2:
        xy, share = pca2(means)
        names = [f"PC{i + 1} of E[{site}|x] ({100 * v:.0f}% of variance)" for i, v in enumerate(share)]
    elif dim == 2:
        xy, names = means.double(), [f"E[{site}|x]_1", f"E[{site}|x]_2"]
    else:
        ys = labels.double() if labels is not None else torch.zeros(len(means), dtype=torch.float64)
        xy = torch.stack([means[:, 0].double(), ys], 1)
        names = [f"E[{site}|x]", "label" if labels is not None else ""]
    xy = xy.cpu().numpy()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.6)
    else:
        y = labels.cpu().numpy()
        classes = np.unique(y)
        if len(classes) <= 20:
            cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for i, c in enumerate(classes):
                ax.scatter(*xy[y == c].T, s=6, alpha=0.7, color=cmap(i), label=str(c))
            ax.legend(title="label", markerscale=2, fontsize="small", loc="best")
        else:
            points = ax.scatter(xy[:, 0], xy[:, 1], c=y, s=6, cmap="viridis")
            fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(f"posterior means of {len(xy)} points")
    return save_figure(fig, path)
