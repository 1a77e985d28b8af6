"""The semi-supervised VAE (M2) of Pyro's ``examples/vae/ss_vae_M2.py``, re-typed at a small
size: ``pyro.plate("data")`` without a size, the label ``y ~ OneHotCategorical`` observed when
``ys`` is given and sampled by the guide from ``q(y | x)`` otherwise; MLPs whose first layer
concatenates their inputs, broadcasting them (as the example's ``allow_broadcast``) only when
the guide is to be enumerated."""

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions.util import broadcast_shape
from torch import nn


class Exp(nn.Module):
    def forward(self, val):
        return torch.exp(val)


class Concat(nn.Module):
    """Concatenate the inputs along the last dim; with ``allow_broadcast`` broadcast their batch
    dims first (an enumerated label has a leading enumeration dim that the image lacks)."""

    def __init__(self, allow_broadcast=False):
        super().__init__()
        self.allow_broadcast = allow_broadcast

    def forward(self, *inputs):
        if len(inputs) == 1:
            inputs = inputs[0]
        if torch.is_tensor(inputs):
            return inputs
        if self.allow_broadcast:
            shape = broadcast_shape(*[s.shape[:-1] for s in inputs]) + (-1,)
            inputs = [s.expand(shape) for s in inputs]
        return torch.cat(inputs, dim=-1)


class Heads(nn.ModuleList):
    def forward(self, x):
        return [m(x) for m in self]


def mlp(sizes, output_activation=None, allow_broadcast=False):
    """``Concat``, then Linear + Softplus hidden layers, then one output layer per entry of
    ``sizes[-1]`` (a list: several heads) with its activation."""
    layers, width = [Concat(allow_broadcast)], sizes[0]
    for hidden in sizes[1:-1]:
        layers += [nn.Linear(width, hidden), nn.Softplus()]
        width = hidden
    out = sizes[-1]
    if isinstance(out, int):
        layers.append(nn.Linear(width, out))
        if output_activation is not None:
            layers.append(output_activation)
    else:
        heads = []
        for size, act in zip(out, output_activation):
            heads.append(nn.Sequential(nn.Linear(width, size), *([act] if act else [])))
        layers.append(Heads(heads))
    return nn.Sequential(*layers)


class SSVAE(nn.Module):
    def __init__(self, output_size=10, input_size=784, z_dim=4, hidden_layers=(32,),
                 config_enum=None):
        super().__init__()
        self.output_size, self.input_size, self.z_dim = output_size, input_size, z_dim
        self.allow_broadcast = config_enum == "parallel"
        hidden = list(hidden_layers)
        self.encoder_y = mlp([input_size, *hidden, output_size], nn.Softmax(dim=1),
                             self.allow_broadcast)
        self.encoder_z = mlp([input_size + output_size, *hidden, [z_dim, z_dim]], [None, Exp()],
                             self.allow_broadcast)
        self.decoder = mlp([z_dim + output_size, *hidden, input_size], nn.Sigmoid(),
                           self.allow_broadcast)

    def model(self, xs, ys=None):
        pyro.module("ss_vae", self)
        batch_size = xs.size(0)
        options = dict(dtype=xs.dtype, device=xs.device)
        with pyro.plate("data"):
            prior_loc = torch.zeros(batch_size, self.z_dim, **options)
            prior_scale = torch.ones(batch_size, self.z_dim, **options)
            zs = pyro.sample("z", dist.Normal(prior_loc, prior_scale).to_event(1))
            alpha_prior = torch.ones(batch_size, self.output_size, **options) / self.output_size
            ys = pyro.sample("y", dist.OneHotCategorical(alpha_prior), obs=ys)
            loc = self.decoder([zs, ys])
            pyro.sample("x", dist.Bernoulli(loc, validate_args=False).to_event(1), obs=xs)

    def guide(self, xs, ys=None):
        with pyro.plate("data"):
            if ys is None:
                alpha = self.encoder_y(xs)
                ys = pyro.sample("y", dist.OneHotCategorical(alpha))
            loc, scale = self.encoder_z([xs, ys])
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))


def labelled_images(n, seed=0, classes=10, flip=0.05):
    """``(xs [n, 784], ys [n, classes] one-hot)``: noisy copies of one random binary prototype
    per class, from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(classes, 784, generator=g) < 0.3).float()
    labels = torch.randint(classes, (n,), generator=g)
    noise = (torch.rand(n, 784, generator=g) < flip).float()
    xs = (protos[labels] - noise).abs()
    return xs, nn.functional.one_hot(labels, classes).float()
