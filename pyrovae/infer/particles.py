"""Where the particles of a tile go, checked on the user's program rather than assumed.

Three layouts run ``C`` particles for a batch of ``n`` data points:

- ``"vectorized"``: one run inside a particle plate, left of the program's own plates; every
  tensor of the program gets a leading particle dim (``[C, n, ...]``). Fast, but a layer written
  for ``[batch, features]`` tensors can break (``BatchNorm1d`` raises) or, worse, compute
  something else without a sign: ``softmax(h, dim=1)`` normalizes over the data points.
- ``"batch"``: one run on the batch repeated ``C`` times along the data dim (``[C n, ...]``,
  particle-major), the layout every ``[batch, features]`` network handles; it needs every
  latent site inside the data plate (a global latent would be shared by all particles).
- ``"loop"``: ``C`` runs on the batch, one particle each; always what the program means.

:func:`pyrovae.infer.tiles.choose_layout` runs the first tile in the fastest layout and
compares a few of its particles' log weights with runs of one particle on the same draws
(:func:`particle_values`, :func:`replay_trace`); a layout that raises or differs gives way to
the next.
"""

from __future__ import annotations

import pyro.poutine as poutine
import torch

from pyrovae.base.errors import ConfigError
from pyrovae.infer.batching import map_rows
from pyrovae.infer.sites import latent_sites, plate_dim

#: How the particles of a tile run: in one particle plate, folded into the data batch, or one
#: at a time.
LAYOUTS = ("vectorized", "batch", "loop")
#: Two log weights agree when they differ by at most this times (1 + their magnitude): float32
#: rounding of a sum of thousands of terms stays far below it, a softmax over the wrong dim not.
TOLERANCE = 1e-4


def check_layout(particles) -> None:
    """Raise :class:`~pyrovae.base.errors.ConfigError` unless ``particles`` is None or one of
    :data:`LAYOUTS`."""
    if particles is not None and particles not in LAYOUTS:
        raise ConfigError(f"particles must be one of {', '.join(LAYOUTS)} (or None: checked on "
                         f"the first tile), got {particles!r}.")


def repeated(args: tuple, kwargs: dict, num_rows: int, copies: int):
    """``(args, kwargs)`` with every tensor whose first dim is ``num_rows`` repeated ``copies``
    times along it (particle-major: row ``p * num_rows + i`` is row ``i``)."""
    return map_rows(args, kwargs, num_rows,
                    lambda value: value.repeat(copies, *([1] * (value.dim() - 1))))


def particle_values(trace, layout: str, particle: int, particle_dim: int, data_plate: str,
                    num_rows: int) -> dict[str, torch.Tensor]:
    """The latent values of one particle, from a trace run in ``layout``: the particle's slice
    along the particle dim (``"vectorized"``) or its block of ``num_rows`` rows along the data
    plate's dim (``"batch"``)."""
    values = {}
    for name, site in latent_sites(trace).items():
        value, event_dim = site["value"], len(site["fn"].event_shape)
        if layout == "vectorized":
            values[name] = value.select(particle_dim - event_dim, particle)
        else:
            dim = plate_dim(site, data_plate) - event_dim
            values[name] = value.narrow(dim, particle * num_rows, num_rows)
    return values


def replay_trace(trace, values: dict[str, torch.Tensor]) -> poutine.Trace:
    """A trace of ``trace``'s latent sites holding ``values``, for ``poutine.replay``; without
    its plates' subsample sites, which a replay would size the plates by."""
    out = poutine.Trace()
    for name, value in values.items():
        out.add_node(name, **{**trace.nodes[name], "value": value})
    return out


def agree(vectorized: torch.Tensor, reference: torch.Tensor) -> bool:
    """Whether two ``[n]`` log weights agree to :data:`TOLERANCE`."""
    slack = TOLERANCE * (1 + reference.abs())
    return bool(((vectorized - reference).abs() <= slack).all())


def probes(size: int) -> list[int]:
    """The particles compared: the first, the middle and the last."""
    return sorted({0, size // 2, size - 1})
