"""fit streams a DataLoader or an IterableDataset: read batch by batch every epoch (never held
together), its valid ELBO the one of the same tensors in memory, and a streamed run resumed
to the numbers of an uninterrupted one."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

import pyrovae
from pyrovae.base.errors import ConfigError


class Model(nn.Module):
    """``z ~ N(0, I)``, ``x ~ N(W z + b, 1)``."""

    def __init__(self, dim=4):
        super().__init__()
        self.net = nn.Linear(2, dim)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.net(z), 1.0).to_event(1), obs=x)


class Guide(nn.Module):
    def __init__(self, dim=4):
        super().__init__()
        self.net = nn.Linear(dim, 4)

    def forward(self, x):
        loc, raw = self.net(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-3).to_event(1))


def data(n=60, dim=4, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


class Generated(IterableDataset):
    """``n`` points made one at a time as they are read; ``made`` counts them."""

    def __init__(self, n=60):
        self.n, self.made = n, 0

    def __len__(self):
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(1)
        for _ in range(self.n):
            self.made += 1
            yield torch.randn(4, generator=g)


def test_fit_streams_an_iterable_dataset_every_epoch():
    torch.manual_seed(0)
    generated = Generated()
    result = pyrovae.fit(Model(), Guide(), generated, epochs=3, batch_size=16, lr=1e-2)
    # one first batch read for the checks, then every point once per epoch
    assert generated.made == 16 + 3 * 60
    history = result.history
    assert len(history) == 3 and history["train_objective"].notna().all()
    assert history["train_objective"].iloc[-1] > history["train_objective"].iloc[0]


def test_a_streamed_valid_set_gives_the_valid_elbo_of_its_tensors():
    """Same batches and the same draws (the loader shuffles nothing and draws from its own
    generator): the histories agree bit for bit."""
    x, v = data(), data(30, seed=1)
    histories = []
    for valid in (v, DataLoader(v, batch_size=7, generator=torch.Generator())):
        torch.manual_seed(0)
        result = pyrovae.fit(Model(), Guide(), x, valid=valid, epochs=2, batch_size=16,
                             eval_batch_size=7, lr=1e-2)
        histories.append(result.history.drop(columns="seconds"))
    assert histories[0].equals(histories[1])


def test_a_streamed_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    def run(epochs, out, resume=False):
        torch.manual_seed(0)
        model, guide = Model(), Guide()
        loader = DataLoader(data(), batch_size=16, shuffle=True)
        return pyrovae.fit(model, guide, loader, epochs=epochs, lr=1e-2, out=out,
                           resume=resume).history.drop(columns="seconds")

    whole = run(4, tmp_path / "whole")
    run(2, tmp_path / "parts")
    resumed = run(4, tmp_path / "parts", resume=True)
    assert whole.equals(resumed)


def test_a_streamed_fit_refuses_what_needs_the_data_in_memory():
    class WithBias(Model):
        def init_output_bias(self, mean):
            self.net.bias.data = mean

    with pytest.raises(ConfigError, match="needs the training data in memory"):
        pyrovae.fit(WithBias(), Guide(), DataLoader(data(), batch_size=8), epochs=1,
                    output_bias="data_mean")
