"""scANVI of Pyro's ``examples/scanvi/scanvi.py``, re-typed at a small size: a hierarchical
model of gene counts (z1, the label y, z2 | z1, y, the log count l, and a ZeroInflatedNegative-
Binomial likelihood), networks of Linear + BatchNorm1d layers, ``pyro.plate("batch", len(x))``
under ``poutine.scale``, a gene-level ``pyro.param``, and a guide that adds a classification
loss as a ``pyro.factor`` when the label is given."""

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from pyro.distributions.util import broadcast_shape
from torch import nn
from torch.distributions import constraints
from torch.nn.functional import softmax, softplus


def make_fc(dims):
    layers = []
    for in_dim, out_dim in zip(dims, dims[1:]):
        layers += [nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no ReLU after the last layer


def split_in_half(t):
    return t.reshape(t.shape[:-1] + (2, -1)).unbind(-2)


def broadcast_inputs(input_args):
    shape = broadcast_shape(*[s.shape[:-1] for s in input_args]) + (-1,)
    return [s.expand(shape) for s in input_args]


class Z2Decoder(nn.Module):
    """p(z2 | z1, y); the input reshaped to two dims for BatchNorm1d and back."""

    def __init__(self, z1_dim, y_dim, z2_dim, hidden_dims):
        super().__init__()
        self.fc = make_fc([z1_dim + y_dim] + hidden_dims + [2 * z2_dim])

    def forward(self, z1, y):
        z1_y = torch.cat([z1, y], dim=-1)
        hidden = self.fc(z1_y.reshape(-1, z1_y.size(-1)))
        hidden = hidden.reshape(z1_y.shape[:-1] + hidden.shape[-1:])
        loc, scale = split_in_half(hidden)
        return loc, softplus(scale)


class XDecoder(nn.Module):
    """p(x | z2): gate and normalized mean of the counts (BatchNorm1d on z2 as it comes)."""

    def __init__(self, num_genes, z2_dim, hidden_dims):
        super().__init__()
        self.fc = make_fc([z2_dim] + hidden_dims + [2 * num_genes])
        self.epsilon = 1.0e-6

    def forward(self, z2):
        gate, mu = split_in_half(self.fc(z2))
        gate = self.epsilon + (1.0 - 2.0 * self.epsilon) * gate.sigmoid()
        return gate, softmax(mu, dim=-1)


class Z2LEncoder(nn.Module):
    """q(z2 | x) and q(l | x)."""

    def __init__(self, num_genes, z2_dim, hidden_dims):
        super().__init__()
        self.fc = make_fc([num_genes] + hidden_dims + [2 * z2_dim + 2])

    def forward(self, x):
        h1, h2 = split_in_half(self.fc(x))
        return h1[..., :-1], softplus(h2[..., :-1]), h1[..., -1:], softplus(h2[..., -1:])


class Z1Encoder(nn.Module):
    """q(z1 | z2, y)."""

    def __init__(self, num_labels, z1_dim, z2_dim, hidden_dims):
        super().__init__()
        self.fc = make_fc([num_labels + z2_dim] + hidden_dims + [2 * z1_dim])

    def forward(self, z2, y):
        z2_y = torch.cat(broadcast_inputs([z2, y]), dim=-1)
        hidden = self.fc(z2_y.reshape(-1, z2_y.size(-1)))
        hidden = hidden.reshape(z2_y.shape[:-1] + hidden.shape[-1:])
        loc, scale = split_in_half(hidden)
        return loc, softplus(scale)


class Classifier(nn.Module):
    """q(y | z2), as logits (BatchNorm1d on z2 as it comes)."""

    def __init__(self, z2_dim, hidden_dims, num_labels):
        super().__init__()
        self.fc = make_fc([z2_dim] + hidden_dims + [num_labels])

    def forward(self, x):
        return self.fc(x)


class SCANVI(nn.Module):
    def __init__(self, num_genes, num_labels, l_loc, l_scale, latent_dim=2, alpha=0.1,
                 scale_factor=1.0, hidden=16):
        super().__init__()
        self.num_genes, self.num_labels, self.latent_dim = num_genes, num_labels, latent_dim
        self.l_loc, self.l_scale = l_loc, l_scale
        self.alpha, self.scale_factor = alpha, scale_factor
        self.z2_decoder = Z2Decoder(latent_dim, num_labels, latent_dim, [hidden])
        self.x_decoder = XDecoder(num_genes, latent_dim, [hidden])
        self.z2l_encoder = Z2LEncoder(num_genes, latent_dim, [hidden])
        self.classifier = Classifier(latent_dim, [hidden], num_labels)
        self.z1_encoder = Z1Encoder(num_labels, latent_dim, latent_dim, [hidden])
        self.epsilon = 1.0e-6

    def model(self, x, y=None):
        pyro.module("scanvi", self)
        theta = pyro.param("inverse_dispersion", x.new_ones(self.num_genes),
                           constraint=constraints.positive)
        with pyro.plate("batch", len(x)), poutine.scale(scale=self.scale_factor):
            z1 = pyro.sample("z1", dist.Normal(0, x.new_ones(self.latent_dim)).to_event(1))
            y = pyro.sample("y", dist.OneHotCategorical(logits=x.new_zeros(self.num_labels)),
                            obs=y)
            z2_loc, z2_scale = self.z2_decoder(z1, y)
            z2 = pyro.sample("z2", dist.Normal(z2_loc, z2_scale).to_event(1))
            l_scale = self.l_scale * x.new_ones(1)
            l = pyro.sample("l", dist.LogNormal(self.l_loc, l_scale).to_event(1))  # noqa: E741
            gate, mu = self.x_decoder(z2)
            nb_logits = (theta + self.epsilon).log() - (l * mu + self.epsilon).log()
            x_dist = dist.ZeroInflatedNegativeBinomial(gate=gate, total_count=theta,
                                                       logits=nb_logits)
            pyro.sample("x", x_dist.to_event(1), obs=x)

    def guide(self, x, y=None):
        pyro.module("scanvi", self)
        with pyro.plate("batch", len(x)), poutine.scale(scale=self.scale_factor):
            z2_loc, z2_scale, l_loc, l_scale = self.z2l_encoder(x)
            pyro.sample("l", dist.LogNormal(l_loc, l_scale).to_event(1))
            z2 = pyro.sample("z2", dist.Normal(z2_loc, z2_scale).to_event(1))
            y_dist = dist.OneHotCategorical(logits=self.classifier(z2))
            if y is None:
                y = pyro.sample("y", y_dist)
            else:
                pyro.factor("classification_loss", -self.alpha * y_dist.log_prob(y),
                            has_rsample=False)
            z1_loc, z1_scale = self.z1_encoder(z2, y)
            pyro.sample("z1", dist.Normal(z1_loc, z1_scale).to_event(1))


def synthetic_counts(n, num_genes=20, num_labels=4, seed=0, log_library_mean=4.0,
                     log_library_std=0.3):
    """``(x [n, genes] counts, y [n, labels] one-hot, l_loc, l_scale)``: counts drawn around one
    expression profile per label, with dropouts, from a seeded generator; ``l_loc`` and
    ``l_scale`` the mean and std of the log library sizes (as the example's data module)."""
    g = torch.Generator().manual_seed(seed)
    profiles = torch.rand(num_labels, num_genes, generator=g).pow(3) + 0.01
    profiles = profiles / profiles.sum(-1, keepdim=True)
    labels = torch.randint(num_labels, (n,), generator=g)
    library = torch.exp(log_library_mean + log_library_std * torch.randn(n, 1, generator=g))
    counts = torch.poisson(library * profiles[labels], generator=g)
    counts = counts * (torch.rand(n, num_genes, generator=g) > 0.1)
    log_library = counts.sum(-1).clamp(min=1).log()
    return (counts, nn.functional.one_hot(labels, num_labels).float(),
            float(log_library.mean()), float(log_library.std()))
