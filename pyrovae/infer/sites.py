"""Sample sites of a model/guide pair: which are latent, which observed, where the data plate is,
and what each contributes to a log-density.

Nothing here knows a site's name in advance: sites are classified from the traces.
:func:`site_log_prob` is the one place where a site's log-density is computed, for the training
objectives, the estimators and the data checks alike; the estimators reduce it to one number
per particle and data point (:func:`per_datapoint_log_prob`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from pyro.distributions.util import scale_and_mask
from pyro.infer.util import torch_sum
from pyro.poutine.util import site_is_subsample

from pyrovae.base.errors import ModelGuideError


def sample_sites(trace) -> dict:
    """The sample sites of ``trace`` by name, without plate subsample and deterministic sites."""
    return {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site_is_subsample(site)
        and not site["infer"].get("_deterministic", False)
    }


def latent_sites(trace) -> dict:
    """Sample sites that are not observed."""
    return {n: s for n, s in sample_sites(trace).items() if not s["is_observed"]}


def observed_sites(trace) -> dict:
    """Observed sample sites (``obs=...`` and ``pyro.factor``)."""
    return {n: s for n, s in sample_sites(trace).items() if s["is_observed"]}


def plate_frame(site, plate: str):
    """The ``cond_indep_stack`` frame of ``site`` named ``plate``, or ``None``."""
    for frame in site["cond_indep_stack"]:
        if frame.name == plate:
            return frame
    return None


def plate_dim(site, plate: str) -> int | None:
    """The (negative) batch dim that plate ``plate`` uses at ``site``; ``None`` outside it."""
    frame = plate_frame(site, plate)
    return None if frame is None else frame.dim


def max_plate_nesting(*traces) -> int:
    """Number of batch dims the vectorized plates of ``traces`` use (as Pyro's ELBOs guess it)."""
    dims = [
        frame.dim
        for trace in traces
        for site in sample_sites(trace).values()
        for frame in site["cond_indep_stack"]
        if frame.vectorized and frame.dim is not None
    ]
    return -min(dims) if dims else 0


def reduce_per_datapoint(
    tensor: torch.Tensor, particle_dim: int, data_dim: int | None
) -> torch.Tensor:
    """Sum a batch-shaped ``tensor`` over every dim except ``particle_dim`` and ``data_dim``.

    :param tensor: shaped like a site's batch shape (e.g. a ``log_prob``).
    :param particle_dim: negative dim of the particle plate.
    :param data_dim: negative dim of the data plate, or ``None`` for a site outside it (the
        result then has one column, which broadcasts over data points).
    :returns: float64 tensor ``[C, n]`` (or ``[C, 1]``, ``[1, n]`` where a dim is broadcast).
    """
    tensor = tensor.to(torch.float64)
    ndim = max(tensor.dim(), -particle_dim)
    tensor = tensor.reshape((1,) * (ndim - tensor.dim()) + tensor.shape)
    keep = {particle_dim} if data_dim is None else {particle_dim, data_dim}
    other = [d for d in range(-ndim, 0) if d not in keep]
    if other:
        tensor = tensor.sum(other, keepdim=True)
    num_data = 1 if data_dim is None else tensor.shape[data_dim]
    return tensor.reshape(tensor.shape[particle_dim], num_data)


def site_log_prob(
    site, sum_dims: Sequence[int] | None = (), *, scaled: bool = True
) -> torch.Tensor:
    r"""The log-density of a sample site's value :math:`v` as Pyro scores it,

    .. math:: c \, m \log p(v),

    with :math:`c` the site's ``scale`` (``poutine.scale``, a plate's subsampling, a KL weight)
    and :math:`m` its ``mask``, elementwise over the site's batch shape, summed over the batch
    dims ``sum_dims`` that it has. Extra arguments of the ``pyro.sample`` statement go to
    ``log_prob``, as in Pyro.

    :param site: a trace site, or the message of a sample site after sampling.
    :param sum_dims: negative batch dims to sum out (those the log-density lacks are skipped);
        ``None`` sums everything, to a scalar.
    :param scaled: multiply by the site's scale; estimators of the model's own
        :math:`\log p(x)` leave it out (``scaled=False``, :math:`c = 1`).
    :returns: for ``scaled`` on a trace that has computed it (``Trace.compute_log_prob``, as
        Pyro's ELBOs do), Pyro's own tensor ``site["log_prob"]`` summed likewise: the same
        operations, done once.
    """
    if scaled and "log_prob" in site:
        log_prob = site["log_prob"]
    else:
        log_prob = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
        log_prob = scale_and_mask(log_prob, site["scale"] if scaled else 1.0, site["mask"])
    return log_prob.sum() if sum_dims is None else torch_sum(log_prob, sum_dims)


def per_datapoint_log_prob(site, particle_dim: int, data_plate: str) -> torch.Tensor:
    """The unscaled, masked :func:`site_log_prob` of ``site`` summed over every dim but the
    particle dim and the dim of plate ``data_plate``, as ``[C, n]`` float64
    (:func:`reduce_per_datapoint`).

    The site's ``scale`` (``poutine.scale``, e.g. a KL weight) is ignored: estimators evaluate the
    unscaled model.
    """
    log_prob = site_log_prob(site, scaled=False)
    return reduce_per_datapoint(log_prob, particle_dim, plate_dim(site, data_plate))


def sum_log_probs(sites: dict, particle_dim: int, data_plate: str, like: torch.Tensor):
    """Sum of :func:`per_datapoint_log_prob` over ``sites``, broadcast to ``like``'s ``[C, n]``
    shape."""
    total = torch.zeros(like.shape, dtype=torch.float64, device=like.device)
    for site in sites.values():
        total = total + per_datapoint_log_prob(site, particle_dim, data_plate)
    return total


@dataclass(frozen=True)
class Structure:
    """What a probe run found out about a model/guide pair.

    :param max_plate_nesting: batch dims used by the pair's plates.
    :param latent: names of the model's latent sites.
    :param observed: names of the model's observed sites.
    :param global_latents: names of the latent sites outside the data plate.
    :param data_plate: the name of the data plate (given, or found by its size).
    """

    max_plate_nesting: int
    latent: tuple[str, ...]
    observed: tuple[str, ...]
    global_latents: tuple[str, ...] = ()
    data_plate: str = "data"

    @property
    def particle_dim(self) -> int:
        """Dim of the particle plate: left of every plate of the model and guide."""
        return -(self.max_plate_nesting + 1)


def _quote(names) -> str:
    return ", ".join(f"'{n}'" for n in names)


def find_data_plate(model_trace, num_data: int, program: str = "model") -> str:
    """The name of the model's plate over the data points: the plate of its observed sites whose
    size, given or implied by the observed values (an unsized ``pyro.plate("data")``), is
    ``num_data``, whatever its name; failing that, the only plate around the observed sites
    (whose size :func:`check_structure` then finds wrong). With ``program="guide"``, the same
    over a guide trace's latent sites.

    :raises ModelGuideError: no plate fits, or several do (naming them, and ``data_plate=``).
    """
    fits, around = {}, {}
    sites = observed_sites(model_trace) if program == "model" else latent_sites(model_trace)
    kind = "observed" if program == "model" else "latent"
    advice = "Observe the data" if program == "model" else "Sample the per-point latents"
    for site in sites.values():
        value, event_dim = site["value"], len(site["fn"].event_shape)
        batch_shape = value.shape[: value.dim() - event_dim]
        for frame in site["cond_indep_stack"]:
            around[frame.name] = None
            size = frame.size
            if (size is None or size < 0) and len(batch_shape) >= -frame.dim:
                size = batch_shape[frame.dim]
            if size == num_data:
                fits[frame.name] = None
    if len(fits) == 1:
        return next(iter(fits))
    if not fits and len(around) == 1:  # the one plate there: check_structure says what is wrong
        return next(iter(around))
    plates = sorted({f.name for s in sample_sites(model_trace).values()
                     for f in s["cond_indep_stack"]})
    if not fits:
        raise ModelGuideError(
            f"the {program} has no plate over its {num_data} data points around its {kind} "
            f"sites (its plates: {_quote(plates) or 'none'}). {advice} inside "
            f"`with pyro.plate('data', N):`."
        )
    raise ModelGuideError(
        f"several plates of the {program} have the size of the data ({_quote(fits)}): say "
        f"which is the data plate with data_plate=<name>."
    )


def check_structure(model_trace, guide_trace, data_plate: str | None,
                    num_data: int) -> Structure:
    """Check a model trace (replayed on ``guide_trace``, or run alone when ``guide_trace`` is
    ``None``) against the protocol and return its :class:`Structure`; ``data_plate=None``
    finds the data plate (:func:`find_data_plate`).

    :raises ModelGuideError: the model has no plate ``data_plate``; it observes no site; an
        observed site does not match the plate's size; the plate's size is not the number of
        data points; the guide misses a latent site of the model or samples a site the model
        does not have; a latent site is inside ``data_plate`` in one program and outside it in
        the other.
    """
    observed = observed_sites(model_trace)
    if data_plate is None:
        data_plate = find_data_plate(model_trace, num_data) if observed else "data"
    model_sites = sample_sites(model_trace)
    plates = sorted({f.name for s in model_sites.values() for f in s["cond_indep_stack"]})
    if data_plate not in plates:
        has = f"its plates are {_quote(plates)}" if plates else "it opens no plate"
        raise ModelGuideError(
            f"the model has no plate named '{data_plate}' ({has}). Sample the per-datapoint "
            f"sites inside `with pyro.plate('{data_plate}', N):`, or pass data_plate=<name>."
        )

    if not observed:
        raise ModelGuideError(
            f"the model observes nothing, so there is no log p(x): observe the data with "
            f"`pyro.sample(name, distribution, obs=x)` inside "
            f"`with pyro.plate('{data_plate}', N):`."
        )
    for name, site in observed.items():
        frame = plate_frame(site, data_plate)
        if frame is None:
            if site["infer"].get("is_auxiliary", False):
                continue
            raise ModelGuideError(
                f"observed site '{name}' is outside plate '{data_plate}': observe the data "
                f"inside `with pyro.plate('{data_plate}', N):`."
            )
        value = site["value"]
        batch_shape = value.shape[: value.dim() - len(site["fn"].event_shape)]
        entries = batch_shape[frame.dim] if len(batch_shape) >= -frame.dim else None
        size = frame.size
        if size is None or size < 0:  # an unsized plate, pyro.plate("data"): sized by the data
            size = entries
        if entries is not None and entries != size:
            raise ModelGuideError(
                f"observed site '{name}' has {entries} entries along plate "
                f"'{data_plate}' (dim {frame.dim}) but the plate has size {size}: the "
                f"observed data do not match the plate."
            )
        if size is not None and size != num_data:
            raise ModelGuideError(
                f"plate '{data_plate}' has size {size} at observed site '{name}' but "
                f"the data have {num_data} rows: open the plate with size x.shape[0]."
            )

    latent = latent_sites(model_trace)
    if guide_trace is not None:
        guide_latent = latent_sites(guide_trace)
        missing = [n for n in latent if n not in guide_latent]
        if missing:
            raise ModelGuideError(
                f"the guide does not sample latent site(s) {_quote(missing)} of the model: "
                f"sample each of the model's latent sites in the guide."
            )
        extra = [n for n in guide_latent if n not in latent]
        if extra:
            raise ModelGuideError(
                f"the guide samples site(s) {_quote(extra)} that the model does not have: "
                f"the model's latent sites are {_quote(latent) or 'none'}."
            )
        for name, site in latent.items():
            in_model = plate_frame(site, data_plate) is not None
            in_guide = plate_frame(guide_latent[name], data_plate) is not None
            if in_model != in_guide:
                where = ("inside", "outside") if in_model else ("outside", "inside")
                raise ModelGuideError(
                    f"latent site '{name}' is {where[0]} plate '{data_plate}' in the model but "
                    f"{where[1]} it in the guide."
                )
    traces = (model_trace,) if guide_trace is None else (model_trace, guide_trace)
    outside = tuple(n for n, site in latent.items() if plate_frame(site, data_plate) is None)
    return Structure(max_plate_nesting(*traces), tuple(latent), tuple(observed), outside,
                     data_plate)
