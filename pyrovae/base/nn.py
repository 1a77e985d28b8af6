"""Small neural-network building blocks shared by models and guides, and what the engine asks of
the modules that hold a program: which module it is, its device, its buffers."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import suggest

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}

#: Hidden units that are not a pointwise function of a linear layer: :class:`GatedDense`.
GATED = "gated"
#: Every choice of an MLP's ``activation`` option.
ACTIVATION_CHOICES = (*ACTIVATIONS, GATED)

# The annotation of an activation option.
Activation = Literal[ACTIVATION_CHOICES]


class GatedDense(nn.Module):
    r"""A gated dense layer (Dauphin et al. 2017), the hidden units of Tomczak and Welling's
    VampPrior networks: :math:`h = (W_1 x + b_1) \odot \sigma(W_2 x + b_2)`.

    :param n_in: input width.
    :param n_out: output width.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.h = nn.Linear(n_in, n_out)
        self.g = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(x) * torch.sigmoid(self.g(x))


def activation(name: str) -> nn.Module:
    """A fresh pointwise activation module by name (``tanh``, ``relu``, ...)."""
    if name == GATED:
        raise ConfigError("activation 'gated' makes dense layers gated, so it has no pointwise "
                          f"form for this network; choose one of: {', '.join(ACTIVATIONS)}.")
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation '{name}'.{suggest(name, ACTIVATION_CHOICES)} "
            f"Choose one of: {', '.join(ACTIVATION_CHOICES)}."
        )
    return ACTIVATIONS[name]()


def mlp(sizes, act: str = "tanh") -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` with a linear output layer.

    :param sizes: layer widths, input first and output last.
    :param act: a pointwise activation after every hidden layer, or ``"gated"``: every hidden
        layer a :class:`GatedDense`.
    """
    sizes = [int(s) for s in sizes]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        if hidden and act == GATED:
            layers.append(GatedDense(n_in, n_out))
            continue
        layers.append(nn.Linear(n_in, n_out))
        if hidden:
            layers.append(activation(act))
    return nn.Sequential(*layers)


def hidden_mlp(sizes, act: str = "tanh") -> nn.Sequential:
    """An MLP ``sizes[0] -> ... -> sizes[-1]`` whose last layer is hidden too: :func:`mlp`
    followed by ``act`` (or, gated, all layers :class:`GatedDense`).

    :param sizes: layer widths, input first and output last.
    :param act: as for :func:`mlp`.
    """
    if act == GATED:
        sizes = [int(s) for s in sizes]
        return nn.Sequential(*(GatedDense(a, b) for a, b in zip(sizes[:-1], sizes[1:])))
    return nn.Sequential(mlp(sizes, act), activation(act))


def module_of(program) -> nn.Module | None:
    """The ``nn.Module`` holding ``program``'s parameters: the program itself, the module a
    bound method (``vae.model``) belongs to, or None for a plain function; through Pyro's
    handlers (``config_enumerate(vae.guide)``) to the program they wrap."""
    program = inspect.unwrap(program, stop=lambda f: isinstance(f, nn.Module))
    if isinstance(program, nn.Module):
        return program
    owner = getattr(program, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def program_device(program) -> torch.device | None:
    """The device of the parameters of ``program``'s module, or None where it has none."""
    module = module_of(program)
    return next((p.device for p in module.parameters()), None) if module is not None else None


def buffers(*programs) -> list[torch.Tensor]:
    """The buffers of the modules of ``programs`` (batch norm's running statistics, ...), each
    once: what a run writes in place besides the parameters."""
    modules = dict.fromkeys(m for m in map(module_of, programs) if m is not None)
    return list({id(b): b for m in modules for b in m.buffers()}.values())


@contextmanager
def buffers_kept(*programs):
    """Run the block, then put the buffers of ``programs``' modules back as they were: a run
    that is not a training step (a check, a probe) leaves no trace in them."""
    kept = [(b, b.detach().clone()) for b in buffers(*programs)]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, value in kept:
                if not torch.equal(b, value):  # an untouched one may be saved for backward
                    b.copy_(value)
