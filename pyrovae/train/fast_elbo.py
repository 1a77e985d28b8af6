"""A lean ``Trace_ELBO`` for reparameterized guides: the same loss and gradients, less overhead.

Pyro's :class:`~pyro.infer.Trace_ELBO` builds two full traces per step (graph nodes, score
parts, packed log-probs), validates every distribution's arguments and reads the loss back to
the host (``.item()``). For the common case—one particle and a guide whose sites are all
reparameterized—the ELBO is just

.. math:: \\mathcal L = \\sum_{s \\in \\text{model}} \\log p_s - \\sum_{s \\in \\text{guide}} \\log q_s,

each site's log-density scaled and masked as Pyro does, with the model's latent sites taking the
guide's values. :class:`LeanTraceELBO` computes exactly that with one small messenger per
program, under the same effect handlers (plates, scale, mask) as Pyro. The first call checks
the structure with Pyro's own machinery; a model/guide pair it cannot handle (discrete or
non-reparameterized guide sites, enumeration, latent sites the guide lacks, several particles)
falls back to ``Trace_ELBO`` with a one-line notice.

Then the tensor operations of a step are recorded once per input signature (shapes, dtypes,
devices) and replayed (:mod:`pyrovae.train.replay`): the second call with a signature records,
the third runs the replay and the Pyro program side by side on the same random draws and keeps
the replay only if the two losses are equal, and later calls replay (the training loop repeats
that comparison once per epoch, :meth:`LeanTraceELBO.reverify`). The Python work of
Pyro's messengers, plates and distribution objects is gone from those steps; the operations,
values, gradients and random draws are those of the Pyro program. Calls under an outer Pyro
handler (a beta below 1 scales the latent sites) run the Pyro program.
"""

from __future__ import annotations

import warnings

import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.infer import Trace_ELBO
from pyro.poutine.messenger import Messenger
from pyro.poutine.runtime import _PYRO_STACK
from pyro.poutine.util import prune_subsample_sites, site_is_subsample

from pyrovae.train.replay import NotReplayable, Program, record


class _Unsupported(Exception):
    """The model/guide pair needs Pyro's general ``Trace_ELBO``."""


class _Record(Messenger):
    """Sum each sample site's scaled and masked log-density; with ``replay``, latent sites take
    the values recorded in ``replay`` (as :func:`pyro.poutine.replay` does)."""

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
        lp = scale_and_mask(msg["fn"].log_prob(msg["value"]), msg["scale"], msg["mask"]).sum()
        # Starts from the first site's term rather than 0.0: one operation fewer per step.
        self.log_prob = lp if isinstance(self.log_prob, float) else self.log_prob + lp


def _accelerators(args) -> list:
    return sorted({a.device for a in args if isinstance(a, torch.Tensor) and a.device.type != "cpu"},
                  key=str)


def lean_elbo_loss(model, guide, *args, **kwargs) -> torch.Tensor:
    """Minus the one-sample ELBO of ``model``/``guide`` (see module docstring), differentiable."""
    with _Record() as q:
        guide(*args, **kwargs)
    with _Record(replay=q.values) as p:
        model(*args, **kwargs)
    return q.log_prob - p.log_prob


class _Unverified:
    """A freshly recorded program, not yet compared with the Pyro program."""

    def __init__(self, program: Program):
        self.program = program


def _rng_states(devices) -> list:
    return [torch.get_rng_state(), *(torch.cuda.get_rng_state(d) for d in devices if d.type == "cuda")]


