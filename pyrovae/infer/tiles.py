"""Run a model/guide pair tile by tile: a chunk of particles for a batch of data points.

Each tile traces the guide inside an outer particle plate and replays the model on the guide's
trace (or, for the prior proposal, traces the model alone), under ``torch.no_grad()``, with
its own seed (:mod:`pyrovae.infer.rng`), and reduces every site's ``log_prob`` to one value per
particle and data point.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterator

import pyro
import pyro.poutine as poutine
import torch

from pyrovae.base.errors import ConfigError, ModelGuideError
from pyrovae.infer import batches, batching, rng
from pyrovae.infer.batches import first_tensor
from pyrovae.infer.particles import (
    LAYOUTS,
    agree,
    check_layout,
    particle_values,
    probes,
    repeated,
    replay_trace,
)
from pyrovae.infer.sites import (
    Structure,
    check_structure,
    latent_sites,
    observed_sites,
    site_log_prob,
    sum_log_probs,
)

PROPOSALS = ("guide", "prior")
_VECTORIZED_ADVICE = ("a layer mixes the particles (softmax or normalization over dim 1, say); "
                      "write it for any number of leading dims (dim=-1), or use importance "
                      "sampling, which checks and falls back to another layout")
#: Particles of the first batch run to choose the layout (:func:`choose_layout`): several, so
#: that a layer mixing particles shows, and few, so that the check costs a small part of a tile.
CHECKED_PARTICLES = 8


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
    :param layout: where the particles ran (:data:`pyrovae.infer.particles.LAYOUTS`); the
        traces are those of the vectorized layout only.
    """

    rows: tuple[int, int]
    particles: tuple[int, int]
    structure: Structure
    model_trace: object
    guide_trace: object
    log_likelihood: torch.Tensor
    log_prior: torch.Tensor | None
    log_guide: torch.Tensor | None
    layout: str = "vectorized"

    @property
    def log_weight(self) -> torch.Tensor:
        """``[C, n]`` importance log weights :math:`\\log p(x_n, z_k) - \\log q(z_k \\mid x_n)`
        (for the prior proposal, :math:`\\log p(x_n \\mid z_k)`)."""
        return _log_weight(self.log_likelihood, self.log_prior, self.log_guide)


def in_particle_plate(fn, size: int, dim: int):
    """``fn`` run inside a plate of ``size`` particles at batch dim ``dim``."""

    def wrapped(*args, **kwargs):
        with pyro.plate("_particles", size, dim=dim):
            return fn(*args, **kwargs)

    return wrapped


