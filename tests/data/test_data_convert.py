"""Data given in Python become the engine's tuple of tensors: from a tensor, a tuple, a Dataset
or a DataLoader, with a one-line error for anything else."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from pyrovae.base.errors import DataError
from pyrovae.data.convert import as_tensors

X, Y = torch.arange(12.0).reshape(6, 2), torch.arange(6)


def test_a_tensor_and_a_tuple_are_kept_as_they_are():
    assert as_tensors(X)[0] is X
    x, y = as_tensors((X, Y))
    assert x is X and y is Y


def test_a_dataset_is_stacked_and_a_loader_concatenated():
    x, y = as_tensors(TensorDataset(X, Y))
    assert torch.equal(x, X) and torch.equal(y, Y)
    x, y = as_tensors(DataLoader(TensorDataset(X, Y), batch_size=4))
    assert torch.equal(x, X) and torch.equal(y, Y)
    (x,) = as_tensors(DataLoader(X, batch_size=4, shuffle=True))
    assert sorted(x[:, 0].tolist()) == X[:, 0].tolist()


@pytest.mark.parametrize("data, message", [
    ("x.pt", "must be a tensor"),
    ((X, torch.zeros(3)), "different numbers of rows"),
    (torch.zeros(0, 2), "no data points"),
    (TensorDataset(torch.zeros(0, 2)), "no data points"),
])
def test_anything_else_is_refused_in_one_line(data, message):
    with pytest.raises(DataError, match=message) as info:
        as_tensors(data)
    assert "\n" not in str(info.value)