def _set_rng_states(devices, states) -> None:
    torch.set_rng_state(states[0])
    for d, s in zip([d for d in devices if d.type == "cuda"], states[1:]):
        torch.cuda.set_rng_state(s, d)


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

    def __init__(self, validate_every_step: bool = False, replay: bool = True, max_programs: int = 4):
        super().__init__(num_particles=1)
        self.validate_every_step = validate_every_step
        self.replay = replay and not validate_every_step
        self.max_programs = max_programs
        self._mode = None  # None: not checked yet; "lean" or "pyro"
        self._programs: dict[tuple, object] = {}  # signature -> "seen" | _Unverified | Program

    def _check(self, model, guide, args, kwargs) -> None:
        # Leaves the random streams untouched, so a resumed run draws what an uninterrupted one does.
        with torch.no_grad(), torch.random.fork_rng(devices=_accelerators(args)):
            self._check_traces(model, guide, args, kwargs)

    def _check_traces(self, model, guide, args, kwargs) -> None:
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        guide_trace, model_trace = prune_subsample_sites(guide_trace), prune_subsample_sites(model_trace)
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and (site["is_observed"] or not site["fn"].has_rsample):
                raise _Unsupported(f"guide site '{name}' is not a reparameterized latent")
        for name, site in model_trace.nodes.items():
            if site["type"] == "sample" and not site["is_observed"] and name not in guide_trace:
                raise _Unsupported(f"the guide does not sample the model's latent site '{name}'")

    def _fall_back(self, reason: str) -> None:
        self._mode = "pyro"
        warnings.warn(f"pyrovae: using Pyro's Trace_ELBO for this model/guide pair ({reason}).",
                      stacklevel=4)

    def _stop_replay(self, reason: str) -> None:
        self.replay = False
        self._programs.clear()
        warnings.warn(f"pyrovae: not replaying recorded steps for this model/guide pair ({reason}); "
                      f"every step runs the Pyro program.", stacklevel=5)

    def reverify(self) -> None:
        """Compare the next replay of each program with the Pyro program again (see
        :meth:`differentiable_loss`): catches a model whose Python state changed since recording."""
        self._programs = {k: _Unverified(v) if isinstance(v, Program) else v for k, v in self._programs.items()}

    @staticmethod
    def _signature(model, guide, args, kwargs) -> tuple | None:
        if kwargs or _PYRO_STACK:
            return None
        sig: list = [id(model), id(guide), getattr(model, "training", None),
                     getattr(guide, "training", None), torch.is_grad_enabled()]
        for a in args:
            if isinstance(a, torch.Tensor):
                sig.append((a.shape, a.dtype, a.device, a.stride(), a.requires_grad))
            elif a is None or isinstance(a, (bool, int, float, str)):
                sig.append((type(a), a))
            else:
                return None
        return tuple(sig)

    def _replayed(self, model, guide, args, kwargs) -> torch.Tensor | None:
        """The loss from a recorded program, or None where the Pyro program must run."""
        sig = self._signature(model, guide, args, kwargs)
        entry = self._programs.get(sig) if sig is not None else None
        if entry is None:
            if sig is not None and len(self._programs) < self.max_programs:
                self._programs[sig] = "seen"
            return None
        if isinstance(entry, Program):
            return entry(*[a for a in args if isinstance(a, torch.Tensor)])
        where = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

        def loss_of(*tensors):
            full = list(args)
            for i, t in zip(where, tensors):
                full[i] = t
            return lean_elbo_loss(model, guide, *full)

        tensors = [args[i] for i in where]
        devices = _accelerators(args)
        if entry == "seen":
            states = _rng_states(devices)
            try:
                loss, program = record(loss_of, *tensors)
            except NotReplayable as e:
                _set_rng_states(devices, states)  # the step runs again, drawing what it would have
                self._stop_replay(str(e))
                return None
            self._programs[sig] = _Unverified(program)
            return loss
        with torch.random.fork_rng(devices=devices):
            expected = loss_of(*tensors)
        loss = entry.program(*tensors)
        if not torch.allclose(loss.detach(), expected.detach(), rtol=0.0, atol=0.0, equal_nan=True):
            self._stop_replay("a replayed step differed from the Pyro program: its operations depend "
                              "on more than the inputs' shapes, e.g. on a Python attribute that changed; "
                              "set train.replay = false to skip the recording")
            return expected
        self._programs[sig] = entry.program
        return loss

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
                    loss = self._replayed(model, guide, args, kwargs) if self.replay else None
                    return loss if loss is not None else lean_elbo_loss(model, guide, *args, **kwargs)
            except _Unsupported as e:
                self._fall_back(str(e))
        return super().differentiable_loss(model, guide, *args, **kwargs)
