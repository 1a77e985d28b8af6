import fractions

import numpy as np
import pytest
import torch

from pyrovae.data import load_dataset
from pyrovae.base.errors import ConfigError, DataError


THREE = {"train": np.zeros((2, 2)), "valid": np.zeros((1, 2)), "test": np.zeros((1, 2))}


def indexed(n, *shape):
    """Array whose data point i is filled with the value i, so splits can be traced back."""
    return np.arange(n, dtype=np.float64).reshape(n, *[1] * len(shape)) * np.ones((n, *shape))


def row_ids(x):
    return x.reshape(len(x), -1)[:, 0].long().tolist()


def test_pt_tensor_is_split_by_seeded_permutation(tmp_path):
    path = tmp_path / "data.pt"
    torch.save(torch.from_numpy(indexed(50, 3)), path)
    ds = load_dataset("file", path=str(path), seed=3)
    assert [len(ds.splits[k]) for k in ("train", "valid", "test")] == [40, 5, 5]
    ids = [i for k in ("train", "valid", "test") for i in row_ids(ds.splits[k])]
    assert sorted(ids) == list(range(50))
    assert ds.event_shape == (3,) and ds.splits["train"].dtype == torch.float32 and not ds.binary
    assert ds.labels == {} and ds.num_classes == 0
    again = load_dataset("file", path=path, seed=3)
    other = load_dataset("file", path=path, seed=4)
    assert torch.equal(again.splits["valid"], ds.splits["valid"])
    assert not torch.equal(other.splits["valid"], ds.splits["valid"])


def test_fractions_option(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, indexed(100, 2))
    ds = load_dataset("file", path=path, valid_fraction=0.2, test_fraction=0.3)
    assert [len(ds.splits[k]) for k in ("train", "valid", "test")] == [50, 20, 30]
    with pytest.raises(ConfigError, match="sum"):
        load_dataset("file", path=path, valid_fraction=0.5, test_fraction=0.5)
    with pytest.raises(DataError, match="empty"):
        np.save(path, indexed(3, 2))
        load_dataset("file", path=path)


def test_pt_dict_with_splits_and_labels(tmp_path):
    path = tmp_path / "data.pt"
    x = {k: torch.rand(n, 4, 4) for k, n in (("train", 6), ("valid", 2), ("test", 2))}
    labels = {"train_labels": torch.tensor([0, 1, 2, 0, 1, 2]), "test_labels": torch.tensor([4, 0])}
    torch.save({**x, **labels}, path)
    ds = load_dataset("file", path=path)
    assert all(torch.equal(ds.splits[k], x[k]) for k in x)
    assert ds.event_shape == (4, 4) and ds.num_classes == 5 and set(ds.labels) == {"train", "test"}
    assert ds.labels["test"].dtype == torch.int64 and ds.labels["test"].tolist() == [4, 0]


def test_npy_keeps_event_shape_and_detects_binary(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 2, size=(40, 5, 6)).astype(np.uint8))
    ds = load_dataset("file", path=path)
    assert ds.event_shape == (5, 6) and ds.binary
    assert ds.splits["train"].shape == (32, 5, 6) and ds.splits["train"].dtype == torch.float32


def test_npz_with_splits_and_with_one_array(tmp_path):
    rng = np.random.default_rng(0)
    splits = {k: rng.normal(size=(n, 3)) for k, n in (("train", 8), ("valid", 2), ("test", 2))}
    np.savez(tmp_path / "splits.npz", **splits, valid_labels=np.array([1, 0]))
    ds = load_dataset("file", path=tmp_path / "splits.npz")
    for k, v in splits.items():
        assert torch.equal(ds.splits[k], torch.tensor(v, dtype=torch.float32))
    assert ds.labels["valid"].tolist() == [1, 0] and ds.num_classes == 2
    np.savez(tmp_path / "one.npz", indexed(20, 2))
    one = load_dataset("file", path=tmp_path / "one.npz")
    assert [len(one.splits[k]) for k in ("train", "valid", "test")] == [16, 2, 2]


def test_nan_names_nan_and_the_data_point(tmp_path):
    data = indexed(30, 4)
    data[7, 2] = np.nan
    data[12, 0] = np.nan
    np.save(tmp_path / "bad.npy", data)
    with pytest.raises(DataError) as info:
        load_dataset("file", path=tmp_path / "bad.npy")
    message = str(info.value)
    assert "2 NaN" in message and "index 7" in message and "bad.npy" in message


