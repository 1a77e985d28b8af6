"""The training loop's bookkeeping: the learning rate each epoch used, and early stopping
frozen during the KL warm-up."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

import pyrovae


class FixedPoint(nn.Module):
    """``z ~ N(0, 1)``, ``x ~ N(z, 1)``."""

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)


class ZeroDelta(nn.Module):
    """``q(z | x)`` a point mass at ``0 * w``: the ELBO, ``log p(x, z = 0)``, is the same
    number every epoch, so no epoch after the first improves on it."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Delta(0.0 * self.w * x))


def fit(**options):
    torch.manual_seed(0)
    x = torch.randn(40)
    return pyrovae.fit(FixedPoint(), ZeroDelta(), x, valid=x[:10], batch_size=20, **options)


def test_the_history_holds_the_rate_each_epoch_trained_with():
    result = fit(epochs=4, lr=1e-3, lr_schedule="staged", lr_stages=[[1, 1e-2], [2, 1e-3]])
    assert result.history["lr"].tolist() == pytest.approx([1e-2, 1e-3, 1e-3, 1e-3])


@pytest.mark.parametrize("freeze, epochs", [(False, 3), (True, 6)])
def test_warm_up_epochs_count_toward_patience_unless_frozen(freeze, epochs):
    result = fit(epochs=20, patience=2, kl_warmup_epochs=4, warmup_freezes_patience=freeze)
    assert result.history["valid_elbo"].nunique() == 1
    assert len(result.history) == epochs
