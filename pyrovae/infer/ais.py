"""Annealed importance sampling (AIS) of :math:`\\log p(x)` per data point, with HMC transitions.

Each chain anneals from the initial distribution :math:`\\pi_0 = q(z \\mid x)` (or the prior) to
the posterior :math:`\\pi_1 \\propto p(x, z)` along the geometric path
:math:`\\pi_\\beta \\propto q^{1-\\beta} p(x, z)^\\beta` (Neal, 2001; Wu et al., 2017), tile by
tile like :func:`~pyrovae.infer.log_px` (a batch of data points, a chunk of chains), drawing its
initial states as ``log_px`` draws its particles. The HMC step sizes are tuned on a pilot run of
separate chains and then frozen, so the transitions are fixed before the chains are drawn and
:math:`\\mathbb E[e^w] = p(x)` holds exactly.
"""

from __future__ import annotations

import bisect
import math
import numbers

import torch
from tqdm.auto import tqdm

from pyrovae.base.errors import ConfigError
from pyrovae.infer import batching, rng
from pyrovae.infer.hmc import adapt_step_size, hmc_step
from pyrovae.infer.latents import Layout, check_continuous
from pyrovae.infer.potential import Potential
from pyrovae.infer.sites import latent_sites, plate_dim
from pyrovae.infer.tiles import iter_tiles, tile_plan

#: Chains per data point when ``num_samples`` is not given.
DEFAULT_CHAINS = 16
#: AIS tiles hold a backward graph: their default memory budget is this many times smaller
#: than that of importance sampling's tiles.
MEMORY_FACTOR = 3


def sigmoid_schedule(steps: int, sharpness: float = 4.0) -> list[float]:
    """:math:`0 = \\beta_0 < \\dots < \\beta_T = 1` (``T = steps``):
    :math:`\\sigma(\\delta(2t/T - 1))` rescaled to :math:`[0, 1]`, denser at both ends than a
    linear schedule (Grosse et al., 2015)."""
    raw = [1 / (1 + math.exp(-sharpness * (2 * t / steps - 1))) for t in range(steps + 1)]
    return [(b - raw[0]) / (raw[-1] - raw[0]) for b in raw]


