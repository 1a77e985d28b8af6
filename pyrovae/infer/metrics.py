"""Per-datapoint rate/distortion and the number of active latent units."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import pyro.poutine as poutine
import torch
from pyro.distributions.util import scale_and_mask
from torch.distributions import kl_divergence

from pyrovae.base.errors import ConfigError, ModelGuideError
from pyrovae.infer import batching, rng
from pyrovae.infer.particles import check_layout, repeated
from pyrovae.infer.sites import (
    Structure,
    find_data_plate,
    latent_sites,
    max_plate_nesting,
    per_datapoint_log_prob,
    plate_dim,
    reduce_per_datapoint,
    sample_sites,
)
from pyrovae.infer.tiles import (
    CHECKED_PARTICLES,
    choose_layout,
    in_particle_plate,
    iter_tiles,
    tile_plan,
)

#: Data points of the guide's first run, on which its data plate is found by its size.
PROBE_ROWS = 64


@dataclass
class RateDistortion:
    """Per-datapoint terms of the negative ELBO (float64 tensors ``[N]``).

    :param rate: :math:`\\mathbb E_q[\\log q(z \\mid x_n) - \\log p(z)]`, the KL term.
    :param distortion: :math:`-\\mathbb E_q[\\log p(x_n \\mid z)]`, the negative
        reconstruction term.
    :param num_samples: particles per data point of the Monte-Carlo averages.
    :param analytic_sites: latent sites whose KL was computed in closed form.
    """

    rate: torch.Tensor
    distortion: torch.Tensor
    num_samples: int
    analytic_sites: tuple[str, ...] = ()

    @property
    def reconstruction(self) -> torch.Tensor:
        """:math:`\\mathbb E_q[\\log p(x_n \\mid z)]`."""
        return -self.distortion

    @property
    def elbo(self) -> torch.Tensor:
        """:math:`-(\\text{rate} + \\text{distortion})`."""
        return -(self.rate + self.distortion)


def _site_kl(guide_site, model_site, particle_dim: int, data_plate: str):
    try:
        kl = kl_divergence(guide_site["fn"], model_site["fn"])
    except NotImplementedError:
        return None
    kl = scale_and_mask(kl, mask=model_site["mask"])
    return reduce_per_datapoint(kl, particle_dim, plate_dim(model_site, data_plate))


def rate_distortion(
    model,
    guide,
    *args,
    num_samples: int = 100,
    data_plate: str | None = None,
    analytic_kl: bool = False,
    batch_size: int | None = None,
    particle_chunk: int | None = None,
    particles: str | None = None,
    **kwargs,
) -> RateDistortion:
    """Monte-Carlo rate and distortion per data point, from ``num_samples`` guide particles.

    :math:`R_n = \\frac1K\\sum_k [\\log q(z_{kn} \\mid x_n) - \\log p(z_{kn})]` and
    :math:`D_n = -\\frac1K\\sum_k \\log p(x_n \\mid z_{kn})`, :math:`z_{kn} \\sim q(z \\mid x_n)`,
    so :math:`R_n + D_n` is minus the ELBO estimate; the particles are drawn as in
    :func:`~pyrovae.infer.log_px` (same seed and tiling: ``-(R + D)`` equals its ``elbo``).

    :param model: a model following the pyrovae protocol.
    :param guide: a guide sampling the model's latent sites.
    :param args: the data ``x`` first, then any extra model arguments.
    :param num_samples: ``K``, particles per data point.
    :param data_plate: name of the model's data plate (None: found by its size).
    :param analytic_kl: use :func:`torch.distributions.kl_divergence` of the guide's and the
        model's distribution for each latent site where one is registered (given the sampled
        values of the other sites, as Pyro's ``TraceMeanField_ELBO`` does; unbiased when no
        site's model parents are sampled after it in the guide), Monte Carlo elsewhere.
    :param batch_size: data points per tile.
    :param particle_chunk: particles per tile.
    :param particles: the particle layout (:func:`~pyrovae.infer.importance.log_px`'s
        ``particles``; default None checks it on the first batch).
    :param kwargs: extra keyword arguments of the model and guide.
    """
    x = batching.data_tensor(args, kwargs)
    rates, distortions = [], []
    analytic = ()
    for tile in iter_tiles(
        model,
        guide,
        args,
        kwargs,
        num_samples=num_samples,
        data_plate=data_plate,
        batch_size=batch_size,
        particle_chunk=particle_chunk,
        keep_traces=analytic_kl and "analytic_kl reads the distributions of one vectorized run",
        particles=particles,
    ):
        if tile.particles[0] == 0:
            n = tile.rows[1] - tile.rows[0]
            rate = torch.zeros(n, dtype=torch.float64, device=x.device)
            distortion = torch.zeros_like(rate)
        distortion = distortion - tile.log_likelihood.sum(0)
        if analytic_kl:
            tile_rate, analytic = _analytic_rate(tile, tile.structure.data_plate)
            rate = rate + tile_rate.sum(0)
        else:
            rate = rate + (tile.log_guide - tile.log_prior).sum(0)
        if tile.particles[1] == num_samples:
            rates.append(rate / num_samples)
            distortions.append(distortion / num_samples)
    return RateDistortion(torch.cat(rates), torch.cat(distortions), num_samples, analytic)


@torch.no_grad()
def _analytic_rate(tile, data_plate: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    """``[C, n]`` rate of a tile with closed-form KLs where registered, and those sites."""
    particle_dim = tile.structure.particle_dim
    model_latent = latent_sites(tile.model_trace)
    rate, analytic = torch.zeros_like(tile.log_likelihood), []
    for name, site in latent_sites(tile.guide_trace).items():
        kl = _site_kl(site, model_latent[name], particle_dim, data_plate)
        if kl is None:
            kl = per_datapoint_log_prob(site, particle_dim, data_plate)
            kl = kl - per_datapoint_log_prob(model_latent[name], particle_dim, data_plate)
        else:
            analytic.append(name)
        rate = rate + kl
    return rate, tuple(analytic)


@dataclass
class ActiveUnits:
    """Active latent units (Burda et al., 2015): unit :math:`u` is active when
    :math:`\\mathrm{Var}_x(\\mathbb E_{q(z \\mid x)}[z_u]) > \\text{threshold}`.

    :param count: number of active units over all sites (``None`` when no site has units).
    :param num_units: number of units over all sites.
    :param active: per site, a bool tensor of the site's unit shape.
    :param variance: per site, :math:`\\mathrm{Var}_x(\\mathbb E_q[z_u])` (float64).
    :param threshold: the activity threshold.
    :param num_samples: particles per data point.
    :param sampled: sites whose distribution has no closed-form mean (a flow, say): their
        :math:`\\mathbb E_q[z]` is the mean of the sampled values.
    :param skipped: latent sites left out (discrete or outside the data plate).
    :param layout: where the particles ran (:data:`~pyrovae.infer.particles.LAYOUTS`).
    """

    count: int | None
    num_units: int
    active: dict[str, torch.Tensor]
    variance: dict[str, torch.Tensor]
    threshold: float
    num_samples: int = 1
    sampled: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    layout: str = "vectorized"


def _has_mean(fn) -> bool:
    try:
        return fn.mean is not None
    except NotImplementedError:
        return False


def _unit_sites(trace, data_plate: str) -> tuple[dict, tuple[str, ...]]:
    """Continuous latent sites of a guide trace inside ``data_plate``, and the others."""
    plates = {f.name for site in sample_sites(trace).values() for f in site["cond_indep_stack"]}
    if data_plate not in plates:
        raise ModelGuideError(
            f"the guide has no plate named '{data_plate}' (its plates: "
            f"{', '.join(repr(p) for p in sorted(plates)) or 'none'}); pass data_plate=<name>."
        )
    sites, skipped = {}, []
    for name, site in latent_sites(trace).items():
        if not site["fn"].support.is_discrete and plate_dim(site, data_plate) is not None:
            sites[name] = site
        else:
            skipped.append(name)
    return sites, tuple(skipped)


def _site_means(site, particle_dim: int, data_plate: str) -> torch.Tensor:
    """Per particle :math:`k` and data point :math:`n`, the guide's mean of the site given the
    particle's other sampled sites (its sampled value where the distribution has no
    closed-form mean), as ``[C, n, *unit_shape]``."""
    fn = site["fn"]
    mean = fn.mean if _has_mean(fn) else site["value"]
    event_dim = len(fn.event_shape)
    batch_dims = mean.dim() - event_dim
    if batch_dims < -particle_dim:
        mean = mean.reshape((1,) * (-particle_dim - batch_dims) + mean.shape)
        batch_dims = -particle_dim
    data_axis = batch_dims + plate_dim(site, data_plate)
    particle_axis = batch_dims + particle_dim
    mean = mean.movedim((particle_axis, data_axis), (0, 1))
    while mean.dim() > 2 + event_dim and mean.shape[2] == 1:
        mean = mean.squeeze(2)
    return mean.to(torch.float64)


def _guide_means(guide, args, kwargs, sites, size, num_rows, structure, layout):
    """Per unit site, :func:`_site_means` ``[C, n, *unit_shape]`` of ``size`` particles of the
    guide on a batch of ``num_rows`` points, run in ``layout``."""
    particle_dim, data_plate = structure.particle_dim, structure.data_plate
    if layout == "vectorized":
        trace = poutine.trace(in_particle_plate(guide, size, particle_dim)).get_trace(
            *args, **kwargs)
        return {name: _site_means(trace.nodes[name], particle_dim, data_plate) for name in sites}
    if layout == "batch":
        many_args, many_kwargs = repeated(args, kwargs, num_rows, size)
        trace = poutine.trace(guide).get_trace(*many_args, **many_kwargs)
        means = {name: _site_means(trace.nodes[name], particle_dim, data_plate)[0]
                 for name in sites}  # [C n, ...], particle-major
        return {name: m.reshape(size, num_rows, *m.shape[1:]) for name, m in means.items()}
    runs = [poutine.trace(guide).get_trace(*args, **kwargs) for _ in range(size)]
    return {name: torch.cat([_site_means(t.nodes[name], particle_dim, data_plate)
                             for t in runs]) for name in sites}


@torch.no_grad()
def active_units(
    guide,
    x: torch.Tensor,
    *args,
    threshold: float = 0.01,
    num_samples: int | None = None,
    data_plate: str | None = None,
    batch_size: int | None = None,
    particles: str | None = None,
    **kwargs,
) -> ActiveUnits:
    """Count the latent units whose posterior mean varies across the data.

    For each continuous latent site of the guide inside ``data_plate``, :math:`C` particles give
    per data point :math:`n` the values :math:`m_{kn}`: the guide's mean given the particle's
    other sampled sites, or, for a distribution without a closed-form mean (a flow), the sampled
    value. :math:`\\bar m_n = \\frac1C \\sum_k m_{kn}` estimates
    :math:`\\mathbb E_q[z \\mid x_n]`, and

    .. math:: A_u = \\mathrm{Var}_n(\\bar m_{nu}) - \\frac1C\\,\\overline{s^2_{nu}},

    with :math:`s^2_{nu}` the variance of :math:`m_{kn u}` over the particles (both unbiased), is
    an unbiased estimate of :math:`\\mathrm{Var}_n(\\mathbb E_q[z_u \\mid x_n])`: the second term
    removes the Monte Carlo noise of :math:`\\bar m`, which would otherwise make every unit of a
    flow look active. Unit :math:`u` is active when :math:`A_u > \\text{threshold}`.

    :param guide: a guide following the pyrovae protocol.
    :param x: the data ``[N, *event_shape]`` (``N >= 2``).
    :param args: any extra arguments of the guide.
    :param threshold: activity threshold (0.01 in Burda et al.).
    :param num_samples: :math:`C`, particles per data point; by default 1 when every site has a
        closed-form mean not conditioned on other sites, else 100.
    :param data_plate: name of the guide's data plate; None finds it: the plate of the guide's
        latent sites whose size is the number of points of the first batch.
    :param batch_size: data points per batch.
    :param particles: where the particles run (:func:`~pyrovae.infer.importance.log_px`'s
        ``particles``); None checks on the first batch that the vectorized layout gives each
        particle's guide log-density of a run of it alone, and falls back (batch, then loop)
        with a one-line warning. The result's ``layout`` says which ran.
    :param kwargs: extra keyword arguments of the guide.
    """
    args = (x,) + args
    x = batching.data_tensor(args, kwargs)
    batching.check_positive("num_samples", num_samples)
    check_layout(particles)
    num_data, device = x.shape[0], x.device
    if num_data < 2:
        raise ConfigError("active_units needs at least 2 data points.")
    base = rng.draw_base_seed()
    probe_rows = min(num_data, batch_size or PROBE_ROWS)
    probe_args, probe_kwargs = batching.slice_args(args, kwargs, num_data, 0, probe_rows)
    with rng.seeded(rng.tile_seed(base, 0), device), poutine.block(), \
            batching.first_run(args, kwargs, guide=guide):
        probe = poutine.trace(guide).get_trace(*probe_args, **probe_kwargs)
    if data_plate is None:
        data_plate = find_data_plate(probe, probe_rows, program="guide")
    sites, skipped = _unit_sites(probe, data_plate)
    latent = latent_sites(probe)
    structure = Structure(max_plate_nesting(probe), tuple(latent), (), tuple(
        n for n, site in latent.items() if plate_dim(site, data_plate) is None), data_plate)
    sampled = tuple(name for name, site in sites.items() if not _has_mean(site["fn"]))
    if num_samples is None:
        num_samples = 100 if sampled or len(latent) > 1 else 1
    batch_size, _ = tile_plan(x, num_samples, batch_size, num_samples)
    sums: dict[str, list] = {name: [] for name in sites}
    noise: dict[str, torch.Tensor] = {}
    layout = particles
    for start, stop in batching.ranges(num_data, batch_size):
        batch_args, batch_kwargs = batching.slice_args(args, kwargs, num_data, start, stop)
        if layout is None:
            layout, reason = choose_layout(
                None, guide, batch_args, batch_kwargs, "guide", data_plate, structure,
                min(num_samples, CHECKED_PARTICLES), rng.tile_seed(base, 2), device)
            if layout != "vectorized":
                warnings.warn(f"pyrovae: the particles of active_units run in the {layout} "
                              f"layout: {reason}.", stacklevel=3)
        with rng.seeded(rng.tile_seed(base, 1, start, 0), device), poutine.block():
            means = _guide_means(guide, batch_args, batch_kwargs, sites, num_samples, stop - start,
                                 structure, layout)
        for name, site_means in means.items():
            sums[name].append(site_means.mean(0))
            if site_means.shape[0] > 1:
                within = site_means.var(0).sum(0) / site_means.shape[0]
                noise[name] = noise.get(name, 0) + within
    variance = {
        name: torch.cat(m).var(0) - (noise[name] / num_data if name in noise else 0)
        for name, m in sums.items()
    }
    active = {name: v > threshold for name, v in variance.items()}
    num_units = sum(math.prod(a.shape) for a in active.values())
    return ActiveUnits(
        count=int(sum(a.sum().item() for a in active.values())) if num_units else None,
        num_units=num_units,
        active=active,
        variance=variance,
        threshold=threshold,
        num_samples=num_samples,
        sampled=sampled,
        skipped=skipped,
        layout=layout,
    )
