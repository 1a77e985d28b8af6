from pathlib import Path

import numpy as np
import pytest
import torch

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.data import (
    Dataset,
    dataset_names,
    dataset_options,
    default_cache_dir,
    default_data_dir,
    load_dataset,
)
from pyrovae.data.validate import validate_dataset


def small(**changes):
    fields = dict(
        name="toy",
        splits={k: torch.zeros(2, 3) for k in ("train", "valid", "test")},
        labels={},
        factors={},
        factor_names=(),
        event_shape=(3,),
        binary=True,
        source="made in a test",
    )
    return Dataset(**{**fields, **changes})


def test_dataset_names():
    assert dataset_names() == ["binarized_mnist", "dsprites", "file", "mnist", "sprites"]


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(ConfigError) as info:
        load_dataset("sprite")
    message = str(info.value)
    assert "Did you mean 'sprites'?" in message and all(name in message for name in dataset_names())


def test_unknown_option_names_option_dataset_and_valid_options():
    with pytest.raises(ConfigError) as info:
        load_dataset("sprites", num_trian=10)
    message = str(info.value)
    assert "'data.num_trian'" in message and "'sprites'" in message
    assert "Did you mean 'num_train'?" in message
    assert "num_valid" in message and "num_test" in message
    with pytest.raises(ConfigError, match="Did you mean 'valid_fraction'"):
        load_dataset("file", path="x.npy", valid_frac=0.2)


def test_default_dirs_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PYROVAE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PYROVAE_CACHE_DIR", str(tmp_path / "c"))
    assert default_data_dir() == tmp_path / "d" and default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PYROVAE_DATA_DIR")
    monkeypatch.delenv("PYROVAE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == Path("data")
    assert default_cache_dir() == tmp_path / ".cache" / "pyrovae"


def test_data_dir_from_environment_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("PYROVAE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "mnist")):
        load_dataset("mnist")


def test_split_and_to():
    ds = small()
    assert ds.split("valid") is ds.splits["valid"]
    match = r"no split 'val'.*Did you mean 'valid'.*train, valid, test"
    with pytest.raises(DataError, match=match):
        ds.split("val")
    moved = ds.to("cpu")
    assert moved is not ds and torch.equal(moved.splits["train"], ds.splits["train"])
    assert moved.name == "toy" and moved.binary


def test_validation_catches_inconsistent_datasets():
    validate_dataset(small())
    cases = [
        (dict(splits={"train": torch.full((2, 3), 0.5)}), "binary"),
        (dict(event_shape=(4,)), "event_shape"),
        (dict(labels={"train": torch.tensor([0, 3])}, num_classes=3), r"only 0\.\.2"),
        (dict(labels={"train": torch.tensor([0, 1])}), "num_classes=0"),
        (dict(labels={"train": torch.tensor([0, 1, 1])}, num_classes=2), r"shape \(2,\)"),
        (dict(labels={"extra": torch.tensor([0, 1])}, num_classes=2), "no data"),
        (dict(factors={"test": torch.zeros(2, 2)}, factor_names=("a",)), r"shape \(2, 1\)"),
        (dict(splits={"train": torch.zeros(0, 3)}), "N >= 1"),
        (dict(splits={"train": torch.zeros(2, 3, dtype=torch.float64)}), "float32"),
    ]
    for changes, match in cases:
        with pytest.raises(DataError, match=match):
            validate_dataset(small(**changes))


def test_validation_reports_nan_in_a_split():
    x = torch.zeros(5, 3)
    x[3, 1] = float("nan")
    with pytest.raises(DataError, match=r"split 'test'.*1 NaN and 0 Inf.*index 3.*made in a test"):
        validate_dataset(small(binary=False, splits={"train": torch.zeros(2, 3), "test": x}))


def test_dataset_options_are_the_loaders_own_and_the_generic_ones():
    assert "dynamic_binarize" in dataset_options("mnist")
    assert "dynamic_binarize" not in dataset_options("file")
    expected = {"path", "valid_fraction", "test_fraction", "num_labelled"}
    assert set(dataset_options("file")) == expected
    with pytest.raises(ConfigError, match="Did you mean 'mnist'"):
        dataset_options("mnsit")


def test_num_labelled_advice_names_what_works(tmp_path):
    path = tmp_path / "unlabelled.npy"
    np.save(path, np.zeros((20, 2)))
    with pytest.raises(DataError, match="file with train_labels"):
        load_dataset("file", path=path, num_labelled=4)
    with pytest.raises(DataError, match="Lower data.num_labelled"):
        load_dataset("sprites", num_train=20, num_valid=5, num_test=5, num_labelled=19)
