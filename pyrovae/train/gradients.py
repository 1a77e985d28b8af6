"""Gradient estimators Pyro lacks: sticking the landing (STL) for the ELBO and the doubly
reparameterized gradient (DReG) for the IWAE bound.

Both drop the score term :math:`\\partial_\\phi \\log q_\\phi(z)\\rvert_{z}` of the guide's
parameters from a reparameterized gradient and keep the path through the sampled values,

.. math:: \\frac{d}{d\\phi} \\log w(z(\\phi)) - \\partial_\\phi \\log q_\\phi(z)\\rvert_{z},
    \\qquad \\log w = \\log p_\\theta(x, z) - \\log q_\\phi(z),

whose expectation is the same (the score has mean zero) and whose variance vanishes where
:math:`q` is the exact posterior (:math:`\\log w` is then constant in :math:`z`). The score
term is taken out by :func:`path_log_weight`: it adds
:math:`\\log q_\\phi(\\bar z) - \\mathrm{sg}[\\log q_\\phi(\\bar z)]` (value zero), the guide
replayed on its own values :math:`\\bar z` cut from the graph, whose gradient is the score term
exactly, for hierarchical guides too (each site's parameters are computed from cut values).

- :class:`StickingTheLandingELBO` (Roeder et al. 2017): minus the mean over particles of the path
  log weights: the ELBO's value, the STL gradient.
- :class:`DReGIWAE` (Tucker et al. 2019): the IWAE bound's value; the model's parameters get
  the IWAE gradient :math:`\\sum_k \\tilde w_k \\partial_\\theta \\log w_k` and the guide's
  :math:`\\sum_k \\tilde w_k^2 \\frac{\\partial \\log w_k}{\\partial z_k}
  \\frac{\\partial z_k}{\\partial \\phi}`, with :math:`\\tilde w` the normalized weights.

Both need reparameterized guide sites and no enumeration; their log weights use the one site
log-density of :mod:`pyrovae.infer.sites`.
"""

from __future__ import annotations

import math
import warnings

import torch
from pyro import poutine
from pyro.infer.util import get_dependent_plate_dims

from pyrovae._compat import elbo_traces, in_particle_plate
from pyrovae.base.errors import ConfigError
from pyrovae.infer.particles import replay_trace
from pyrovae.infer.sites import latent_sites, site_log_prob
from pyrovae.train.autograd import leaves
from pyrovae.train.objective import DifferentiableRenyiELBO, log_weight, make_elbo


def _check_reparameterized(guide_trace, gradient: str) -> None:
    for name, site in latent_sites(guide_trace).items():
        if site["infer"].get("enumerate"):
            raise ConfigError(f'gradient = "{gradient}" needs every guide site sampled; site '
                              f"'{name}' is enumerated: leave gradient = \"reparam\".")
        if not site["fn"].has_rsample:
            raise ConfigError(f'gradient = "{gradient}" needs reparameterized guide sites; site '
                              f"'{name}' ({type(site['fn']).__name__}) is not: leave gradient "
                              f'= "reparam".')


def guide_parameter_ids(guide_trace) -> set[int]:
    """Ids of the guide's parameters: the leaves its sampled values reach (a parameter the
    model uses too counts as the guide's), whatever module holds them."""
    return {id(p) for site in latent_sites(guide_trace).values()
            if site["value"].requires_grad for p in leaves(site["value"])}


def path_log_weight(model_trace, guide_trace, guide, args, kwargs, wrap):
    """``(log_w, scale)`` of :func:`~pyrovae.train.objective.log_weight`, with the score term
    of the guide's parameters taken out of its gradient (same value; see the module
    docstring). ``wrap`` puts the guide in the particle plate the traces were run in."""
    log_w, scale = log_weight(model_trace, guide_trace)
    cut = replay_trace(guide_trace, {name: site["value"].detach()
                                     for name, site in latent_sites(guide_trace).items()})
    # not blocked: the handlers around the loss (the KL weight beta) scale the replay alike
    replayed = poutine.trace(poutine.replay(wrap(guide), trace=cut)).get_trace(*args, **kwargs)
    sum_dims = get_dependent_plate_dims(model_trace.nodes.values())
    score = 0.0
    for name in latent_sites(guide_trace):
        score = score + site_log_prob(replayed.nodes[name], sum_dims) / scale
    return log_w + (score - score.detach()), scale


