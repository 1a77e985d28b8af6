import gzip
import struct

import numpy as np
import pytest
import torch

from pyrovae.base.errors import DataError
from pyrovae.data import load_dataset, mnist


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as file:
        file.write(header + array.tobytes())


def fake_set(directory, prefix, n, seed, gz=False):
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, size=(n, 28, 28)), rng.integers(0, 10, size=n)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def as_images(array):
    return torch.tensor(array, dtype=torch.float32).unsqueeze(1) / 255


def test_t10k_only_split_from_shared_data(shared_data_dir):
    ds = load_dataset("mnist", data_dir=shared_data_dir)
    assert {k: tuple(v.shape) for k, v in ds.splits.items()} == {
        "train": (8000, 1, 28, 28),
        "valid": (1000, 1, 28, 28),
        "test": (1000, 1, 28, 28),
    }
    for split, x in ds.splits.items():
        assert x.dtype == torch.float32 and x.is_contiguous()
        assert x.min() == 0 and x.max() == 1
        y = ds.labels[split]
        assert y.dtype == torch.int64 and y.shape == (len(x),) and 0 <= y.min() and y.max() <= 9
    assert not ds.binary and not ds.dynamic_binarize and ds.num_classes == 10
    assert "t10k" in ds.source
    # The split is fixed: it does not follow the run's seed.
    other = load_dataset("mnist", data_dir=shared_data_dir, seed=123, dynamic_binarize=True)
    assert other.dynamic_binarize
    assert all(torch.equal(other.splits[k], ds.splits[k]) for k in ds.splits)
    assert all(torch.equal(other.labels[k], ds.labels[k]) for k in ds.labels)
    # Pinned so that a change of the split (e.g. by a new torch randperm) is noticed: results
    # reported on this split would no longer be comparable.
    assert ds.labels["test"][:12].tolist() == [3, 8, 6, 1, 8, 9, 5, 7, 4, 4, 3, 5]
    # All 10000 t10k images are used exactly once.
    total = sum(x.sum(dim=(1, 2, 3)).double().sum() for x in ds.splits.values())
    files = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    everything = mnist.read_pair(*(shared_data_dir / "mnist" / f for f in files))[0]
    assert torch.isclose(total, everything.sum(dim=(1, 2, 3)).double().sum())


def test_full_set_uses_training_file_for_train_and_valid(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "NUM_VALID", 4)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    train_images, train_labels = fake_set(raw, "train", 10, seed=0)
    test_images, test_labels = fake_set(raw, "t10k", 3, seed=1, gz=True)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert [len(ds.splits[k]) for k in ("train", "valid", "test")] == [6, 4, 3]
    expected = as_images(train_images)
    assert torch.allclose(ds.splits["train"], expected[:6])
    assert torch.allclose(ds.splits["valid"], expected[6:])
    assert torch.allclose(ds.splits["test"], as_images(test_images))
    assert ds.labels["valid"].tolist() == train_labels[6:].tolist()
    assert ds.labels["test"].tolist() == test_labels.tolist()


def test_missing_files_name_files_and_directory(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    assert str(tmp_path / "mnist") in message and "data.download = true" in message
    assert "does not exist" not in message


def test_missing_data_directory_is_named(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=nowhere)
    message = str(info.value)
    assert f"{nowhere} does not exist" in message and "data.dir" in message
    assert "data_dir=" not in message


def test_corrupt_idx_file_is_named(tmp_path):
    fake_set(tmp_path, "t10k", 20, seed=0)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)
