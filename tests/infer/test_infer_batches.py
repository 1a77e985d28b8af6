"""The one batching path: tensors in memory cut by rows or taken by index, a DataLoader's own
batches (tuples taken apart, dicts and packed sequences whole), and log_px on a DataLoader
giving the numbers it gives on the same tensors."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.nn.utils.rnn import pack_sequence
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import pyrovae
from pyrovae.base.errors import ConfigError, DataError
from pyrovae.infer.batches import InMemory, Streamed, arguments, first_tensor, moved, source

from pyrovae.guides.ppca import PPCAPosterior

from infer_toys import exact_ppca, mean_error_bound, ppca


def test_in_memory_batches_cut_the_per_point_tensors_and_pass_the_rest():
    x, y, w = torch.arange(10.0)[:, None], torch.arange(10), torch.ones(3)
    data = InMemory((x, y, w), {"scale": 2.0}, batch_size=4)
    got = list(data)
    assert [b.rows for b in got] == [(0, 4), (4, 8), (8, 10)] and len(data) == 3
    assert torch.equal(got[1].args[1], y[4:8]) and got[1].args[2] is w
    assert got[2].kwargs == {"scale": 2.0}
    taken = data.take(torch.tensor([7, 2]))
    assert torch.equal(taken.args[0], x[[7, 2]]) and taken.size == 2 and taken.args[2] is w


def test_a_loader_batch_is_the_models_arguments():
    packed = pack_sequence([torch.ones(3, 2), torch.ones(2, 2)])
    pair = [torch.ones(2), 1]
    assert arguments(pair) == tuple(pair) and arguments(pair)[0] is pair[0]
    assert len(arguments(packed)) == 1 and arguments(packed)[0] is packed
    batch = {"x": torch.zeros(5, 2)}
    assert arguments(batch) == (batch,)
    # a packed sequence's rows are time steps, not data points
    assert first_tensor((packed, {"m": torch.zeros(2, 7)})).shape == (2, 7)
    assert moved((packed, [torch.ones(1)]), "cpu")[0].data.shape == packed.data.shape


def test_a_streamed_source_counts_rows_and_keeps_its_first_batch():
    reads = []

    class Counted(TensorDataset):
        def __getitem__(self, i):
            reads.append(i)
            return super().__getitem__(i)

    data = Streamed(DataLoader(Counted(torch.arange(7.0)[:, None]), batch_size=3))
    assert data.num_data == 7 and len(data) == 3
    assert data.first().rows == (0, 3) and data.first() is data.first() and len(reads) == 3
    assert [b.rows for b in data] == [(0, 3), (3, 6), (6, 7)]
    assert isinstance(source((DataLoader(torch.ones(2, 1)),), {}, 5), Streamed)
    assert isinstance(source((torch.ones(2, 1),), {}, 5), InMemory)


def test_a_streamed_source_refuses_what_it_cannot_scale_or_count():
    class Endless(IterableDataset):
        def __iter__(self):
            yield torch.ones(2)

    with pytest.raises(ConfigError, match="has no length; give it __len__"):
        Streamed(DataLoader(Endless(), batch_size=2))
    no_tensor = Streamed(DataLoader(["a", "b"], batch_size=2))
    with pytest.raises(DataError, match="holds no tensor with a first dim"):
        no_tensor.first()


def test_log_px_on_a_data_loader_is_log_px_on_its_tensors():
    torch.manual_seed(0)
    model, x = ppca(num_data=30)
    guide = PPCAPosterior(model, std_factor=1.5)
    pyro.set_rng_seed(3)
    streamed = pyrovae.log_px(model, guide, DataLoader(x, batch_size=8), num_samples=50,
                              ks=(5,))
    pyro.set_rng_seed(3)
    in_memory = pyrovae.log_px(model, guide, x, num_samples=50, batch_size=8, ks=(5,))
    assert torch.equal(streamed.iwae[5], in_memory.iwae[5])
    assert torch.equal(streamed.value, in_memory.value)
    assert streamed.layout == in_memory.layout == "vectorized"


def test_log_px_on_a_loader_of_dicts_is_the_exact_log_likelihood():
    """A model whose one argument is a dict of tensors, read from a DataLoader with its own
    collate_fn; log p(x) of pPCA within the IS error of the closed form."""
    torch.manual_seed(0)
    model, x = ppca(num_data=24)

    def dict_model(batch):
        return model(batch["x"])

    def collate(rows):
        return {"x": torch.stack(rows), "note": "ignored"}

    pyro.set_rng_seed(1)
    result = pyrovae.log_px(dict_model, None, DataLoader(x, batch_size=10, collate_fn=collate),
                            num_samples=4000, proposal="prior")
    exact = exact_ppca(model, x)
    assert result.value.shape == (24,)
    error = (result.value - exact).mean().abs()
    assert error < mean_error_bound(result.stderr, 24)


def test_ais_refuses_a_data_loader():
    model, x = ppca(num_data=4)
    with pytest.raises(ConfigError, match="AIS takes its data as tensors"):
        pyrovae.log_px(model, None, DataLoader(x, batch_size=2), method="ais", proposal="prior")


def test_an_unsized_model_argument_in_a_loader_batch_reaches_the_model():
    """Data points counted by the first tensor; non-tensor arguments pass through."""
    seen = []

    def model(x, tag):
        seen.append(tag)
        with pyro.plate("points", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x[:, 0]), 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x[:, 0])

    loader = DataLoader(torch.zeros(6, 1), batch_size=4,
                        collate_fn=lambda rows: (torch.stack(rows), "hello"))
    result = pyrovae.log_px(model, None, loader, num_samples=5, proposal="prior")
    assert result.value.shape == (6,) and set(seen) == {"hello"}
    assert result.data_plate == "points"
