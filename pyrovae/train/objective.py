"""Training objectives: the ELBO family as one differentiable ``nn.Module``.

:class:`Objective` returns a loss tensor whose gradient is the objective's gradient, so a plain
torch optimizer (or ``DistributedDataParallel`` around the module) trains any model/guide pair.
"""

from __future__ import annotations

import math
import warnings

import torch
from pyro.infer import RenyiELBO, Trace_ELBO, TraceEnum_ELBO, TraceMeanField_ELBO
from pyro.infer.util import get_dependent_plate_dims
from pyro.poutine.messenger import Messenger
from torch import nn

from pyrovae._compat import elbo_traces, fast_path_refusal, guess_max_plate_nesting
from pyrovae.base.nn import buffers_kept, module_of
from pyrovae.infer.batches import cuda_devices
from pyrovae.infer.sites import site_log_prob
from pyrovae.train import fast


class DifferentiableRenyiELBO(RenyiELBO):
    r"""Pyro's :class:`~pyro.infer.RenyiELBO` with a ``differentiable_loss``.

    For each data point :math:`n` (each index of the plates shared by every site) with particles
    :math:`w_{kn} = \log p(x_n, z_{kn}) - \log q(z_{kn} \mid x_n)`,

    .. math:: \mathcal L_\alpha = \sum_n \frac{1}{1-\alpha}
        \log \frac1K \sum_{k=1}^K e^{(1-\alpha) w_{kn}},

    which for :math:`\alpha = 0` is the IWAE bound (Burda et al. 2015). Guide sites must be
    reparameterized, as in Pyro's own gradient estimator for this bound.
    """

    def differentiable_loss(self, model, guide, *args, **kwargs):
        particles = [log_weight(model_trace, guide_trace)
                     for model_trace, guide_trace in elbo_traces(self, model, guide, args, kwargs)]
        scale = particles[0][1]
        vectorized = self.vectorize_particles and self.num_particles > 1
        w = particles[0][0] if vectorized else torch.stack([p[0] for p in particles])
        one_minus_alpha = 1.0 - self.alpha
        log_mean = torch.logsumexp(one_minus_alpha * w, dim=0) - math.log(self.num_particles)
        return -(scale * log_mean / one_minus_alpha).sum()


def shared_scale(model_trace) -> float:
    """The subsampling scale of the plates every sample site of ``model_trace`` shares (the
    data plate, the particle plate): the product of :math:`N / B` over those that subsample."""
    frames = None
    for site in model_trace.nodes.values():
        if site["type"] == "sample":
            here = {f for f in site["cond_indep_stack"] if f.vectorized}
            frames = here if frames is None else frames & here
    return math.prod(f.full_size / f.size for f in frames or () if f.full_size)


def log_weight(model_trace, guide_trace) -> tuple[torch.Tensor, float]:
    r"""``(log_w, scale)``: :math:`\log p(x, z) - \log q(z \mid x)` of the traces' particle (of
    each particle, when vectorized) per index of the plates every site shares, each site's
    log-density summed over the other plates; without the subsampling scale of the shared
    plates, which is ``scale``. An estimator that is not linear in the weights (IWAE's
    logsumexp) multiplies by ``scale`` after it; inside, the data plate's :math:`N / B` would
    turn the bound into a near hard maximum."""
    sum_dims = get_dependent_plate_dims(model_trace.nodes.values())
    scale = shared_scale(model_trace)
    w = 0.0
    for site in model_trace.nodes.values():
        if site["type"] == "sample":
            w = w + site_log_prob(site, sum_dims) / scale
    for name, site in guide_trace.nodes.items():
        if site["type"] == "sample":
            if not site["fn"].has_rsample:
                raise NotImplementedError(
                    f"the IWAE/Renyi objective needs reparameterized guide sites; "
                    f"site '{name}' ({type(site['fn']).__name__}) is not. "
                    f"Use train.loss = \"trace_elbo\" for this guide."
                )
            w = w - site_log_prob(site, sum_dims) / scale
    return w, scale