def test_inf_in_a_named_split(tmp_path):
    test = np.zeros((3, 2))
    test[1, 1] = np.inf
    np.savez(tmp_path / "bad.npz", train=np.zeros((4, 2)), valid=np.zeros((2, 2)), test=test)
    with pytest.raises(DataError, match=r"1 Inf.*index 1"):
        load_dataset("file", path=tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("data.csv", "1,2\n", r"\.pt.*\.npy.*\.npz"),
        ("flat.npy", np.arange(5.0), r"shape \(5,\).*\[N, 1\]"),
        ("scalar.npy", np.array(3.0), r"shape \(\)"),
        ("text.npy", np.array([["a"], ["b"]]), "numbers"),
        ("mixed.npz", {"train": np.zeros((2, 2)), "other": np.zeros((2, 2))}, "arrays named"),
        ("labels.npz", {**THREE, "train_labels": np.array([0.5, 1.0])}, "integer"),
        ("shapes.npz", {**THREE, "valid": np.zeros((1, 3))}, "event_shape"),
    ],
)
def test_bad_files_say_what_to_give(tmp_path, name, content, match):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        np.save(path, content)
    with pytest.raises(DataError, match=match):
        load_dataset("file", path=path)


def test_missing_file_and_missing_path_option(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("file", path=tmp_path / "nowhere.pt")
    with pytest.raises(ConfigError, match=r"data\.path is required by dataset 'file'"):
        load_dataset("file")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"train": fractions.Fraction(1, 3)}, path)
    with pytest.raises(DataError, match=r"objects other than tensors \(here fractions.Fraction\)"):
        load_dataset("file", path=path)


def test_pickled_python_objects_get_our_own_one_line_message(tmp_path):
    path = tmp_path / "arrays.pt"
    torch.save({"train": np.zeros((4, 2))}, path)  # a numpy array is pickled as an object
    with pytest.raises(DataError) as info:
        load_dataset("file", path=path)
    message = str(info.value)
    assert "pickled Python objects other than tensors" in message and "numpy" in message
    assert "run code" in message and "torch.save(torch.as_tensor(x), path)" in message
    assert "weights_only" not in message and "\n" not in message


def test_object_arrays_in_npz_are_refused_the_same_way(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, **THREE, train_labels=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="Python objects.*run code") as info:
        load_dataset("file", path=path)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("name", ["notes.pt", "notes.npy", "notes.npz"])
def test_text_file_with_a_data_suffix_is_not_read(tmp_path, name):
    path = tmp_path / name
    path.write_text("hello world\n")
    with pytest.raises(DataError) as info:
        load_dataset("file", path=path)
    message = str(info.value)
    assert name in message and "\n" not in message
    assert "allow_pickle" not in message and "weights_only" not in message


def test_truncated_files_say_so(tmp_path):
    for name, save in (("cut.pt", lambda p: torch.save(torch.zeros(100, 5), p)),
                       ("cut.npy", lambda p: np.save(p, np.zeros((100, 5))))):
        path = tmp_path / name
        save(path)
        path.write_bytes(path.read_bytes()[:300])
        with pytest.raises(DataError, match=f"{name}.*truncated"):
            load_dataset("file", path=path)


def test_npz_without_the_split_names_says_which_are_missing(tmp_path):
    path = tmp_path / "xy.npz"
    np.savez(path, x=np.zeros((10, 2)), labels=np.zeros(10, dtype=np.int64))
    match = "none named 'train', 'valid', 'test'; unexpected 'labels', 'x'"
    with pytest.raises(DataError, match=match):
        load_dataset("file", path=path)
    np.savez(path, train=np.zeros((10, 2)), valid=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"\(none named 'test'\)"):
        load_dataset("file", path=path)


def test_pt_dict_names_the_entry_that_is_not_a_tensor(tmp_path):
    path = tmp_path / "mixed.pt"
    torch.save({"train": torch.zeros(2, 2), "valid": [0.0, 1.0], "test": torch.zeros(1, 2)}, path)
    with pytest.raises(DataError, match="entry 'valid' is a list"):
        load_dataset("file", path=path)


def test_path_option_that_is_a_directory_or_not_a_path(tmp_path):
    folder = tmp_path / "folder.npy"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        load_dataset("file", path=folder)
    with pytest.raises(ConfigError, match="option 'path' of dataset 'file' must be a file path"):
        load_dataset("file", path=3)
