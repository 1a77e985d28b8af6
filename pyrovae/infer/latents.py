"""The continuous latent sites of a tile as one unconstrained vector per chain and data point.

A tile's latent site values (under a particle plate of ``C`` chains, for ``n`` data points) map
to a flat ``[C, n, D]`` tensor :math:`u`, each site through the bijection :math:`T` from the real
numbers onto its support (``biject_to``), so that samplers can move freely in
:math:`\\mathbb R^D`; densities in :math:`u` carry :math:`\\log|\\det \\partial T/\\partial u|`.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import biject_to

from pyrovae.base.errors import ModelGuideError
from pyrovae.infer.sites import latent_sites, plate_dim, reduce_per_datapoint


class _Site:
    """One latent site: its value's shape under the particle plate, its event dims, its data
    dim (``None`` outside the data plate), the bijection onto its support, the shape of its
    unconstrained value (``transform.inverse_shape``: a simplex of ``K`` coordinates has
    ``K - 1``), and ``order``, the permutation of the unconstrained value's dims that puts
    (particle, data) first."""

    def __init__(self, name, shape, event_dim, data_dim, transform, particle_dim):
        self.name, self.shape, self.event_dim = name, tuple(shape), event_dim
        self.data_dim, self.transform = data_dim, transform
        batch = len(self.shape) - event_dim
        try:
            self.u_shape = tuple(transform.inverse_shape(torch.Size(self.shape)))
        except (NotImplementedError, ValueError) as e:
            raise ModelGuideError(
                f"latent site '{name}' has a support ({transform.codomain}) whose bijection "
                f"{type(transform).__name__} gives no unconstrained shape ({e}): AIS cannot "
                f"move it; use method='is'."
            ) from None
        front = [batch + particle_dim] + ([] if data_dim is None else [batch + data_dim])
        self.order = (*front, *(d for d in range(len(self.u_shape)) if d not in front))


def check_continuous(trace) -> None:
    """Refuse discrete latent sites.

    :raises ModelGuideError: naming the first discrete latent site.
    """
    for name, site in latent_sites(trace).items():
        fn = site["fn"]
        if fn.support.is_discrete or getattr(fn, "has_enumerate_support", False):
            raise ModelGuideError(
                f"latent site '{name}' is discrete ({type(fn).__name__}): annealed importance "
                f"sampling moves continuous latents only. Use method='is' for this model, or "
                f"sum the site out in the model."
            )


class Layout:
    """Flattening of a model trace's latent sites (run under a particle plate at
    ``particle_dim``) into ``[C, n, D]``, and back.

    Sites outside plate ``data_plate`` (global latents) need ``n = 1``.
    """

    def __init__(self, model_trace, particle_dim: int, data_plate: str, num_rows: int):
        self.particle_dim = particle_dim
        self.sites = []
        for name, site in latent_sites(model_trace).items():
            value = site["value"]
            data_dim = plate_dim(site, data_plate)
            if data_dim is None and num_rows != 1:
                raise ValueError("global latent sites need tiles of one data point.")
            event_dim = len(site["fn"].event_shape)
            self.sites.append(_Site(name, tuple(value.shape), event_dim, data_dim,
                                    biject_to(site["fn"].support), particle_dim))
        self.num_chains = self.sites[0].shape[self.sites[0].order[0]] if self.sites else 0
        self.num_rows = num_rows
        self.sizes = [math.prod(s.u_shape) // (self.num_chains * num_rows) for s in self.sites]

    @property
    def dim(self) -> int:
        """``D``, the number of unconstrained coordinates per chain and data point."""
        return sum(self.sizes)

    def flatten(self, values: dict) -> torch.Tensor:
        """``[C, n, D]`` unconstrained coordinates of the constrained site ``values``."""
        parts = []
        for site in self.sites:
            u = site.transform.inv(values[site.name])
            parts.append(u.permute(site.order).reshape(self.num_chains, self.num_rows, -1))
        return torch.cat(parts, -1)

    def unflatten(self, u: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """``(values, log_det)``: the constrained site values of ``u`` ``[C, n, D]`` and
        :math:`\\log|\\det \\partial T/\\partial u|` ``[C, n]`` (float64)."""
        values = {}
        log_det = torch.zeros(u.shape[:2], dtype=torch.float64, device=u.device)
        for site, part in zip(self.sites, u.split(self.sizes, -1)):
            permuted = [site.u_shape[d] for d in site.order]
            inverse = [site.order.index(d) for d in range(len(site.u_shape))]
            u_site = part.reshape(permuted).permute(inverse)
            z = site.transform(u_site)
            values[site.name] = z
            ladj = site.transform.log_abs_det_jacobian(u_site, z)
            extra = ladj.dim() - (len(site.shape) - site.event_dim)
            if extra > 0:
                ladj = ladj.sum(list(range(-extra, 0)))
            log_det = log_det + reduce_per_datapoint(ladj, self.particle_dim, site.data_dim)
        return values, log_det

    def expand(self, values: dict, rows: tuple[int, int]) -> dict:
        """Site values drawn without a particle plate, for all the data points (``[N, ...]``
        along the data plate), cut to ``rows`` and repeated for every chain."""
        out = {}
        for site in self.sites:
            value = values[site.name]
            if site.data_dim is not None:
                dim = value.dim() - site.event_dim + site.data_dim
                value = value.narrow(dim, rows[0], rows[1] - rows[0])
            value = value.reshape((1,) * (len(site.shape) - value.dim()) + tuple(value.shape))
            out[site.name] = value.expand(site.shape)
        return out
