"""Posterior means and decoding, through traces: the latent site is found by tracing the guide
(never by name), the observed site by tracing the model.

Models with several latent sites are handled through the guide's *first* latent site (the first
one it samples): its posterior means are what the figures show and move; when decoding, every
other latent site of the model takes the mean of its (conditional) prior instead of a draw.
"""

from __future__ import annotations

import torch
from pyro import poutine
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from pyrovae.checks import observed_sites_on
from pyrovae.infer.sites import latent_sites


class _MeansExcept(Messenger):
    """Sets every unobserved sample site not in ``keep`` to its distribution's mean."""

    def __init__(self, keep):
        super().__init__()
        self.keep = set(keep)

    def _pyro_sample(self, msg):
        if (msg["is_observed"] or msg["name"] in self.keep or msg["value"] is not None
                or site_is_subsample(msg)):
            return
        try:
            msg["value"] = msg["fn"].mean
        except NotImplementedError:
            return
        msg["is_observed"] = True


@torch.no_grad()
def posterior_means(guide, *tensors, batch_size: int = 500) -> tuple[str, torch.Tensor]:
    """The guide's first latent site and the means of :math:`q(z \\mid x_n)` at that site,
    flattened to ``[N, D]``.

    :param tensors: the guide's per-data-point arguments (data first), ``N`` rows each.
    """
    name, means = None, []
    for lo in range(0, tensors[0].shape[0], batch_size):
        batch = tuple(t[lo:lo + batch_size] for t in tensors)
        trace = poutine.trace(guide).get_trace(*batch)
        sites = latent_sites(trace)
        if not sites:
            raise ValueError("the guide samples no latent site")
        name = name or next(iter(sites))
        fn = sites[name]["fn"]
        try:
            mean = fn.mean
        except NotImplementedError:
            mean = sites[name]["value"]
        means.append(mean.reshape(batch[0].shape[0], -1))
    return name, torch.cat(means)


@torch.no_grad()
def decode(model, site: str, z: torch.Tensor, *extra, like: torch.Tensor) -> torch.Tensor:
    """Means of :math:`p(x \\mid z)` for each row of ``z`` ``[M, D]`` set at latent ``site``
    (reshaped to the site's shape), other latent sites at their prior means.

    :param extra: further per-data-point model arguments (labels), ``M`` rows each.
    :param like: a few data points, to find the model's observed site and the site's shape.
    """
    probe = poutine.trace(model).get_trace(like[:1], *(e[:1] for e in extra))
    shape = probe.nodes[site]["value"].shape[1:]
    obs = next(iter(observed_sites_on(model, like[:1], *(e[:1] for e in extra))))
    conditioned = poutine.condition(model, data={site: z.reshape(z.shape[0], *shape)})
    with _MeansExcept([site]):
        trace = poutine.trace(conditioned).get_trace(None, *extra, batch_size=z.shape[0])
    node = trace.nodes[obs]
    try:
        return node["fn"].mean
    except NotImplementedError:
        return node["value"]