def _trace_pair(model, guide, args, kwargs, proposal, particles=None, replay_from=None):
    """``(model_trace, guide_trace)``; ``particles=(size, dim)`` wraps both in a particle plate;
    ``replay_from``, a trace, gives the proposal's program its latent values. ``model=None``
    runs the guide alone (model trace None)."""
    if particles is not None:
        model = None if model is None else in_particle_plate(model, *particles)
        guide = None if guide is None else in_particle_plate(guide, *particles)
    with poutine.block():
        if proposal == "prior":
            if replay_from is not None:
                model = poutine.replay(model, trace=replay_from)
            return poutine.trace(model).get_trace(*args, **kwargs), None
        if replay_from is not None:
            guide = poutine.replay(guide, trace=replay_from)
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        if model is None:
            return None, guide_trace
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
    data_plate: str | None = None,
    proposal: str = "guide",
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    keep_traces: bool | str = False,
    base_seed: int | None = None,
    particles: str | None = None,
) -> Iterator[Tile]:
    """Yield the :class:`Tile` s covering ``num_samples`` particles for every data point, batch
    by batch (outer loop) and particle chunk by chunk (inner loop).

    The batches are those of :func:`pyrovae.infer.batches.source`: ``args`` cut into
    ``batch_size`` rows, or, when ``args`` is one ``DataLoader``, its own batches (``batch_size``
    is then unused).

    Draws one base seed from the global RNG when iteration starts (unless given); tile
    ``(rows, particles)`` runs under :func:`rng.tile_seed` ``(base, 1, rows.start,
    particles.start)``. A first probe run
    (no particle plate, on the first batch) checks that the pair takes the data
    (:func:`~pyrovae.infer.batching.first_run`), checks the pair with
    :func:`~pyrovae.infer.sites.check_structure` and finds the plate nesting. Then the first
    tile's particles are run in the first layout of :data:`~pyrovae.infer.particles.LAYOUTS`
    whose log weights equal those of single particles on the same draws (:func:`choose_layout`,
    one line says so when it is not the vectorized one), and every tile uses it. Distribution
    arguments are validated (when Pyro's validation is on) in the first chunk of each batch only.

    :param data_plate: name of the model's data plate; None finds it by its size
        (:func:`~pyrovae.infer.sites.find_data_plate`), and every tile's ``structure`` names it.
    :param proposal: ``"guide"`` (sample latents from the guide) or ``"prior"`` (from the model).
    :param keep_traces: keep each tile's traces in :class:`Tile` (vectorized layout only; a
        string names what needs them in the error raised when the first tile's vectorized log
        weights differ from those of single particles: ``"AIS"``).
    :param base_seed: the base seed of the tiles, instead of a draw from the global RNG.
    :param particles: force a layout (``"vectorized"``, ``"batch"`` or ``"loop"``) instead of
        checking.
    :raises DataError: the data hold NaN or Inf, or the pair cannot run on the arguments.
    :raises ModelGuideError: the pair does not follow the protocol (see ``check_structure``),
        ``particles="batch"`` with a latent site outside the data plate, or ``keep_traces``
        where the vectorized layout is not faithful.
    """
    if proposal not in PROPOSALS:
        raise ConfigError(f"proposal must be one of {PROPOSALS}, got {proposal!r}.")
    if proposal == "guide" and guide is None:
        raise ConfigError("proposal='guide' needs a guide; pass one or use proposal='prior'.")
    check_layout(particles)
    if keep_traces and particles not in (None, "vectorized"):
        raise ConfigError(f"keep_traces needs the vectorized particle layout, not {particles!r}.")
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size),
                        ("particle_chunk", particle_chunk)):
        batching.check_positive(name, value)
    data = batches.source(args, kwargs, batch_size or 1)
    # before the first batch is read: a shuffling DataLoader draws from the global RNG
    base = rng.draw_base_seed() if base_seed is None else base_seed
    first = data.first()
    x = first_tensor((first.args, first.kwargs)) if data.streamed else data.x
    device = x.device
    if data.streamed:  # the loader's batches; the first one's size sets the particle chunk
        particle_chunk = particle_chunk or tile_plan(x, num_samples, first.size, None)[1]
    else:
        batch_size, particle_chunk = tile_plan(x, num_samples, batch_size, particle_chunk)
        data.batch_size = batch_size

    structure = layout = None
    for batch in data:
        batch_args, batch_kwargs, (start, stop) = batch.args, batch.kwargs, batch.rows
        if structure is None:
            given = (batch_args, batch_kwargs) if data.streamed else (args, kwargs)
            structure = _probe(model, guide, *given, (batch_args, batch_kwargs, stop - start),
                               proposal, data_plate, rng.tile_seed(base, 0), device)
            data_plate = structure.data_plate
            if particles == "batch" and structure.global_latents:
                raise ModelGuideError(_global_latents(structure))
            layout = particles
            if layout is None and keep_traces:
                fault = layout_fault(model, guide, batch_args, batch_kwargs, proposal,
                                     data_plate, structure, min(particle_chunk, CHECKED_PARTICLES),
                                     rng.tile_seed(base, 2), device, "vectorized")
                if fault is not None:
                    what = keep_traces if isinstance(keep_traces, str) else "keep_traces " \
                        "keeps the traces of one vectorized run"
                    raise ModelGuideError(f"{what}, but {fault}: {_VECTORIZED_ADVICE}.")
                layout = "vectorized"
            if layout is None:
                layout, reason = choose_layout(
                    model, guide, batch_args, batch_kwargs, proposal, data_plate, structure,
                    min(particle_chunk, CHECKED_PARTICLES), rng.tile_seed(base, 2), device)
                if layout != "vectorized":
                    warnings.warn(f"pyrovae: the particles of log p(x) run in the {layout} "
                                  f"layout: {reason}.", stacklevel=2)
        for k0, k1 in batching.ranges(num_samples, particle_chunk):
            seed = rng.tile_seed(base, 1, start, k0)
            yield _run_tile(
                model, guide, batch_args, batch_kwargs, proposal, data_plate, structure,
                (start, stop), (k0, k1), seed, device, keep_traces, layout,
            )


