"""The training loop's bookkeeping: the learning rate each epoch used, and early stopping
frozen during the KL warm-up."""

import math
import warnings

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


def test_an_enumerated_m2_trains_without_pyros_enumeration_warning():
    """The SS-VAE as Pyro's tutorial writes it: the guide enumerates the label
    (config_enumerate); the valid ELBO sums it out as training does (TraceEnum_ELBO)."""
    torch.manual_seed(0)
    decoder, encoder_y, encoder_z = nn.Linear(2 + 3, 6), nn.Linear(6, 3), nn.Linear(6 + 3, 4)

    def model(xs, ys=None):
        pyro.module("decoder", decoder)
        with pyro.plate("data", xs.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(xs.shape[0], 2), 1.0).to_event(1))
            ys = pyro.sample("y", dist.OneHotCategorical(torch.ones(xs.shape[0], 3) / 3),
                             obs=ys)
            batch = torch.broadcast_shapes(z.shape[:-1], ys.shape[:-1])
            logits = decoder(torch.cat([z.expand(batch + (2,)), ys.expand(batch + (3,))], -1))
            pyro.sample("x", dist.Bernoulli(logits=logits).to_event(1), obs=xs)

    @pyro.infer.config_enumerate
    def guide(xs, ys=None):
        pyro.module("encoder_y", encoder_y)
        pyro.module("encoder_z", encoder_z)
        with pyro.plate("data", xs.shape[0]):
            if ys is None:
                ys = pyro.sample("y", dist.OneHotCategorical(logits=encoder_y(xs)))
            batch = torch.broadcast_shapes(xs.shape[:-1], ys.shape[:-1])
            features = torch.cat([xs.expand(batch + (6,)), ys.expand(batch + (3,))], -1)
            loc, raw = encoder_z(features).split(2, -1)
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw)).to_event(1))

    x = torch.bernoulli(torch.full((40, 6), 0.3))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="(?s).*enumerate")
        result = pyrovae.fit(model, guide, x[:30], valid=x[30:], epochs=2, batch_size=10,
                             loss="trace_enum_elbo")
    assert math.isfinite(result.state.best_valid_elbo)
