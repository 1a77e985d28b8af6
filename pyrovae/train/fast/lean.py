"""A lean ``Trace_ELBO`` for reparameterized guides: the same loss and gradients, less overhead.

Pyro's :class:`~pyro.infer.Trace_ELBO` builds two full traces per step (graph nodes, score
parts, packed log-probs), validates every distribution's arguments and reads the loss back to
the host (``.item()``). For the common case—one particle and a guide whose sites are all
reparameterized—the ELBO is just

.. math:: \\mathcal L = \\sum_{s \\in \\text{model}} \\log p_s
    - \\sum_{s \\in \\text{guide}} \\log q_s,

each site's log-density scaled and masked as Pyro does, with the model's latent sites taking the
guide's values. :class:`LeanTraceELBO` computes exactly that with one small messenger per
program, under the same effect handlers (plates, scale, mask) as Pyro. The first call checks
the structure with Pyro's own machinery; a model/guide pair it cannot handle (discrete or
non-reparameterized guide sites, enumeration, latent sites the guide lacks, several particles)
falls back to ``Trace_ELBO`` with a one-line notice.

Then the tensor operations of a step are recorded once per input signature (shapes, dtypes,
devices) and replayed (:mod:`pyrovae.train.fast.replay`): the second call with a signature
records, the third runs the replay and the Pyro program side by side on the same random draws
and keeps the replay only if the losses and the gradients of every parameter are equal (bit for
bit on the CPU), and later calls replay (the training loop repeats that comparison once per
epoch, :meth:`LeanTraceELBO.reverify`). The Python work of Pyro's messengers, plates and
distribution objects is gone from those steps; the operations, values, gradients and random
draws are those of the Pyro program. A step whose backward pass is not the derivative of its
recorded operations (a custom ``autograd.Function``, a tensor hook, ``torch.utils.checkpoint``),
and a model or guide with module hooks (Python that a replay would not run), run the Pyro program
on every step, with a one-line notice. Calls under an outer Pyro handler (a beta other than 1 scales
the latent sites) run the Pyro program.
"""

from __future__ import annotations

import warnings

import pyro
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import prune_subsample_sites, site_is_subsample

from pyrovae._compat import global_module_hooks, module_hook_kinds, pyro_handlers_active
from pyrovae.base.nn import buffers, buffers_kept, module_of
from pyrovae.infer.sites import site_log_prob
from pyrovae.train.fast.replay import signature
from pyrovae.train.fast.replayer import Replayer


class _Unsupported(Exception):
    """The model/guide pair needs Pyro's general ``Trace_ELBO``."""


class _Record(Messenger):
    """Sum each sample site's scaled and masked log-density
    (:func:`~pyrovae.infer.sites.site_log_prob`); with ``replay``, latent sites take the values
    recorded in ``replay`` (as :func:`pyro.poutine.replay` does)."""

    def __init__(self, replay: dict | None = None):
        super().__init__()
        self.replay = replay
        self.values: dict[str, torch.Tensor] = {}
        self.log_prob: torch.Tensor | float = 0.0

    def _pyro_sample(self, msg) -> None:
        if self.replay is None or msg["is_observed"] or site_is_subsample(msg):
            return
        if msg["name"] not in self.replay:
            raise _Unsupported(f"the guide does not sample the model's latent site '{msg['name']}'")
        msg["value"] = self.replay[msg["name"]]
        msg["done"] = True

    def _pyro_post_sample(self, msg) -> None:
        if site_is_subsample(msg):
            return
        if msg["infer"].get("enumerate") or msg["infer"].get("_do_not_score"):
            raise _Unsupported(f"site '{msg['name']}' is enumerated or not scored")
        if self.replay is None and not msg["fn"].has_rsample:
            raise _Unsupported(f"guide site '{msg['name']}' is not reparameterized")
        self.values[msg["name"]] = msg["value"]
        lp = site_log_prob(msg, sum_dims=None)
        # Starts from the first site's term rather than 0.0: one operation fewer per step.
        self.log_prob = lp if isinstance(self.log_prob, float) else self.log_prob + lp


def module_hooks(*programs) -> str | None:
    """Why ``programs`` (a model and a guide) must run their Python code on every step: a module
    of theirs (:func:`~pyrovae.train.params.module_of`), or every module (torch's global
    hooks), has forward or backward hooks. ``None`` when nothing does."""

    if global_module_hooks():
        return "torch.nn global module hooks are registered, and a replay would not call them"
    for program in map(module_of, programs):
        if program is not None:
            for name, m in program.named_modules():
                hooked = module_hook_kinds(m)
                if hooked:
                    kind = hooked[0]
                    owner = type(program).__name__
                    where = f"module '{name}' of {owner}" if name else owner
                    return f"{where} has a {kind}, which a replay would not call"
    return None


