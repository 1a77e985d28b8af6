"""Pictures of a trained model: prior samples and reconstructions, for image-shaped data.

Works on any model/guide pair through traces: the observed sites are found by tracing the model
on data, then their distributions' means are drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from pyro import poutine

from pyrovae.base import io
from pyrovae.checks import observed_sites_on


def as_images(x: torch.Tensor) -> torch.Tensor | None:
    """``x`` as ``[N, C, H, W]`` with C in (1, 3), or None when it is not image-shaped."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        return None
    return x.float().clamp(0, 1)


def _mean(site) -> torch.Tensor:
    try:
        return site["fn"].mean
    except NotImplementedError:
        return site["value"]


@torch.no_grad()
def prior_means(model, n: int, names) -> torch.Tensor:
    """Means of :math:`p(x \\mid z)` for ``n`` draws :math:`z \\sim p(z)` (first observed site)."""
    trace = poutine.trace(model).get_trace(None, batch_size=n)
    return _mean(trace.nodes[names[0]])


@torch.no_grad()
def reconstruction_means(model, guide, *batch) -> torch.Tensor:
    """Means of :math:`p(x \\mid z)` for :math:`z \\sim q(z \\mid x)`, one per data point."""
    guide_trace = poutine.trace(guide).get_trace(*batch)
    trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*batch)
    names = list(observed_sites_on(model, *batch))
    return _mean(trace.nodes[names[0]])


def make_grid(images: torch.Tensor, nrow: int, padding: int = 1, pad_value: float = 0.5) -> torch.Tensor:
    """Tile ``[N, C, H, W]`` images into one ``[C, H', W']`` image, ``nrow`` images per row."""
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = images.new_full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding),
                           pad_value)
    for i in range(n):
        top, left = (i // nrow) * (h + padding) + padding, (i % nrow) * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = images[i]
    return grid


def label_rows(image: Image.Image, labels, row_height: int, padding: int = 1) -> Image.Image:
    """``image`` (a grid of rows ``row_height`` pixels apart) with a white margin on the left
    where row ``i`` is labelled ``labels[i]`` in black."""
    draw = ImageDraw.Draw(image)
    width = int(max(draw.textlength(str(label)) for label in labels)) + 6
    out = Image.new(image.mode, (image.width + width, image.height), 255 if image.mode == "L"
                    else (255, 255, 255))
    out.paste(image, (width, 0))
    draw = ImageDraw.Draw(out)
    for i, label in enumerate(labels):
        top, bottom = draw.textbbox((0, 0), str(label))[1::2]
        y = padding + i * row_height + (row_height - padding - (bottom - top)) // 2 - top
        draw.text((3, y), str(label), fill=0 if image.mode == "L" else (0, 0, 0))
    return out


def save_png(images: torch.Tensor, path: Path, nrow: int, row_labels=None) -> None:
    """Write ``[N, C, H, W]`` images in [0, 1] as one PNG grid, atomically; ``row_labels``
    (one text per row of the grid) are written in a margin on the left."""
    grid = (make_grid(images.detach().float().cpu(), nrow) * 255).round().to(torch.uint8)
    image = Image.fromarray(grid.permute(1, 2, 0).squeeze(-1).numpy())
    if row_labels:
        image = label_rows(image, row_labels, images.shape[2] + 1)
    with io.atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def save_pictures(model, guide, batch: tuple[torch.Tensor, ...], run_dir: Path,
                  seed: int = 0, num: int = 64) -> list[Path]:
    """Write ``samples.png`` (prior samples) and ``reconstructions.png`` (rows of inputs above
    their reconstructions) into ``run_dir``; returns the paths written (none for non-images).

    Draws from a forked RNG seeded with ``seed``, so the run's own random stream is untouched.
    """
    if as_images(batch[0][:1]) is None:
        return []
    written = []
    with torch.random.fork_rng(devices=[batch[0].device] if batch[0].is_cuda else []):
        torch.manual_seed(seed)
        names = list(observed_sites_on(model, *(t[:2] for t in batch)))
        try:
            samples = as_images(prior_means(model, num, names))
        except (TypeError, ValueError, AttributeError):
            samples = None  # the model needs more than a batch size to sample (e.g. labels)
        if samples is not None:
            save_png(samples.cpu(), run_dir / "samples.png", nrow=int(math.sqrt(num)))
            written.append(run_dir / "samples.png")
        rows = max(1, min(4, batch[0].shape[0] // 8))
        inputs = tuple(t[: 8 * rows] for t in batch)
        orig = as_images(inputs[0])
        recon = as_images(reconstruction_means(model, guide, *inputs))
        # rows of 8 inputs, each followed by the row of their reconstructions
        grid = torch.stack([orig.unflatten(0, (rows, -1)), recon.unflatten(0, (rows, -1))], 1)
        grid = grid.flatten(0, 2)
        save_png(grid.cpu(), run_dir / "reconstructions.png", nrow=8)
        written.append(run_dir / "reconstructions.png")
    return written
