r"""
Score a model you wrote: log p(x) and its k-hat
===============================================

:func:`pyrovae.log_px` estimates :math:`\log p(x)` per data point by importance sampling from
the guide. It finds the data plate by its size, checks the particle layout on your program
(here a decoder that normalizes with ``softmax(dim=1)``, which vectorized particles would
silently break) and reports the Pareto :math:`\hat k` of each point's weights: above 0.7 the
estimate is not to be trusted (Vehtari et al.).
"""

import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from torch import nn

import pyrovae

torch.manual_seed(0)
K_WORDS, Z_DIM = 30, 4


class Topics(nn.Module):
    """Each document: ``z ~ N(0, I)``, words ``~ Multinomial(softmax(W z))``, written for
    ``[batch, features]`` tensors, as tutorials write such code."""

    def __init__(self):
        super().__init__()
        self.decoder = nn.Linear(Z_DIM, K_WORDS)
        self.encoder = nn.Linear(K_WORDS, 2 * Z_DIM)

    def model(self, counts):
        pyro.module("decoder", self.decoder)
        with pyro.plate("documents"):
            z = pyro.sample("z", dist.Normal(counts.new_zeros(len(counts), Z_DIM), 1.0)
                            .to_event(1))
            probs = torch.softmax(self.decoder(z), dim=1)
            pyro.sample("words", dist.Multinomial(20, probs), obs=counts)

    def guide(self, counts):
        pyro.module("encoder", self.encoder)
        loc, raw = self.encoder(torch.log1p(counts)).chunk(2, -1)
        with pyro.plate("documents"):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


true_probs = torch.softmax(torch.randn(3, K_WORDS) * 2, -1)
counts = dist.Multinomial(20, true_probs[torch.randint(0, 3, (600,))]).sample()
pair = Topics()
pyrovae.fit(pair.model, pair.guide, counts[:500], valid=counts[500:], epochs=30, lr=1e-2,
            batch_size=50, seed=0)

# %%
# The estimate names the particle layout it checked and chose: ``batch`` here, as the
# decoder's softmax over dim 1 would mix the particles of a vectorized run.
estimate = pyrovae.log_px(pair.model, pair.guide, counts[500:], num_samples=1000)
print(f"layout: {estimate.layout}; mean log p(x) = {estimate.value.mean():.2f} nats over "
      f"{len(estimate.value)} documents (K = 1000)")
print(f"k-hat above 0.7 on {int((estimate.khat > 0.7).sum())} of {len(estimate.khat)} documents")

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
left.hist(estimate.value.numpy(), bins=25)
left.set(xlabel="log p(x) per document (nats)", ylabel="documents")
right.scatter(estimate.value.numpy(), estimate.khat.numpy(), s=8)
right.axhline(0.7, color="tab:red", linestyle="--", label="k-hat = 0.7")
right.set(xlabel="log p(x)", ylabel="Pareto k-hat")
_ = right.legend()
fig.tight_layout()
