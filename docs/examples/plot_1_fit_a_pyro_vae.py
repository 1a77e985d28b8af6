"""
Train a Pyro VAE in a notebook
==============================

A VAE written as Pyro's VAE tutorial writes it (``model`` and ``guide`` methods of one module),
trained with :func:`pyrovae.fit` and scored with :func:`pyrovae.log_px`, on the embedded
sprites data (28x28 binary images, no download).
"""

import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from torch import nn

import pyrovae
from pyrovae.data import load_dataset


class VAE(nn.Module):
    def __init__(self, z_dim=8, hidden=200, x_dim=784):
        super().__init__()
        self.z_dim = z_dim
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.Softplus(),
                                     nn.Linear(hidden, x_dim))
        self.encoder = nn.Sequential(nn.Linear(x_dim, hidden), nn.Softplus(),
                                     nn.Linear(hidden, 2 * z_dim))

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], self.z_dim), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x.flatten(1))

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        loc, raw_scale = self.encoder(x.flatten(1)).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw_scale)).to_event(1))


data = load_dataset("sprites", num_train=2000, num_valid=200, num_test=200)
torch.manual_seed(0)
vae = VAE()
result = pyrovae.fit(vae.model, vae.guide, data.split("train"), valid=data.split("valid"),
                     epochs=8, lr=2e-3, seed=0)
print(result.history[["epoch", "train_objective", "valid_elbo", "seconds"]])

# %%
# The training curves: the ELBO per data point on the training batches and on the
# validation set.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(result.history["epoch"], result.history["train_objective"], "o-", label="train ELBO")
ax.plot(result.history["epoch"], result.history["valid_elbo"], "s-", label="valid ELBO")
ax.set(xlabel="epoch", ylabel="nats per image")
_ = ax.legend()

# %%
# The test log-likelihood by importance sampling with K = 500 particles from the guide, per
# data point, with its standard error; and the means of p(x | z) for draws from the prior.
estimate = pyrovae.log_px(vae.model, vae.guide, data.split("test"), num_samples=500)
print(f"test log p(x) = {estimate.value.mean():.2f} nats "
      f"(importance sampling, K = 500, {len(estimate.value)} points)")

with torch.no_grad():
    images = torch.sigmoid(vae.decoder(torch.randn(32, vae.z_dim))).reshape(-1, 28, 28)
fig, axes = plt.subplots(4, 8, figsize=(8, 4))
for ax, image in zip(axes.flat, images):
    ax.imshow(image, cmap="gray")
    ax.axis("off")
