"""The VAE of Pyro's tutorial (``examples/vae/vae.py``), re-typed at a small size: an Encoder and
a Decoder inside a VAE module, ``pyro.module`` in the model and guide, a ``pyro.plate("data",
x.shape[0])``, a Bernoulli likelihood without argument validation on ``x.reshape(-1, 784)``."""

import pyro
import pyro.distributions as dist
import torch
from torch import nn


class Decoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(z_dim, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, 784)
        self.softplus = nn.Softplus()
        self.sigmoid = nn.Sigmoid()

    def forward(self, z):
        hidden = self.softplus(self.fc1(z))
        return self.sigmoid(self.fc21(hidden))


class Encoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, z_dim)
        self.fc22 = nn.Linear(hidden_dim, z_dim)
        self.softplus = nn.Softplus()

    def forward(self, x):
        x = x.reshape(-1, 784)
        hidden = self.softplus(self.fc1(x))
        return self.fc21(hidden), torch.exp(self.fc22(hidden))


class VAE(nn.Module):
    def __init__(self, z_dim=4, hidden_dim=32):
        super().__init__()
        self.encoder = Encoder(z_dim, hidden_dim)
        self.decoder = Decoder(z_dim, hidden_dim)
        self.z_dim = z_dim

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z_loc = x.new_zeros(torch.Size((x.shape[0], self.z_dim)))
            z_scale = x.new_ones(torch.Size((x.shape[0], self.z_dim)))
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            loc_img = self.decoder(z)
            pyro.sample("obs", dist.Bernoulli(loc_img, validate_args=False).to_event(1),
                        obs=x.reshape(-1, 784))

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))


def binary_images(n, seed=0, prototypes=3, flip=0.05):
    """``[n, 1, 28, 28]`` binary images (the MNIST loader's shape): noisy copies of a few random
    prototypes, drawn from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(prototypes, 784, generator=g) < 0.3).float()
    which = torch.randint(prototypes, (n,), generator=g)
    noise = (torch.rand(n, 784, generator=g) < flip).float()
    return (protos[which] - noise).abs().reshape(n, 1, 28, 28)
