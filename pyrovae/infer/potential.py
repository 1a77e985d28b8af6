"""The log densities along an annealing path, at unconstrained latent values, with gradients.

For a tile (``C`` chains, ``n`` data points) the model and the initial distribution are run with
their latent sites conditioned on :math:`z = T(u)` (:class:`~pyrovae.infer.latents.Layout`),
under a particle plate and effect handlers only, so any Pyro model whose latents are continuous
can be annealed without knowing its site names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.poutine as poutine
import torch

from pyrovae.infer.latents import Layout
from pyrovae.infer.sites import per_datapoint_log_prob, sample_sites
from pyrovae.infer.tiles import in_particle_plate


@dataclass
class State:
    """A point of the chains: ``u`` ``[C, n, D]`` and its log densities ``[C, n]`` (float64).

    :param log_init: :math:`\\log q(z \\mid x)` (the guide) or :math:`\\log p(z)` (the prior).
    :param log_joint: :math:`\\log p(x, z)`.
    :param log_det: :math:`\\log|\\det \\partial T/\\partial u|`.
    :param grads: the gradients in ``u`` of ``(log_init, log_joint, log_det)`` (``None`` if not
        asked), combined linearly into :math:`\\nabla_u \\log\\pi_\\beta` at any
        :math:`\\beta` by :meth:`grad`.
    """

    u: torch.Tensor
    log_init: torch.Tensor
    log_joint: torch.Tensor
    log_det: torch.Tensor
    grads: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def log_target(self, beta: float) -> torch.Tensor:
        """:math:`\\log \\pi_\\beta(u) = (1-\\beta)\\log q + \\beta \\log p(x, z) + \\log|\\det J|`,
        the geometric path in :math:`u` (unnormalized)."""
        return (1 - beta) * self.log_init + beta * self.log_joint + self.log_det

    def grad(self, beta: float) -> torch.Tensor:
        """:math:`\\nabla_u \\log\\pi_\\beta(u) = (1-\\beta)\\nabla\\log q
        + \\beta\\nabla\\log p(x, z) + \\nabla\\log|\\det J|`."""
        init, joint, det = self.grads
        return (1 - beta) * init + beta * joint + det

    @property
    def log_ratio(self) -> torch.Tensor:
        """:math:`\\log p(x, z) - \\log q(z)`, the derivative of :math:`\\log\\pi_\\beta` in
        :math:`\\beta`."""
        return self.log_joint - self.log_init

    def select(self, keep: torch.Tensor, other: State) -> State:
        """This state where ``keep`` ``[C, n]`` is true, ``other`` elsewhere."""
        pick = lambda a, b: torch.where(keep.reshape(keep.shape + (1,) * (a.dim() - 2)), a, b)
        grads = None if self.grads is None else tuple(map(pick, self.grads, other.grads))
        return State(pick(self.u, other.u), pick(self.log_init, other.log_init),
                     pick(self.log_joint, other.log_joint), pick(self.log_det, other.log_det),
                     grads)


class Potential:
    """Evaluates :class:`State` s of one tile.

    :param model: the model; its latent sites are conditioned on the state's values.
    :param guide: the initial distribution (conditioned likewise), or ``None`` for the prior.
    :param args: the tile's model arguments (its rows of the data first).
    :param kwargs: the tile's keyword arguments.
    :param layout: the tile's :class:`Layout`.
    :param data_plate: name of the model's data plate.
    """

    def __init__(self, model, guide, args, kwargs, layout: Layout, data_plate: str):
        particles = (layout.num_chains, layout.particle_dim)
        self.model = in_particle_plate(model, *particles)
        self.guide = None if guide is None else in_particle_plate(guide, *particles)
        self.args, self.kwargs, self.layout, self.data_plate = args, kwargs, layout, data_plate
        self.latent = {s.name for s in layout.sites}
        self._fixed = None

    def _sum(self, sites: dict, like: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(like.shape[:2], dtype=torch.float64, device=like.device)
        for site in sites.values():
            total = total + per_datapoint_log_prob(site, self.layout.particle_dim, self.data_plate)
        return total

    def _run(self, program, values: dict) -> dict:
        with poutine.block(), pyro.validation_enabled(False):
            trace = poutine.trace(poutine.condition(program, data=values)).get_trace(
                *self.args, **self.kwargs
            )
        return sample_sites(trace)

    def _guide_sites(self, values: dict) -> dict:
        """The guide's sites at ``values``. A guide whose distributions do not depend on the
        latent values (none of their parameters has a gradient path to them, as a VAE's encoder
        of ``x``) is run once; its distributions then score every later value."""
        if self._fixed is not None:
            return {name: {**site, "value": values[name]} for name, site in self._fixed.items()}
        sites = self._run(self.guide, values)
        if torch.is_grad_enabled():
            probe = sum(s["fn"].log_prob(s["value"].detach(), *s["args"], **s["kwargs"]).sum()
                        for s in sites.values())
            inputs = [v for v in values.values() if v.requires_grad]
            grads = (torch.autograd.grad(probe, inputs, allow_unused=True, retain_graph=True)
                     if probe.requires_grad and inputs else [None])
            if all(g is None for g in grads):
                with torch.no_grad():
                    fixed = self._run(self.guide, {n: v.detach() for n, v in values.items()})
                self._fixed = {name: dict(site) for name, site in fixed.items()}
        return sites

    def __call__(self, u: torch.Tensor, grad: bool = False) -> State:
        """The :class:`State` at ``u``, with the gradients of its three log densities when
        ``grad``. A point where a density or gradient is not finite gets
        :math:`\\log p(x, z) = -\\infty` (zero gradients), so HMC rejects it."""
        with torch.set_grad_enabled(grad):
            u = u.detach().requires_grad_(grad)
            values, log_det = self.layout.unflatten(u)
            model_sites = self._run(self.model, values)
            log_joint = self._sum(model_sites, u)
            if self.guide is None:
                prior = {n: s for n, s in model_sites.items() if n in self.latent}
                log_init = self._sum(prior, u)
            else:
                log_init = self._sum(self._guide_sites(values), u)
            state = State(u, log_init, log_joint, log_det)
            if not grad:
                return _detached(state)
            parts = (log_init, log_joint, log_det)
            grads = [torch.autograd.grad(p.sum(), u, retain_graph=i < 2, allow_unused=True)[0]
                     if p.requires_grad else None for i, p in enumerate(parts)]
        grads = [torch.zeros_like(u) if g is None else g for g in grads]
        finite = sum(parts).isfinite() & torch.stack(grads).isfinite().all(0).all(-1)
        state.grads = tuple(torch.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0).detach()
                            for g in grads)
        state.log_joint = torch.where(finite, state.log_joint, -torch.inf)
        return _detached(state)


def _detached(state: State) -> State:
    state.u = state.u.detach()
    state.log_init = state.log_init.detach()
    state.log_joint = state.log_joint.detach()
    state.log_det = state.log_det.detach()
    return state
