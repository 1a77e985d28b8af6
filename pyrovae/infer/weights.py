"""Per-datapoint importance log weights, materialized as one ``[K, N]`` tensor."""

from __future__ import annotations

import torch

from pyrovae.infer import batching
from pyrovae.infer.tiles import iter_tiles


def log_weights(
    model,
    guide,
    *args,
    num_samples: int,
    data_plate: str | None = None,
    proposal: str = "guide",
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    **kwargs,
) -> torch.Tensor:
    """Importance log weights of ``num_samples`` particles for every data point.

    :math:`w_{kn} = \\log p(x_n, z_{kn}) - \\log q(z_{kn} \\mid x_n)` with
    :math:`z_{kn} \\sim q(z \\mid x_n)` (``proposal="guide"``), or
    :math:`w_{kn} = \\log p(x_n \\mid z_{kn})` with :math:`z_{kn} \\sim p(z)`
    (``proposal="prior"``). Each site's ``log_prob`` is summed over every dim but the particle
    and data-plate dims; sites outside the data plate (global latents) count for every data
    point. The particles are drawn as :func:`pyrovae.infer.log_px` draws them, so for the same
    seed and tiling the two see the same weights.

    :param model: a model following the pyrovae protocol (a ``pyro.plate(data_plate, N)``).
    :param guide: a guide sampling the model's latent sites (unused for ``proposal="prior"``).
    :param args: the data ``x`` ``[N, *event_shape]`` first, then any extra model arguments;
        tensors with first dim ``N`` are batched with ``x``. A tuple ``(x, labels)`` given
        alone is taken apart, as :func:`pyrovae.fit` takes its data.
    :param num_samples: ``K``, particles per data point.
    :param data_plate: name of the model's data plate (None: found by its size).
    :param proposal: ``"guide"`` or ``"prior"``.
    :param batch_size: data points per tile (default: see :mod:`pyrovae.infer.batching`).
    :param particle_chunk: particles per tile (default: see :mod:`pyrovae.infer.batching`).
    :param kwargs: extra keyword arguments of the model and guide.
    :returns: float64 tensor ``[K, N]`` on the data's device.
    :raises ModelGuideError: the model and guide do not fit the protocol or each other.
    """
    args = batching.unpacked(args)
    x = batching.data_tensor(args, kwargs)
    out = torch.empty(num_samples, x.shape[0], dtype=torch.float64, device=x.device)
    for tile in iter_tiles(
        model,
        guide,
        args,
        kwargs,
        num_samples=num_samples,
        data_plate=data_plate,
        proposal=proposal,
        batch_size=batch_size,
        particle_chunk=particle_chunk,
    ):
        out[tile.particles[0] : tile.particles[1], tile.rows[0] : tile.rows[1]] = tile.log_weight
    return out
