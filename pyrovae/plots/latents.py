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
from pyrovae.factor_scores import posterior_means

__all__ = ["decode", "posterior_means"]


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