def _accelerators(args) -> list:
    devices = {a.device for a in args if isinstance(a, torch.Tensor) and a.device.type != "cpu"}
    return sorted(devices, key=str)


def lean_elbo_loss(model, guide, *args, **kwargs) -> torch.Tensor:
    """Minus the one-sample ELBO of ``model``/``guide`` (see module docstring), differentiable."""
    with _Record() as q:
        guide(*args, **kwargs)
    with _Record(replay=q.values) as p:
        model(*args, **kwargs)
    return q.log_prob - p.log_prob


class LeanTraceELBO(Trace_ELBO):
    """``Trace_ELBO`` (one particle) with a lean ``differentiable_loss`` (see module docstring).

    :param validate_every_step: keep Pyro's argument validation on every step (and so never
        replay); by default it runs on the first step only (where the structure is checked), then
        the data-support check before training and the epoch's NaN check stand in for it.
    :param replay: record and replay each input signature's tensor operations (see module
        docstring). Turn it off for a model whose operations depend on Python state that changes
        during training (a temperature attribute, say), not only on its inputs' shapes.
    :param max_programs: input signatures to keep programs for; others run the Pyro program.
    """

    def __init__(self, validate_every_step: bool = False, replay: bool = True,
                 max_programs: int = 4):
        super().__init__(num_particles=1)
        self.validate_every_step = validate_every_step
        self._mode = None  # None: not checked yet; "lean" or "pyro"
        self._replayer = Replayer(self._stop_replay, max_programs)
        self._replayer.enabled = replay and not validate_every_step

    def _check(self, model, guide, args, kwargs) -> None:
        # Leaves the random streams untouched: a resumed run draws what an uninterrupted one does.
        with torch.no_grad(), torch.random.fork_rng(devices=_accelerators(args)), \
                buffers_kept(model, guide):
            self._check_traces(model, guide, args, kwargs)

    def _check_traces(self, model, guide, args, kwargs) -> None:
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        replayed = poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*args, **kwargs)
        guide_trace = prune_subsample_sites(guide_trace)
        model_trace = prune_subsample_sites(model_trace)
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and site["is_observed"]:
                raise _Unsupported(f"the guide observes site '{name}' (a pyro.factor or an "
                                   f"observed sample)")
            if site["type"] == "sample" and not site["fn"].has_rsample:
                raise _Unsupported(f"guide site '{name}' is not reparameterized")
        for name, site in model_trace.nodes.items():
            if site["type"] == "sample" and not site["is_observed"] and name not in guide_trace:
                raise _Unsupported(f"the guide does not sample the model's latent site '{name}'")

    def _fall_back(self, reason: str) -> None:
        self._mode = "pyro"
        warnings.warn(f"pyrovae: using Pyro's Trace_ELBO for this model/guide pair ({reason}).",
                      stacklevel=4)

    def _stop_replay(self, reason: str) -> None:
        warnings.warn(f"pyrovae: not replaying recorded steps for this model/guide pair ({reason}; "
                      f"set train.replay = false to skip the recording); every step runs the Pyro "
                      f"program.", stacklevel=6)

    @property
    def replay(self) -> bool:
        """Whether steps are recorded and replayed (turned off for good by a failed check)."""
        return self._replayer.enabled

    def reverify(self) -> None:
        """Compare the next replay of each program with the Pyro program again: catches a model
        whose Python state changed since recording. The training loop calls it each epoch."""
        self._replayer.reverify()

    def _replayed(self, model, guide, args, kwargs) -> torch.Tensor:
        """The loss, replayed where a checked recording exists
        (:class:`~pyrovae.train.fast.replayer.Replayer`)."""
        sig = None if kwargs or pyro_handlers_active() else signature(args)
        if sig is not None:
            sig = (id(model), id(guide), getattr(module_of(model), "training", None),
                   getattr(module_of(guide), "training", None), *sig)
        where = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

        def loss_of(*tensors):
            full = list(args)
            for i, t in zip(where, tensors):
                full[i] = t
            return lean_elbo_loss(model, guide, *full, **kwargs)

        return self._replayer(sig, loss_of, [args[i] for i in where], _accelerators(args),
                              check=lambda: module_hooks(model, guide),
                              state=lambda: buffers(model, guide))

    def differentiable_loss(self, model, guide, *args, **kwargs):
        first = self._mode is None
        if first:
            try:
                self._check(model, guide, args, kwargs)
                self._mode = "lean"
            except _Unsupported as e:
                self._fall_back(str(e))
        if self._mode == "lean":
            try:
                if first or self.validate_every_step:
                    return lean_elbo_loss(model, guide, *args, **kwargs)
                with pyro.validation_enabled(False):
                    return self._replayed(model, guide, args, kwargs)
            except _Unsupported as e:
                self._fall_back(str(e))
        return super().differentiable_loss(model, guide, *args, **kwargs)
