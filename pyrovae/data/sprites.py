"""Procedural 28x28 binary sprites with known generative factors (needs no file)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from pyrovae.base.options import PositiveInt
from pyrovae.data.dataset import Dataset
from pyrovae.data.factors import Factor
from pyrovae.data.shapes import SHAPES

NAME = "sprites"
#: The generative factors, the columns of :func:`sample_factors`.
FACTOR_NAMES = ("shape", "scale", "rotation", "pos_x", "pos_y")
CANVAS = 28
MAX_RADIUS = 10.0  # pixels: radius of the disc holding a shape of scale 1
MIN_SCALE = 0.6
MARGIN = 1.0  # pixels kept empty at the border, so no shape is ever clipped
SPLITS = ("train", "valid", "test")
#: The factors as the disentanglement metrics see them: the shape's class, and the continuous
#: factors cut into equal-width bins of their ranges (rotation: 8 bins of 45 degrees; as in
#: dSprites, a shape with rotational symmetry looks the same in several of them).
FACTORS = (
    Factor("shape", len(SHAPES)),
    Factor("scale", 6, MIN_SCALE, 1.0),
    Factor("rotation", 8, 0.0, 2 * math.pi),
    Factor("pos_x", 8, 0.0, 1.0),
    Factor("pos_y", 8, 0.0, 1.0),
)


def split_generator(seed: int, split: str) -> torch.Generator:
    """A local generator for ``split``: each split draws from its own stream of ``seed``."""
    sequence = np.random.SeedSequence([seed % 2**64, SPLITS.index(split)])
    return torch.Generator().manual_seed(int(sequence.generate_state(1, dtype=np.uint64)[0]))


def sample_factors(n: int, generator: torch.Generator) -> torch.Tensor:
    """Float32 ``[n, 5]`` factors, drawn independently and uniformly.

    Columns (see :data:`FACTOR_NAMES`): shape index in ``0..len(SHAPES)-1``; scale in
    ``[MIN_SCALE, 1]``; rotation in ``[0, 2 pi)`` radians, counter-clockwise; pos_x and pos_y in
    ``[0, 1]``: where the centre lies in the range that keeps the shape on the canvas at its
    scale (0 = leftmost / topmost, 1 = rightmost / bottommost).

    :param n: number of images.
    :param generator: source of randomness.
    """
    shape = torch.randint(len(SHAPES), (n,), generator=generator).float()
    scale = MIN_SCALE + (1 - MIN_SCALE) * torch.rand(n, generator=generator)
    rotation = 2 * math.pi * torch.rand(n, generator=generator)
    position = torch.rand(n, 2, generator=generator)
    return torch.stack([shape, scale, rotation, position[:, 0], position[:, 1]], dim=1)


def render(factors: torch.Tensor) -> torch.Tensor:
    """Float32 ``[n, 1, 28, 28]`` binary images of the sprites described by ``factors``.

    Each pixel centre is mapped back into the shape's canonical frame (translate, unrotate,
    unscale) and set to 1 where the shape's inside-test holds.

    :param factors: ``[n, 5]`` as returned by :func:`sample_factors`.
    """
    shape, scale, rotation, pos_x, pos_y = (c[:, None, None] for c in factors.unbind(dim=1))
    radius = scale * MAX_RADIUS
    low, travel = radius + MARGIN, CANVAS - 2 * (radius + MARGIN)
    pixel = torch.arange(CANVAS, dtype=torch.float32) + 0.5
    dx = (pixel[None, None, :] - (low + pos_x * travel)) / radius
    dy = ((low + pos_y * travel) - pixel[None, :, None]) / radius  # rows grow downwards
    cos, sin = torch.cos(rotation), torch.sin(rotation)
    u, v = cos * dx + sin * dy, cos * dy - sin * dx
    images = torch.zeros(len(factors), CANVAS, CANVAS, dtype=torch.bool)
    for index, inside in enumerate(SHAPES.values()):
        chosen = shape[:, 0, 0] == index
        images[chosen] = inside(u[chosen], v[chosen])
    return images.float().unsqueeze(1)


def load(
    data_dir: Path,
    cache_dir: Path,
    seed: int,
    *,
    num_train: PositiveInt = 10000,
    num_valid: PositiveInt = 1000,
    num_test: PositiveInt = 1000,
) -> Dataset:
    """Generate the sprites dataset; the same ``seed`` gives bit-identical tensors.

    :param data_dir: unused.
    :param cache_dir: unused.
    :param seed: seed of the three per-split random streams.
    :param num_train: number of training images (likewise ``num_valid``, ``num_test``).
    """
    sizes = {"train": num_train, "valid": num_valid, "test": num_test}
    factors = {
        split: sample_factors(n, split_generator(seed, split))
        for split, n in sizes.items()
    }
    return Dataset(
        name=NAME,
        splits={split: render(f) for split, f in factors.items()},
        labels={split: f[:, 0].long() for split, f in factors.items()},
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_table=FACTORS,
        event_shape=(1, CANVAS, CANVAS),
        binary=True,
        num_classes=len(SHAPES),
        source=f"generated, seed={seed}, shapes: {', '.join(SHAPES)}",
    )
