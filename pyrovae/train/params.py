"""The parameters a model/guide pair trains, wherever they live.

A pair can keep its parameters in ``nn.Module`` s (a ``PyroModule``, a plain module, or a module
whose ``model`` and ``guide`` methods are the programs) or in Pyro's param store
(``pyro.param``, ``pyro.module`` in plain functions). :func:`collect` finds both, the way Pyro's
``SVI`` does: it runs the pair once under ``poutine.trace(param_only=True)`` and keeps the
unconstrained tensors of the param sites, besides the modules' own parameters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pyro
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO
from torch import nn

from pyrovae.base.nn import buffers_kept, module_of
from pyrovae.infer.batches import cuda_devices
from pyrovae.train.autograd import leaves


@dataclass
class Parameters:
    """What a pair trains: the modules of its model and guide and the names of the param-store
    entries its programs read that no module holds.

    :param model: the model's module, or None.
    :param guide: the guide's module, or None.
    :param store: names in Pyro's param store.
    """

    model: nn.Module | None
    guide: nn.Module | None
    store: tuple[str, ...] = ()

    def named(self) -> dict[str, torch.Tensor]:
        """Every trained leaf tensor once, by name (``model.decoder.0.weight``, ``store.w``);
        a tensor shared by model and guide is named once, as the model's."""
        out, seen = {}, set()
        for prefix, module in (("model", self.model), ("guide", self.guide)):
            for name, p in module.named_parameters() if module is not None else ():
                if id(p) not in seen and p.requires_grad:
                    seen.add(id(p))
                    out[f"{prefix}.{name}"] = p
        for name in self.store:
            p = pyro.get_param_store().get_param(name).unconstrained()
            if id(p) not in seen:
                seen.add(id(p))
                out[f"store.{name}"] = p
        return out

    def state(self) -> dict:
        """The values of everything trained, as tensors: ``model`` and ``guide`` (their
        ``state_dict`` s, buffers included) and ``store`` (name -> unconstrained value)."""
        store = pyro.get_param_store()
        return {
            "model": None if self.model is None else self.model.state_dict(),
            "guide": None if self.guide is None else self.guide.state_dict(),
            "store": {n: store.get_param(n).unconstrained().detach().clone() for n in self.store},
        }

    @torch.no_grad()
    def load(self, state: dict) -> None:
        """Set every value from :meth:`state`'s result.

        :raises RuntimeError: a module's ``state_dict`` does not fit (``load_state_dict``'s
            error), or ``state`` lacks a param-store entry (KeyError).
        """
        for module, values in ((self.model, state["model"]), (self.guide, state["guide"])):
            if module is not None:
                module.load_state_dict(values)
        store = pyro.get_param_store()
        for name in self.store:
            store.get_param(name).unconstrained().copy_(state["store"][name])

    def shapes(self) -> dict[str, list[int]]:
        """Each trained tensor's shape by name: what a checkpoint of this pair must fit."""
        return {name: list(p.shape) for name, p in self.named().items()}


def collect(model, guide, batch: tuple[torch.Tensor, ...]) -> Parameters:
    """The :class:`Parameters` of ``model`` and ``guide``: their modules, and the param-store
    entries that their programs read (param sites of a run of Pyro's ``Trace_ELBO`` on
    ``batch``, as ``SVI`` finds them) and that the loss depends on; an entry left in the store by
    another model of the same name is not one of them. The run leaves the random streams as
    they were; param-store entries the pair creates on it stay in the store."""
    modules = [m for m in (module_of(model), module_of(guide)) if m is not None]
    held = {id(p) for m in modules for p in m.parameters()}
    devices = cuda_devices(batch)
    with torch.random.fork_rng(devices=devices), buffers_kept(model, guide), poutine.block(), \
            warnings.catch_warnings(), poutine.trace(param_only=True) as params:
        warnings.simplefilter("ignore")  # Trace_ELBO's notes on the pair are not for this run
        loss = Trace_ELBO().differentiable_loss(model, guide, *batch)
    used = {id(p) for p in leaves(loss)} if loss.requires_grad else set()
    store = pyro.get_param_store()
    names = [site["name"] for site in params.trace.nodes.values() if site["name"] in store]
    names = [n for n in names if id(store.get_param(n).unconstrained()) in used - held]
    return Parameters(module_of(model), module_of(guide), tuple(dict.fromkeys(names)))