def _global_latents(structure: Structure) -> str:
    names = ", ".join(f"'{n}'" for n in structure.global_latents)
    return (f"the batch particle layout folds the particles into the data batch, but latent "
            f"site(s) {names} lie outside the data plate and would be shared by the particles: "
            f"use particles='loop' or 'vectorized'.")


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


def _densities(model_trace, guide_trace, particle_dim: int, data_plate: str, shape, device):
    """``(log_lik, log_prior, log_guide)`` of the traces, each ``shape`` float64 (the last two
    None without a guide trace)."""
    like = torch.empty(shape, device=device)
    if model_trace is None:  # the guide alone: its log-density is all there is to compare
        zero = torch.zeros(shape, dtype=torch.float64, device=device)
        return zero, zero, sum_log_probs(latent_sites(guide_trace), particle_dim, data_plate,
                                         like)
    log_lik = sum_log_probs(observed_sites(model_trace), particle_dim, data_plate, like)
    if guide_trace is None:
        return log_lik, None, None
    return (log_lik, sum_log_probs(latent_sites(model_trace), particle_dim, data_plate, like),
            sum_log_probs(latent_sites(guide_trace), particle_dim, data_plate, like))


def _run_layout(model, guide, args, kwargs, proposal, data_plate, structure, size, num_rows,
                layout, device):
    """``(model_trace, guide_trace, log_lik, log_prior, log_guide)`` of ``size`` particles for
    ``num_rows`` data points run in ``layout``, the densities ``[size, num_rows]`` float64 (the
    traces: those of the one run, None for the loop)."""
    particle_dim = structure.particle_dim

    def densities(model_trace, guide_trace, shape):
        return _densities(model_trace, guide_trace, particle_dim, data_plate, shape, device)

    if layout == "vectorized":
        traces = _trace_pair(model, guide, args, kwargs, proposal, (size, particle_dim))
        return (*traces, *densities(*traces, (size, num_rows)))
    if layout == "batch":
        traces = _trace_pair(model, guide, *repeated(args, kwargs, num_rows, size), proposal)
        parts = densities(*traces, (1, size * num_rows))
        return (*traces, *(p if p is None else p.reshape(size, num_rows) for p in parts))
    parts = [densities(*_trace_pair(model, guide, args, kwargs, proposal), (1, num_rows))
             for _ in range(size)]
    return (None, None, *(None if parts[0][i] is None else torch.cat([p[i] for p in parts])
                          for i in range(3)))


def _log_weight(log_lik, log_prior, log_guide):
    return log_lik if log_prior is None else log_lik + log_prior - log_guide