def make_elbo(loss: str, num_particles: int = 1, replay: bool = True, vectorize: bool = True):
    """The Pyro ELBO object for a ``train.loss`` name.

    :param loss: ``trace_elbo`` (one particle: :func:`pyrovae.train.fast.trace_elbo`, the same
        loss with less overhead, on the torch and Pyro versions :mod:`pyrovae._compat` checked;
        on others Pyro's ``Trace_ELBO``, with one line), ``meanfield_elbo``, ``trace_enum_elbo`` (sums out enumerated
        discrete sites, e.g. the label of a semi-supervised model) or ``iwae``.
    :param num_particles: particles per data point (K of the IWAE bound).
    :param replay: let the one-particle ``trace_elbo`` record and replay its steps.
    :param vectorize: run several particles in one particle plate; False runs them one at a
        time (a program whose layers mix the particles, see :mod:`pyrovae.infer.particles`).
    """
    vectorize = vectorize and num_particles > 1
    refusal = fast_path_refusal() if loss == "trace_elbo" and num_particles == 1 else None
    if refusal is not None:
        warnings.warn(f"pyrovae: the fast path is off: {refusal}; training runs Pyro's "
                      f"Trace_ELBO (the same loss and gradients, slower).", stacklevel=2)
    table = {
        "trace_elbo": lambda: (
            fast.trace_elbo(replay=replay) if num_particles == 1 and refusal is None
            else Trace_ELBO(num_particles=num_particles, vectorize_particles=vectorize)
        ),
        "meanfield_elbo": lambda: TraceMeanField_ELBO(
            num_particles=num_particles, vectorize_particles=vectorize
        ),
        "trace_enum_elbo": lambda: TraceEnum_ELBO(
            num_particles=num_particles, vectorize_particles=vectorize
        ),
        "iwae": lambda: DifferentiableRenyiELBO(
            alpha=0.0, num_particles=num_particles, vectorize_particles=vectorize
        ),
    }
    return table[loss]()


def objective_name(loss: str, num_particles: int, beta: float) -> str:
    """What the training column measures: ``elbo``, ``iwae_k5``, ``elbo_beta0.5``, ...

    >>> objective_name("trace_elbo", 1, 1.0), objective_name("iwae", 5, 1.0)
    ('elbo', 'iwae_k5')
    >>> objective_name("trace_elbo", 1, 0.5)
    'elbo_beta0.5'
    """
    name = f"iwae_k{num_particles}" if loss == "iwae" else "elbo"
    return name if beta == 1.0 else f"{name}_beta{beta:g}"


class scale_latents(Messenger):
    """Multiply the log-density of every latent (unobserved) sample site by ``factor``.

    Applied to model and guide alike, it turns the ELBO
    :math:`E_q[\\log p(x\\mid z)] - KL(q\\,\\|\\,p)` into
    :math:`E_q[\\log p(x\\mid z)] - \\beta\\, KL(q\\,\\|\\,p)` (beta-VAE, KL warm-up).
    """

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def _process_message(self, msg) -> None:
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.factor * msg["scale"]


class Objective(nn.Module):
    """Negative training objective of ``model``/``guide`` on a minibatch.

    :param model: the model: an ``nn.Module`` (a ``PyroModule`` or a plain one), a method of
        one (``vae.model``), or a function.
    :param guide: the guide, the same kinds, taking the same arguments.
    :param elbo: a Pyro ELBO with ``differentiable_loss`` (see :func:`make_elbo`).
    """

    def __init__(self, model, guide, elbo):
        super().__init__()
        self.model = model
        self.guide = guide
        self.elbo = elbo
        # the modules whose methods the programs are: train() and eval() reach them too
        self.owners = nn.ModuleList(dict.fromkeys(
            m for p in (model, guide) if not isinstance(p, nn.Module)
            for m in [module_of(p)] if m is not None))

    def forward(self, *batch, scale: float = 1.0, beta: float = 1.0) -> torch.Tensor:
        """``scale`` times the negative objective; ``scale = N / batch size`` makes it estimate the
        full-data loss. ``beta`` weights the latent sites."""
        vectorized = getattr(self.elbo, "vectorize_particles", False)
        if vectorized and self.elbo.max_plate_nesting == float("inf"):
            # Pyro guesses the plate nesting by running the pair once; keep that off the random
            # streams and the buffers, so a resumed run draws what an uninterrupted one does.
            cuda = cuda_devices(batch)
            with torch.no_grad(), torch.random.fork_rng(devices=cuda), \
                    buffers_kept(self.model, self.guide):
                guess_max_plate_nesting(self.elbo, self.model, self.guide, batch, {})
        if beta == 1.0:
            loss = self.elbo.differentiable_loss(self.model, self.guide, *batch)
        else:
            with scale_latents(beta):
                loss = self.elbo.differentiable_loss(self.model, self.guide, *batch)
        return loss * scale
