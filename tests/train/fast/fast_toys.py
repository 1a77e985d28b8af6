"""Model/guide pairs for the fast-path tests: the shipped VAE and a two-layer spec model, and
small pairs whose backward pass or Python state a replay must not get wrong."""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch.utils.checkpoint import checkpoint

from pyrovae.base.nn import mlp
from pyrovae.data import DataInfo
from pyrovae.registry import get_guide, get_model

INFO = DataInfo((1, 28, 28), binary=True)


def vae_pair():
    model = get_model("vae").factory(INFO, latent_dim=4, hidden=[16])
    return model, get_guide("mlp_normal").factory(model, INFO, hidden=[16])


def two_layer_pair():
    model = get_model("spec").factory(
        INFO,
        latents=[{"name": "z2", "dim": 3}, {"name": "z1", "dim": 5, "given": "z2", "hidden": [8]}],
        decoder={"kind": "mlp", "hidden": [16]}, likelihood="bernoulli")
    return model, get_guide("spec_encoder").factory(model, INFO, hidden=[16])


def binary(n):
    return torch.bernoulli(torch.full((n, 1, 28, 28), 0.3))


class Tempered(PyroModule):
    """Its likelihood reads a Python float: changing it changes the operations' constants."""

    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Parameter(torch.zeros(2))
        self.temperature = 1.0

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z + self.loc, self.temperature).to_event(1), obs=x)


class TemperedGuide(PyroModule):
    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x + self.loc, 0.5).to_event(1))


class Branching(Tempered):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow
            x = x * 1.0
        return super().forward(x)


class RoundStraightThrough(torch.autograd.Function):
    """Rounds in the forward pass, passes the gradient through unchanged (a VQ-style estimator)."""

    @staticmethod
    def forward(ctx, z):
        return torch.round(z)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _doubled_grad(z):
    h = z * 1.0
    if h.requires_grad:
        h.register_hook(lambda g: 2.0 * g)
    return h


def _node_hook(z):
    h = z * 1.0
    if h.grad_fn is not None:  # a hook on the autograd node itself: invisible from the tensors
        h.grad_fn.register_hook(lambda grad_in, _: tuple(None if g is None else 2 * g
                                                         for g in grad_in))
    return h


def _under_no_grad(z):
    with torch.no_grad():
        shift = z.mean() * 0.5  # no gradient flows through the shift
    return z - shift


READS = {
    "straight-through": RoundStraightThrough.apply,
    "tensor-hook": _doubled_grad,
    "node-hook": _node_hook,
    "checkpoint": lambda z: checkpoint(torch.tanh, z, use_reentrant=False),
    "checkpoint-reentrant": lambda z: checkpoint(torch.tanh, z, use_reentrant=True),
    "no-grad-block": _under_no_grad,
}


class Reading(torch.nn.Module):
    """z ~ N(0, I), x ~ N(W read(z) + b, I): the decoder reads the latent through ``read``."""

    def __init__(self, read):
        super().__init__()
        self.read = read
        self.decoder = torch.nn.Linear(3, 6)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(self.read(z)), 1.0).to_event(1), obs=x)


class ReadingGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(6, 6)

    def forward(self, x):
        loc, raw = self.encoder(x).split(3, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, torch.nn.functional.softplus(raw) + 0.1).to_event(1))


class RelaxedBits(torch.nn.Module):
    """Binary latents through Pyro's RelaxedBernoulliStraightThrough (a custom Function inside)."""

    def __init__(self):
        super().__init__()
        self.decoder = torch.nn.Linear(3, 6)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            half = x.new_full((x.shape[0], 3), 0.5)
            prior = dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=half)
            z = pyro.sample("z", prior.to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(z), 1.0).to_event(1), obs=x)


class RelaxedBitsGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(6, 3)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            q = dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), logits=self.encoder(x))
            pyro.sample("z", q.to_event(1))


def _hooked(pair):
    def build():
        model, guide = pair()
        model.decoder.register_forward_hook(lambda module, inputs, output: output * 1.5)
        return model, guide
    return build


PAIRS = {  # name -> a function building the pair
    **{name: (lambda read=read: (Reading(read), ReadingGuide())) for name, read in READS.items()},
    "relaxed-straight-through": lambda: (RelaxedBits(), RelaxedBitsGuide()),
    "module-forward-hook": _hooked(lambda: (Reading(torch.tanh), ReadingGuide())),
}
NOTICES = {  # what turns replay off for each pair (None: replay is exact and stays on)
    "straight-through": "custom torch.autograd.Function 'RoundStraightThrough'",
    "tensor-hook": "hook is registered on an intermediate tensor",
    "node-hook": "replay differed .*the gradient of a parameter",
    "checkpoint": "saved-tensor hooks",
    "checkpoint-reentrant": "custom torch.autograd.Function 'CheckpointFunction'",
    "no-grad-block": None,
    "relaxed-straight-through": "custom torch.autograd.Function 'QuantizeBernoulli'",
    "module-forward-hook": "module 'decoder' of Reading has a forward hook",
}


class NormedGuide(ReadingGuide):
    """A guide whose encoder normalizes its batch: running statistics are written each step."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 6))


class QuantizedVAE(torch.nn.Module):
    """A VAE whose decoder reads z rounded to halves through a straight-through estimator."""

    def __init__(self, event_shape, latent_dim):
        super().__init__()
        self.event_shape, self.latent_dim = tuple(event_shape), latent_dim
        self.decoder = mlp([latent_dim, 32, math.prod(event_shape)], "tanh")

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0]):
            zeros = x.new_zeros(x.shape[0], self.latent_dim)
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            logits = self.decoder(RoundStraightThrough.apply(2 * z) / 2).view(-1, *self.event_shape)
            pyro.sample("x", dist.Bernoulli(logits=logits).to_event(3), obs=x)


def quantized_vae(data, latent_dim: int = 4):
    """The factory a config names as ``path/to/fast_toys.py:quantized_vae``."""
    return QuantizedVAE(data.event_shape, latent_dim)