def pilot_transitions(steps: int, target_accept: float | None) -> int:
    """HMC transitions of the pilot run of :func:`tune`: :math:`\\max(10, \\lfloor T/10
    \\rfloor)`, or 0 where nothing is tuned (``target_accept=None`` or ``T = 1``)."""
    return 0 if target_accept is None or steps < 2 else max(10, steps // 10)


def evaluations(steps: int, leapfrog: int, target_accept: float | None = 0.65) -> int:
    """Evaluations of model and initial distribution per chain:
    :math:`1 + (T-1)L` for the run plus :math:`1 + PL` for its pilot (:func:`pilot_transitions`
    ``P``). All but one are with gradients, each about twice a forward-only evaluation."""
    pilot = pilot_transitions(steps, target_accept)
    return 1 + (steps - 1) * leapfrog + (1 + pilot * leapfrog if pilot else 0)


class StepSchedule:
    """Step sizes ``[n]`` as a function of :math:`\\beta`: :math:`\\log\\epsilon` interpolated
    linearly between the pilot's points ``betas`` (``log_eps`` ``[P, n]``), constant beyond."""

    def __init__(self, betas: list[float], log_eps: torch.Tensor):
        self.betas, self.log_eps = betas, log_eps

    def __call__(self, beta: float) -> torch.Tensor:
        i = bisect.bisect_right(self.betas, beta)
        if i == 0 or i == len(self.betas):
            return self.log_eps[min(i, len(self.betas) - 1)].exp()
        lo, hi = self.betas[i - 1], self.betas[i]
        weight = (beta - lo) / (hi - lo)
        return ((1 - weight) * self.log_eps[i - 1] + weight * self.log_eps[i]).exp()


def tune(potential, u, step_size, *, steps, leapfrog, target_accept, bar=None) -> StepSchedule:
    """The pilot run: chains started at ``u`` ``[C, n, D]`` (a draw from :math:`\\pi_0`,
    independent of the chains of the real run) anneal along the coarse schedule of
    :func:`sigmoid_schedule` with :func:`pilot_transitions` ``P`` transitions, the step size of
    each point adapting after every transition toward ``target_accept``
    (:func:`~pyrovae.infer.hmc.adapt_step_size`); the adapted step sizes, against
    :math:`\\beta`, make the returned :class:`StepSchedule`.

    :param step_size: ``[n]`` initial step sizes.
    """
    betas = sigmoid_schedule(pilot_transitions(steps, target_accept) + 1)[1:-1]
    state, eps, table = potential(u, grad=True), step_size, []
    for beta in betas:
        state, prob = hmc_step(potential, state, beta, eps, leapfrog)
        eps = adapt_step_size(eps, prob, target_accept)
        table.append(eps.log())
        if bar is not None:
            bar.update(1)
    return StepSchedule(betas, torch.stack(table))


def anneal(potential, u, betas, step_size, *, leapfrog, bar=None):
    """AIS log weights of chains started at ``u`` ``[C, n, D]`` (a draw from
    :math:`\\pi_{\\beta_0}`) along ``betas``:

    .. math:: w = \\sum_{t=1}^{T} (\\beta_t - \\beta_{t-1})
        \\left[\\log p(x, z_{t-1}) - \\log q(z_{t-1})\\right],

    with :math:`z_t` from an HMC transition leaving :math:`\\pi_{\\beta_t}` invariant
    (:func:`~pyrovae.infer.hmc.hmc_step`) for :math:`t < T`, its step size
    ``step_size(beta_t)`` fixed in advance (it must not depend on these chains). Forward
    (:math:`\\beta` from 0 to 1), :math:`\\mathbb E[e^w] = p(x)`; reverse (from 1 to 0, started
    at an exact posterior draw), :math:`\\mathbb E[e^w] = 1/p(x)`.

    :param potential: the tile's :class:`~pyrovae.infer.potential.Potential`.
    :param step_size: a :class:`StepSchedule` (or any map from :math:`\\beta` to ``[n]`` step
        sizes).
    :returns: ``(w [C, n], mean acceptance probability [n])``.
    """
    steps = len(betas) - 1
    state = potential(u, grad=steps > 1)
    log_w = torch.zeros(u.shape[:2], dtype=torch.float64, device=u.device)
    accepted = torch.zeros(u.shape[1], dtype=torch.float64, device=u.device)
    for t in range(1, steps + 1):
        log_w = log_w + (betas[t] - betas[t - 1]) * state.log_ratio
        if t < steps:
            state, prob = hmc_step(potential, state, betas[t], step_size(betas[t]), leapfrog)
            accepted = accepted + prob.mean(0)
        if bar is not None:
            bar.update(1)
    acceptance = accepted / (steps - 1) if steps > 1 else torch.full_like(accepted, math.nan)
    return log_w, acceptance


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) or (
        isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point())


def check_settings(*, steps, leapfrog, step_size, target_accept) -> None:
    """Refuse settings out of range before any work (real numbers: ``float``, NumPy scalars,
    0-d float tensors).

    :raises ValueError: naming the setting and its range.
    """
    batching.check_positive("steps", steps)
    batching.check_positive("leapfrog", leapfrog)
    if not _real(step_size) or not (math.isfinite(float(step_size)) and float(step_size) > 0):
        raise ConfigError(f"step_size must be a positive number, got {step_size!r}.")
    if target_accept is not None and (not _real(target_accept)
                                      or not 0 < float(target_accept) < 1):
        raise ConfigError(f"target_accept must lie in (0, 1) or be None, got {target_accept!r}.")


def _global_latents(tile, data_plate) -> bool:
    return any(plate_dim(s, data_plate) is None for s in latent_sites(tile.model_trace).values())


def _values(tile, layout) -> dict:
    return {s.name: tile.model_trace.nodes[s.name]["value"] for s in layout.sites}


