"""Run a model/guide pair tile by tile: a chunk of particles for a batch of data points.

Each tile traces the guide inside an outer particle plate and replays the model on the guide's
trace (or, for the prior proposal, traces the model alone), under ``torch.no_grad()``, with
its own seed (:mod:`pyrovae.infer.rng`), and reduces every site's ``log_prob`` to one value per
particle and data point.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterator

import pyro
import pyro.poutine as poutine
import torch

from pyrovae.errors import ConfigError
from pyrovae.infer import batching, rng
from pyrovae.infer.sites import (
    Structure,
    check_structure,
    latent_sites,
    observed_sites,
    site_log_prob,
    sum_log_probs,
)

PROPOSALS = ("guide", "prior")


@dataclass
class Tile:
    """Log densities of ``particles`` for the data points ``rows`` (both ``(start, stop)``).

    :param model_trace: the model's trace (``None`` unless asked for: it holds the tile's
        tensors).
    :param guide_trace: the guide's trace (``None`` unless asked for, or for the prior proposal).
    :param log_likelihood: ``[C, n]`` sum of the observed sites' log densities.
    :param log_prior: ``[C, n]`` sum of the model's latent sites' log densities, ``None`` for
        the prior proposal.
    :param log_guide: ``[C, n]`` sum of the guide's log densities, ``None`` for the prior
        proposal.
    """

    rows: tuple[int, int]
    particles: tuple[int, int]
    structure: Structure
    model_trace: object
    guide_trace: object
    log_likelihood: torch.Tensor
    log_prior: torch.Tensor | None
    log_guide: torch.Tensor | None

    @property
    def log_weight(self) -> torch.Tensor:
        """``[C, n]`` importance log weights :math:`\\log p(x_n, z_k) - \\log q(z_k \\mid x_n)`
        (for the prior proposal, :math:`\\log p(x_n \\mid z_k)`)."""
        if self.log_prior is None:
            return self.log_likelihood
        return self.log_likelihood + self.log_prior - self.log_guide


def in_particle_plate(fn, size: int, dim: int):
    """``fn`` run inside a plate of ``size`` particles at batch dim ``dim``."""

    def wrapped(*args, **kwargs):
        with pyro.plate("_particles", size, dim=dim):
            return fn(*args, **kwargs)

    return wrapped


def _trace_pair(model, guide, args, kwargs, proposal, particles=None):
    """``(model_trace, guide_trace)``; ``particles=(size, dim)`` wraps both in a particle plate."""
    if particles is not None:
        model = in_particle_plate(model, *particles)
        guide = None if guide is None else in_particle_plate(guide, *particles)
    with poutine.block():
        if proposal == "prior":
            return poutine.trace(model).get_trace(*args, **kwargs), None
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
        return model_trace, guide_trace


def tile_plan(x: torch.Tensor, num_samples: int, batch_size, particle_chunk,
              memory_factor: int = 1) -> tuple[int, int]:
    """``(batch_size, particle_chunk)``, filling in the defaults of :mod:`batching` for tiles
    that take ``memory_factor`` times the memory of an importance-sampling tile."""
    batching.check_positive("num_samples", num_samples)
    batching.check_positive("batch_size", batch_size)
    batching.check_positive("particle_chunk", particle_chunk)
    num_data, numel = x.shape[0], memory_factor * batching.event_numel(x)
    if batch_size is None:
        batch_size = batching.default_batch_size(num_data, numel, num_samples)
    batch_size = min(batch_size, max(num_data, 1))
    if particle_chunk is None:
        particle_chunk = batching.default_particle_chunk(batch_size, numel, num_samples)
    return batch_size, min(particle_chunk, num_samples)


def iter_tiles(
    model,
    guide,
    args: tuple,
    kwargs: dict,
    *,
    num_samples: int,
    data_plate: str = "data",
    proposal: str = "guide",
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    keep_traces: bool = False,
    base_seed: int | None = None,
) -> Iterator[Tile]:
    """Yield the :class:`Tile` s covering ``num_samples`` particles for every data point, batch
    by batch (outer loop) and particle chunk by chunk (inner loop).

    Draws one base seed from the global RNG when iteration starts (unless given); tile
    ``(rows, particles)`` runs under :func:`rng.tile_seed` ``(base, 1, rows.start,
    particles.start)``. A first probe run
    (no particle plate, on the first batch) checks that the pair takes the data
    (:func:`~pyrovae.infer.batching.first_run`), checks the pair with
    :func:`~pyrovae.infer.sites.check_structure` and finds the plate nesting. Distribution
    arguments are validated (when Pyro's validation is on) in the first chunk of each batch only.

    :param proposal: ``"guide"`` (sample latents from the guide) or ``"prior"`` (from the model).
    :param keep_traces: keep each tile's traces in :class:`Tile`.
    :param base_seed: the base seed of the tiles, instead of a draw from the global RNG.
    :raises DataError: the data hold NaN or Inf, or the pair cannot run on the arguments.
    :raises ModelSpecError: the pair does not follow the protocol (see ``check_structure``).
    """
    if proposal not in PROPOSALS:
        raise ConfigError(f"proposal must be one of {PROPOSALS}, got {proposal!r}.")
    if proposal == "guide" and guide is None:
        raise ConfigError("proposal='guide' needs a guide; pass one or use proposal='prior'.")
    x = batching.data_tensor(args, kwargs)
    num_data, device = x.shape[0], x.device
    batch_size, particle_chunk = tile_plan(x, num_samples, batch_size, particle_chunk)
    base = rng.draw_base_seed() if base_seed is None else base_seed

    structure = None
    for start, stop in batching.ranges(num_data, batch_size):
        batch_args, batch_kwargs = batching.slice_args(args, kwargs, num_data, start, stop)
        if structure is None:
            structure = _probe(model, guide, args, kwargs, (batch_args, batch_kwargs, stop - start),
                               proposal, data_plate, rng.tile_seed(base, 0), device)
        for k0, k1 in batching.ranges(num_samples, particle_chunk):
            seed = rng.tile_seed(base, 1, start, k0)
            yield _run_tile(
                model, guide, batch_args, batch_kwargs, proposal, data_plate, structure,
                (start, stop), (k0, k1), seed, device, keep_traces,
            )


@torch.no_grad()
def _probe(model, guide, args, kwargs, batch, proposal, data_plate, seed, device) -> Structure:
    """The :class:`Structure` of the pair, from its first run on ``batch``, the first batch's
    ``(args, kwargs, number of rows)``."""
    batch_args, batch_kwargs, num_rows = batch
    with rng.seeded(seed, device), batching.first_run(args, kwargs, model, guide):
        model_trace, guide_trace = _trace_pair(model, guide, batch_args, batch_kwargs, proposal)
    structure = check_structure(model_trace, guide_trace, data_plate, num_rows)
    # a shape the trace let through surfaces in the densities the tiles compute
    with batching.first_run(args, kwargs, model, guide):
        for site in observed_sites(model_trace).values():
            site_log_prob(site, scaled=False)
    return structure


@torch.no_grad()
def _run_tile(
    model, guide, args, kwargs, proposal, data_plate, structure, rows, particles, seed, device,
    keep_traces,
) -> Tile:
    size, particle_dim = particles[1] - particles[0], structure.particle_dim
    # Arguments are validated with the first chunk of each batch; later chunks see the same data.
    validation = nullcontext() if particles[0] == 0 else pyro.validation_enabled(False)
    with rng.seeded(seed, device), validation:
        model_trace, guide_trace = _trace_pair(
            model, guide, args, kwargs, proposal, (size, particle_dim)
        )
    like = torch.empty(size, rows[1] - rows[0], device=device)
    log_lik = sum_log_probs(observed_sites(model_trace), particle_dim, data_plate, like)
    log_prior = log_guide = None
    if proposal == "guide":
        log_prior = sum_log_probs(latent_sites(model_trace), particle_dim, data_plate, like)
        log_guide = sum_log_probs(latent_sites(guide_trace), particle_dim, data_plate, like)
    if not keep_traces:
        model_trace = guide_trace = None
    return Tile(
        rows, particles, structure, model_trace, guide_trace, log_lik, log_prior, log_guide
    )
