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
exactly, for hierarchical guides too (each site's parameters are computed from cut values). The
replays keep the plates' subsample sites: a plate that draws its points (``subsample_size``)
replays the same points.

- :class:`StickingTheLandingELBO` (Roeder et al. 2017): minus the mean over particles of the path
  log weights: the ELBO's value, the STL gradient.
- :class:`DReGIWAE` (Tucker et al. 2019): the IWAE bound's value; the model's parameters get
  the IWAE gradient :math:`\\sum_k \\tilde w_k \\partial_\\theta \\log w_k` and the guide's
  :math:`\\sum_k \\tilde w_k^2 \\frac{\\partial \\log w_k}{\\partial z_k}
  \\frac{\\partial z_k}{\\partial \\phi}`, with :math:`\\tilde w` the normalized weights, in one
  backward pass: the model and the guide's log-density read views of the draws whose gradient
  is multiplied by :math:`\\tilde w_k` (:func:`path_log_weight`).

Both need reparameterized guide sites and no enumeration; their log weights use the one site
log-density of :mod:`pyrovae.infer.sites`.
"""

from __future__ import annotations

import math
import warnings

import pyro.util
import torch
from pyro import poutine
from pyro.infer.util import get_dependent_plate_dims, is_validation_enabled
from pyro.poutine.util import prune_subsample_sites

from pyrovae._compat import guess_max_plate_nesting, in_particle_plate
from pyrovae.base.errors import ConfigError
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


def with_values(trace, values: dict[str, torch.Tensor]) -> poutine.Trace:
    """A copy of ``trace`` whose sites named in ``values`` hold those values, for
    ``poutine.replay``; its plates' subsample sites are kept, so that a replay draws the same
    data points as ``trace`` did (:func:`pyrovae.infer.particles.replay_trace` leaves them out:
    it replays one particle's values in a plate of another size)."""
    out = poutine.Trace()
    for name, site in trace.nodes.items():
        out.add_node(name, **({**site, "value": values[name]} if name in values else site))
    return out


def _scaled_view(value: torch.Tensor, factor, event_dim: int) -> torch.Tensor:
    """``value`` (the same numbers) whose gradient is multiplied by ``factor()``, read in the
    backward pass and broadcast over the value's batch dims (``event_dim`` trailing dims
    added)."""
    view = value.view_as(value)

    def scale(grad):
        r = factor()
        return (grad * r.reshape(r.shape + (1,) * event_dim)).reshape(grad.shape)

    if view.requires_grad:
        view.register_hook(scale)
    return view


def path_log_weight(elbo, model, guide, args, kwargs, wrap, factor=None):
    """``(log_w, scale)`` of :func:`~pyrovae.train.objective.log_weight` for one run of the
    guide (one particle, or all of them under ``wrap``, the particle plate), with the score term
    of the guide's parameters taken out of its gradient (same value; see the module docstring).

    The model and the log-density of the guide are computed at views of the guide's draws:
    with ``factor`` (a function returning a tensor of ``log_w``'s shape in the backward pass),
    the gradient that flows from ``log_w`` into the draws is multiplied by it, while the draws'
    paths inside the guide (a hierarchical guide's later sites) are not. That is how DReG gives
    the guide's parameters :math:`\\tilde w^2` and the model's :math:`\\tilde w` in one backward
    pass."""
    sampled = poutine.trace(wrap(guide)).get_trace(*args, **kwargs)
    _check_reparameterized(sampled, elbo.name)
    draws = {name: site["value"] for name, site in latent_sites(sampled).items()}
    sum_dims = []  # of the log weights, known once the model has run

    def batch_factor():  # ``factor()`` with the dims the log weights sum out put back
        r = factor()
        for dim in sorted(sum_dims, reverse=True):
            r = r.unsqueeze(dim)
        return r

    if factor is not None:
        draws = {name: _scaled_view(value, batch_factor,
                                    len(sampled.nodes[name]["fn"].event_shape))
                 for name, value in draws.items()}
    model_trace = poutine.trace(poutine.replay(wrap(model), trace=with_values(sampled, draws))) \
        .get_trace(*args, **kwargs)
    guide_trace = sampled if factor is None else poutine.trace(
        poutine.replay(wrap(guide), trace=with_values(sampled, draws))).get_trace(*args, **kwargs)
    if is_validation_enabled():
        pyro.util.check_model_guide_match(model_trace, guide_trace, elbo.max_plate_nesting)
    model_trace = prune_subsample_sites(model_trace)
    guide_trace = prune_subsample_sites(guide_trace)
    log_w, scale = log_weight(model_trace, guide_trace)
    cut = with_values(sampled, {name: value.detach() for name, value in draws.items()})
    # not blocked: the handlers around the loss (the KL weight beta) scale the replay alike
    replayed = poutine.trace(poutine.replay(wrap(guide), trace=cut)).get_trace(*args, **kwargs)
    sum_dims += get_dependent_plate_dims(model_trace.nodes.values())
    score = 0.0
    for name in draws:
        score = score + site_log_prob(replayed.nodes[name], sum_dims) / scale
    return log_w + (score - score.detach()), scale


class _Pathwise(DifferentiableRenyiELBO):
    """Each particle's path log weights (:func:`path_log_weight`), on the particle layout of
    :class:`DifferentiableRenyiELBO`."""

    name = ""

    def _path_weights(self, model, guide, args, kwargs, factor=None):
        """``(log_w [K, ...], scale)``: the path log weights of the particles, stacked.
        ``factor()``, where given, is a tensor of ``log_w``'s shape that multiplies the gradient
        flowing into the guide's draws (:func:`path_log_weight`)."""
        vectorized = self.vectorize_particles and self.num_particles > 1
        if vectorized:
            if self.max_plate_nesting == math.inf:
                guess_max_plate_nesting(self, model, guide, args, kwargs)
            log_w, scale = path_log_weight(self, model, guide, args, kwargs,
                                           lambda fn: in_particle_plate(self, fn), factor)
            return log_w, scale
        parts = [path_log_weight(self, model, guide, args, kwargs, lambda fn: fn,
                                 None if factor is None else lambda k=k: factor()[k])
                 for k in range(self.num_particles)]
        return torch.stack([log_w for log_w, _ in parts]), parts[0][1]


class StickingTheLandingELBO(_Pathwise):
    """Minus the ELBO, :math:`-\\frac1K \\sum_k \\log w_k`, whose gradient is the
    sticking-the-landing estimator (see the module docstring)."""

    name = "stl"

    def differentiable_loss(self, model, guide, *args, **kwargs):
        log_w, scale = self._path_weights(model, guide, args, kwargs)
        return -(scale * log_w).sum() / self.num_particles


class DReGIWAE(_Pathwise):
    """Minus the IWAE bound :math:`\\sum_n \\log \\frac1K \\sum_k w_{kn}`, whose gradient is the
    doubly reparameterized estimator: :math:`\\tilde w` for the model's parameters,
    :math:`\\tilde w^2` for the guide's (see the module docstring).

    The returned tensor has the bound's value; its gradient is that of
    :math:`\\sum_k \\mathrm{sg}[\\tilde w_k] \\log w_k` with the gradient flowing into each
    draw :math:`z_k` multiplied by :math:`\\tilde w_k` once more (:func:`path_log_weight`), in
    one backward pass. A parameter used by both model and guide gets :math:`\\tilde w` on its
    terms in the model and :math:`\\tilde w^2` on its path through the draws."""

    name = "dreg"

    def differentiable_loss(self, model, guide, *args, **kwargs):
        normalized = []  # known after the forward pass; the draws' hooks read it in the backward
        log_w, scale = self._path_weights(model, guide, args, kwargs, lambda: normalized[0])
        normalized.append(torch.softmax(log_w.detach(), dim=0))
        value = scale * (torch.logsumexp(log_w.detach(), dim=0) - math.log(log_w.shape[0]))
        surrogate = (scale * normalized[0] * log_w).sum()
        return -value.sum() - surrogate + surrogate.detach()


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