@torch.no_grad()
def layout_fault(model, guide, args, kwargs, proposal, data_plate, structure, size, seed,
                 device, layout: str) -> str | None:
    """Why ``layout`` does not run ``size`` particles on the batch ``(args, kwargs)`` as the
    program means (None when it does): it raises, or the log weights of the first, middle or
    last particle differ from those of a run of that particle alone on the same draws (to
    :data:`~pyrovae.infer.particles.TOLERANCE`). ``model=None`` checks the guide alone, by
    its log-density."""
    num_rows = first_tensor((args, kwargs)).shape[0]
    if layout == "batch" and structure.global_latents:
        return "the batch layout cannot hold latent sites outside the data plate"
    try:
        with rng.seeded(seed, device):
            model_trace, guide_trace, *parts = _run_layout(
                model, guide, args, kwargs, proposal, data_plate, structure, size, num_rows,
                layout, device)
    except Exception as e:  # a layer that cannot take this layout's shapes
        line = (str(e).strip().splitlines() or ["(no message)"])[0][:200]
        return f"the {layout} layout raised {type(e).__name__}: {line}"
    weights = _log_weight(*parts)
    source = guide_trace if proposal == "guide" else model_trace
    for p in probes(size):
        values = particle_values(source, layout, p, structure.particle_dim, data_plate,
                                 num_rows)
        with rng.seeded(seed, device):
            alone = _trace_pair(model, guide, args, kwargs, proposal,
                                replay_from=replay_trace(source, values))
        reference = _log_weight(*_densities(*alone, structure.particle_dim, data_plate,
                                            (1, num_rows), device))
        if not agree(weights[p], reference[0]):
            return (f"the {layout} layout's log weights differ from those of one particle at "
                    f"a time")
    return None


def vectorized_fault(model, guide, args: tuple, kwargs: dict, size: int,
                     data_plate: str | None = None, seed: int = 0) -> str | None:
    """Why ``size`` particles of the pair, run in one particle plate on the batch ``(args,
    kwargs)``, would not each get the log weight of a run alone (:func:`layout_fault`); None
    when they do. The random streams are left as they were; the modules' buffers are not (a
    caller in training keeps them)."""
    device = first_tensor((args, kwargs)).device
    structure = _probe(model, guide, args, kwargs, (args, kwargs, first_tensor(
        (args, kwargs)).shape[0]), "guide", data_plate, rng.tile_seed(seed, 0), device)
    return layout_fault(model, guide, args, kwargs, "guide", structure.data_plate, structure,
                        size, rng.tile_seed(seed, 2), device, "vectorized")


def choose_layout(model, guide, args, kwargs, proposal, data_plate, structure, size, seed,
                  device) -> tuple[str, str | None]:
    """The first layout of :data:`~pyrovae.infer.particles.LAYOUTS` that runs ``size``
    particles on the batch ``(args, kwargs)`` as the program means (:func:`layout_fault`),
    ``"loop"`` when none does; and why the ones before it were passed over (None for the
    vectorized one)."""
    reasons = []
    for layout in LAYOUTS[:-1]:
        fault = layout_fault(model, guide, args, kwargs, proposal, data_plate, structure, size,
                             seed, device, layout)
        if fault is None:
            return layout, "; ".join(reasons) or None
        reasons.append(fault)
    return "loop", "; ".join(reasons)


@torch.no_grad()
def _run_tile(
    model, guide, args, kwargs, proposal, data_plate, structure, rows, particles, seed, device,
    keep_traces, layout="vectorized",
) -> Tile:
    size, num_rows = particles[1] - particles[0], rows[1] - rows[0]
    # Arguments are validated with the first chunk of each batch; later chunks see the same data.
    validation = nullcontext() if particles[0] == 0 else pyro.validation_enabled(False)
    with rng.seeded(seed, device), validation:
        model_trace, guide_trace, log_lik, log_prior, log_guide = _run_layout(
            model, guide, args, kwargs, proposal, data_plate, structure, size, num_rows, layout,
            device)
    if not keep_traces:
        model_trace = guide_trace = None
    return Tile(rows, particles, structure, model_trace, guide_trace, log_lik, log_prior,
                log_guide, layout)