def anneal_tiles(model, guide, args, kwargs, *, num_chains, steps, leapfrog, step_size,
                 target_accept, data_plate, proposal, batch_size, particle_chunk, base_seed,
                 start=None, progress=False):
    """Run AIS tile by tile; yields ``(rows, chains, w [C, n], acceptance [n])``.

    Initial states are the particles of :func:`~pyrovae.infer.tiles.iter_tiles` (same seeds as
    ``log_px`` for the same ``base_seed`` and tiling), or, when ``start`` is given (site values
    drawn for all ``N`` points without a particle plate), those values, annealed in reverse.
    Each tile first runs the pilot :func:`tune` (unless ``target_accept`` is ``None``: then
    ``step_size`` throughout) on as many chains drawn forward from :math:`\\pi_0` with seeds of
    their own, and anneals with its frozen :class:`StepSchedule`; the cost per chain is
    :func:`evaluations`. A model with latent sites outside the data plate is annealed one data
    point at a time: each point's chains move their own copy of those sites.

    :raises ModelGuideError: a latent site is discrete, or as ``log_px``.
    """
    x = batching.data_tensor(args, kwargs)
    num_data = x.shape[0]
    betas = sigmoid_schedule(steps)
    if start is not None:
        betas = betas[::-1]
    plan = dict(model=model, guide=guide, args=args, kwargs=kwargs, num_samples=num_chains,
                data_plate=data_plate, proposal=proposal,
                keep_traces="AIS (and BDMC) runs its chains in one vectorized run")
    rows, chunk = tile_plan(x, num_chains, batch_size, particle_chunk, MEMORY_FACTOR)
    tiles = iter_tiles(batch_size=rows, particle_chunk=chunk, base_seed=base_seed, **plan)
    first = next(tiles)
    data_plate = first.structure.data_plate  # as given, or found by its size
    check_continuous(first.model_trace)
    if _global_latents(first, data_plate) and first.rows[1] - first.rows[0] > 1:
        rows, chunk = tile_plan(x, num_chains, 1, particle_chunk, MEMORY_FACTOR)
        tiles = iter_tiles(batch_size=1, particle_chunk=chunk, base_seed=base_seed, **plan)
        first = next(tiles)
    pilot_steps = pilot_transitions(steps, target_accept)
    pilots = iter_tiles(batch_size=rows, particle_chunk=chunk, **plan,
                        base_seed=rng.tile_seed(base_seed, 6)) if pilot_steps else None
    total = (steps + pilot_steps) * math.ceil(num_data / rows) * math.ceil(num_chains / chunk)
    with tqdm(total=total, desc=f"AIS, {steps} steps", unit="step",
              disable=None if progress else True) as bar:
        tile = first
        while tile is not None:
            num_rows = tile.rows[1] - tile.rows[0]
            layout = Layout(tile.model_trace, tile.structure.particle_dim, data_plate, num_rows)
            values = _values(tile, layout) if start is None else layout.expand(start, tile.rows)
            tile_args, tile_kwargs = batching.slice_args(args, kwargs, num_data, *tile.rows)
            potential = Potential(model, guide if proposal == "guide" else None, tile_args,
                                  tile_kwargs, layout, data_plate)
            eps = torch.full((num_rows,), float(step_size), dtype=torch.float64, device=x.device)
            seed = rng.tile_seed(base_seed, 2, tile.rows[0], tile.particles[0])
            with rng.seeded(seed, x.device):
                if pilots is None:
                    schedule = StepSchedule([1.0], eps.log()[None])
                else:
                    u = layout.flatten(_values(next(pilots), layout))
                    schedule = tune(potential, u, eps, steps=steps, leapfrog=leapfrog,
                                    target_accept=float(target_accept), bar=bar)
                log_w, acceptance = anneal(potential, layout.flatten(values), betas, schedule,
                                           leapfrog=leapfrog, bar=bar)
            yield tile.rows, tile.particles, log_w, acceptance
            tile = next(tiles, None)