class _Pathwise(DifferentiableRenyiELBO):
    """The traces of :class:`DifferentiableRenyiELBO`, each particle's path log weights."""

    name = ""

    def _path_weights(self, model, guide, args, kwargs):
        """``(log_w [K, ...], scale, guide parameter ids)``: the path log weights of the
        particles, stacked, and the guide's parameters (:func:`guide_parameter_ids`)."""
        vectorized = self.vectorize_particles and self.num_particles > 1
        wrap = (lambda fn: in_particle_plate(self, fn)) if vectorized else (lambda fn: fn)
        parts, guide_ids = [], set()
        for model_trace, guide_trace in elbo_traces(self, model, guide, args, kwargs):
            _check_reparameterized(guide_trace, self.name)
            guide_ids |= guide_parameter_ids(guide_trace)
            parts.append(path_log_weight(model_trace, guide_trace, guide, args, kwargs, wrap))
        log_w = parts[0][0] if vectorized else torch.stack([p[0] for p in parts])
        return log_w, parts[0][1], guide_ids


class StickingTheLandingELBO(_Pathwise):
    """Minus the ELBO, :math:`-\\frac1K \\sum_k \\log w_k`, whose gradient is the
    sticking-the-landing estimator (see the module docstring)."""

    name = "stl"

    def differentiable_loss(self, model, guide, *args, **kwargs):
        log_w, scale, _ = self._path_weights(model, guide, args, kwargs)
        return -(scale * log_w).sum() / self.num_particles


class DReGIWAE(_Pathwise):
    """Minus the IWAE bound :math:`\\sum_n \\log \\frac1K \\sum_k w_{kn}`, whose gradient is the
    doubly reparameterized estimator: :math:`\\tilde w` for the model's parameters,
    :math:`\\tilde w^2` for the guide's (see the module docstring).

    The guide's parameters are the leaves reached through the guide's sampled values; the
    others the model's. The returned tensor has the bound's value and, under ``backward``,
    exactly these gradients (computed here by two passes over one graph)."""

    name = "dreg"

    def differentiable_loss(self, model, guide, *args, **kwargs):
        log_w, scale, guide_params = self._path_weights(model, guide, args, kwargs)
        weights = torch.softmax(log_w.detach(), dim=0)
        value = scale * (torch.logsumexp(log_w.detach(), dim=0) - math.log(log_w.shape[0]))
        model_side = -(scale * weights * log_w).sum()
        guide_side = -(scale * weights.pow(2) * log_w).sum()
        params = leaves(model_side)
        if not params:
            return -value.sum()
        model_params = [p for p in params if id(p) not in guide_params]
        guide_list = [p for p in params if id(p) in guide_params]
        grads = torch.autograd.grad(model_side, model_params, retain_graph=bool(guide_list),
                                    allow_unused=True) if model_params else ()
        grads += torch.autograd.grad(guide_side, guide_list, allow_unused=True) \
            if guide_list else ()
        surrogate = sum(((p * g).sum() for p, g in zip(model_params + guide_list, grads)
                         if g is not None), torch.zeros((), dtype=log_w.dtype,
                                                        device=log_w.device))
        return -value.sum() + surrogate - surrogate.detach()


def make_training_elbo(loss: str, num_particles: int = 1, replay: bool = True,
                       vectorize: bool = True, gradient: str = "reparam"):
    """The ELBO object that trains with ``loss`` and the ``gradient`` estimator:
    :func:`~pyrovae.train.objective.make_elbo` for ``"reparam"``, else
    :class:`StickingTheLandingELBO` (``trace_elbo``) or :class:`DReGIWAE` (``iwae``) with
    ``num_particles`` particles (vectorized unless ``vectorize`` is False). They run the Pyro
    program every step: the fast path's replay records the reparameterized gradient only, which
    one line says where it would have been used."""
    if gradient == "reparam":
        return make_elbo(loss, num_particles, replay, vectorize)
    if replay and loss == "trace_elbo" and num_particles == 1:
        warnings.warn(f'pyrovae: gradient = "{gradient}" runs the Pyro program every step (the '
                      f"fast path replays the reparameterized gradient only).", stacklevel=3)
    cls = {"stl": StickingTheLandingELBO, "dreg": DReGIWAE}[gradient]
    return cls(alpha=0.0, num_particles=num_particles,
               vectorize_particles=vectorize and num_particles > 1)
