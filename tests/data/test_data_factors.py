"""Datasets with known factors: the sprites' factor table, dSprites from its .npz, and a user's
file with factor arrays."""

import math

import numpy as np
import pytest
import torch

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.data import Factor, load_dataset
from pyrovae.data.dsprites import FILE


def test_factor_classes_bin_a_continuous_range_and_round_indices():
    scale = Factor("scale", 4, 0.0, 2.0)
    values = torch.tensor([0.0, 0.49, 0.5, 1.99, 2.0])
    assert scale.classes(values).tolist() == [0, 0, 1, 3, 3]
    assert Factor("shape", 3).classes(torch.tensor([0.0, 2.0, 1.0])).tolist() == [0, 2, 1]
    assert scale.describe() == "scale: 4 bins of [0, 2]"


def test_sprites_carry_a_factor_table_whose_bins_are_all_used():
    ds = load_dataset("sprites", seed=0, num_train=10, num_valid=10, num_test=2000)
    table = [(f.name, f.size) for f in ds.factor_table]
    assert table == [("shape", 5), ("scale", 6), ("rotation", 8), ("pos_x", 8), ("pos_y", 8)]
    classes = ds.factor_classes("test")
    assert classes.dtype == torch.int64 and classes.shape == (2000, 5)
    for i, (_, size) in enumerate(table):
        assert sorted(set(classes[:, i].tolist())) == list(range(size))
    assert torch.equal(classes[:, 0], ds.labels["test"])
    rotation = ds.factors["test"][:, 2]
    assert torch.equal(classes[:, 2], (rotation / (2 * math.pi / 8)).floor().long())


def test_subset_keeps_the_factor_classes_of_the_points_kept():
    ds = load_dataset("sprites", seed=0, num_train=10, num_valid=10, num_test=50)
    part, index = ds.subset("test", 7)
    assert torch.equal(part.factor_classes("test"), ds.factor_classes("test")[index])


def write_dsprites(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    sizes = (1, 3, 6, 40, 32, 32)
    classes = np.stack([rng.integers(s, size=n) for s in sizes], 1).astype(np.int64)
    imgs = (rng.random((n, 64, 64)) < 0.1).astype(np.uint8)
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=classes.astype(np.float64))
    return imgs, classes


def test_dsprites_reads_random_subsets_of_the_npz_with_their_factors(tmp_path):
    imgs, classes = write_dsprites(tmp_path / FILE)
    ds = load_dataset("dsprites", data_dir=tmp_path, seed=1, num_train=30, num_valid=10,
                      num_test=20)
    assert ds.event_shape == (1, 64, 64) and ds.binary
    assert [(f.name, f.size) for f in ds.factor_table] == [
        ("color", 1), ("shape", 3), ("scale", 6), ("orientation", 40), ("pos_x", 32),
        ("pos_y", 32)]
    rows = {}
    for split, size in (("train", 30), ("valid", 10), ("test", 20)):
        x, f = ds.splits[split], ds.factor_classes(split)
        assert x.shape == (size, 1, 64, 64) and f.shape == (size, 6)
        for image, factor in zip(x, f):  # each image keeps its own factors
            row = next(i for i in range(len(imgs)) if np.array_equal(imgs[i], image[0].numpy()))
            assert factor.tolist() == classes[row].tolist()
            rows[row] = split
    assert len(rows) == 60  # disjoint splits
    again = load_dataset("dsprites", path=str(tmp_path / FILE), seed=1, num_train=30,
                         num_valid=10, num_test=20)
    assert torch.equal(again.splits["test"], ds.splits["test"])


def test_dsprites_errors_say_where_the_file_goes(tmp_path):
    with pytest.raises(DataError, match=f"Download {FILE} from .* put it in the data directory"):
        load_dataset("dsprites", data_dir=tmp_path)
    np.savez(tmp_path / "other.npz", imgs=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(DataError, match="no array named latents_classes"):
        load_dataset("dsprites", path=str(tmp_path / "other.npz"))
    write_dsprites(tmp_path / FILE, n=10)
    with pytest.raises(ConfigError, match="exceeds the 10 images"):
        load_dataset("dsprites", data_dir=tmp_path)


def file_arrays(n=(20, 5, 5), factors=True):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, size in zip(("train", "valid", "test"), n):
        arrays[split] = rng.random((size, 3)).astype(np.float32)
        if factors:
            arrays[f"{split}_factors"] = rng.integers(4, size=(size, 2))
    return arrays


def test_a_file_can_carry_factor_classes(tmp_path):
    arrays = file_arrays()
    np.savez(tmp_path / "d.npz", **arrays)
    ds = load_dataset("file", path=str(tmp_path / "d.npz"))
    assert ds.factor_names == ("factor_0", "factor_1")
    sizes = [int(max(arrays[f"{s}_factors"][:, i].max() for s in ("train", "valid", "test"))) + 1
             for i in range(2)]
    assert [f.size for f in ds.factor_table] == sizes
    assert ds.factor_classes("valid").tolist() == arrays["valid_factors"].tolist()
    np.savez(tmp_path / "plain.npz", **file_arrays(factors=False))
    plain = load_dataset("file", path=str(tmp_path / "plain.npz"))
    with pytest.raises(DataError, match="carries no factors .* sprites, dsprites, and file"):
        plain.factor_classes("test")


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("test_factors"), "factors for train, valid only"),
    (lambda a: a.update(valid_factors=a["valid_factors"].astype(np.float32)), "integer"),
    (lambda a: a.update(valid_factors=a["valid_factors"][:, :1]), "F as in train_factors"),
    (lambda a: a.update(test_factors=-a["test_factors"] - 1), "non-negative"),
    (lambda a: a.update(test_factors=a["test_factors"][:3]), r"N = 5 points"),
])
def test_bad_factor_arrays_in_a_file_are_refused(tmp_path, change, message):
    arrays = file_arrays()
    change(arrays)
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset("file", path=str(tmp_path / "d.npz"))
