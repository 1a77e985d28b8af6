import math

import pytest
import torch

from pyrovae.base.errors import ConfigError
from pyrovae.data import load_dataset
from pyrovae.data.shapes import SHAPES

SMALL = {"num_train": 300, "num_valid": 100, "num_test": 100}


def test_same_seed_is_bit_identical_and_other_seed_differs():
    a, b = load_dataset("sprites", seed=7, **SMALL), load_dataset("sprites", seed=7, **SMALL)
    for split in ("train", "valid", "test"):
        assert torch.equal(a.splits[split], b.splits[split])
        assert torch.equal(a.factors[split], b.factors[split])
        assert torch.equal(a.labels[split], b.labels[split])
    c = load_dataset("sprites", seed=8, **SMALL)
    assert not torch.equal(a.splits["train"], c.splits["train"])


def test_global_rng_is_left_alone():
    state = torch.get_rng_state()
    load_dataset("sprites", **SMALL)
    assert torch.equal(state, torch.get_rng_state())


def test_splits_differ_and_do_not_depend_on_other_split_sizes():
    ds = load_dataset("sprites", seed=0, num_train=100, num_valid=100, num_test=100)
    assert not torch.equal(ds.splits["train"], ds.splits["valid"])
    assert not torch.equal(ds.splits["valid"], ds.splits["test"])
    bigger = load_dataset("sprites", seed=0, num_train=200, num_valid=100, num_test=100)
    assert torch.equal(bigger.splits["valid"], ds.splits["valid"])


def test_factors_labels_and_images():
    ds = load_dataset("sprites", seed=1, **SMALL)
    assert ds.factor_names == ("shape", "scale", "rotation", "pos_x", "pos_y")
    assert ds.event_shape == (1, 28, 28) and ds.binary and ds.num_classes == len(SHAPES) >= 4
    for split, n in (("train", 300), ("valid", 100), ("test", 100)):
        x, f, y = ds.splits[split], ds.factors[split], ds.labels[split]
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32 and x.is_contiguous()
        assert f.shape == (n, 5) and f.dtype == torch.float32
        assert y.dtype == torch.int64 and torch.equal(y, f[:, 0].long())
        shape, scale, rotation, pos = f[:, 0], f[:, 1], f[:, 2], f[:, 3:]
        assert torch.equal(shape, shape.round()) and shape.min() >= 0 and shape.max() < len(SHAPES)
        assert 0.5 <= scale.min() and scale.max() <= 1
        assert 0 <= rotation.min() and rotation.max() < 2 * math.pi
        assert 0 <= pos.min() and pos.max() <= 1
        assert set(x.unique().tolist()) == {0.0, 1.0}
        assert (x.sum(dim=(1, 2, 3)) >= 15).all()  # every sprite is visible
        border = x[..., 0, :].sum() + x[..., -1, :].sum() + x[..., :, 0].sum() + x[..., :, -1].sum()
        assert border == 0  # and never clipped by the canvas
    assert set(ds.labels["train"].tolist()) == set(range(len(SHAPES)))


def test_default_sizes():
    ds = load_dataset("sprites")
    assert [len(ds.splits[k]) for k in ("train", "valid", "test")] == [10000, 1000, 1000]


@pytest.mark.parametrize("value", [0, -3, 2.5, "10"])
def test_bad_sizes_are_config_errors(value):
    with pytest.raises(ConfigError, match="num_valid"):
        load_dataset("sprites", num_valid=value)
