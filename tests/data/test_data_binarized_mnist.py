import functools
import gzip
import http.server
import itertools
import os
import threading

import numpy as np
import pytest
import torch

from pyrovae.base.errors import DataError
from pyrovae.data import binarized_mnist, load_dataset
from pyrovae.data.cache import cache_path, save_cached, source_key

SPLITS = ("train", "valid", "test")


def write_amat(path, pixels):
    path.write_text("\n".join(" ".join(str(int(v)) for v in row) for row in pixels) + "\n")


def fake_pixels(n, seed):
    return np.random.default_rng(seed).integers(0, 2, size=(n, 784))


def as_tensor(pixels):
    return torch.tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28)


def expect_rows(monkeypatch, train, valid, test):
    """Make small synthetic files pass the row-count check."""
    monkeypatch.setattr(binarized_mnist, "NUM_ROWS", {"train": train, "valid": valid, "test": test})


def load(data_dir, **options):
    cache_dir = data_dir / "cache"
    return load_dataset("binarized_mnist", data_dir=data_dir, cache_dir=cache_dir, **options)


def test_shared_files_load_then_come_from_cache(shared_data_dir, tmp_path, monkeypatch):
    ds = load_dataset("binarized_mnist", data_dir=shared_data_dir, cache_dir=tmp_path)
    assert {k: tuple(v.shape) for k, v in ds.splits.items()} == {
        "train": (50000, 1, 28, 28),
        "valid": (10000, 1, 28, 28),
        "test": (10000, 1, 28, 28),
    }
    for split, mean in (("train", 0.1306), ("valid", 0.1311), ("test", 0.1325)):
        x = ds.splits[split]
        assert x.dtype == torch.float32 and x.is_contiguous()
        assert ((x == 0) | (x == 1)).all() and x.min() == 0 and x.max() == 1
        assert abs(x.mean().item() - mean) < 1e-3
    assert ds.binary and ds.event_shape == (1, 28, 28) and ds.num_classes == 10
    assert set(ds.labels) == {"test"}
    labels = ds.labels["test"]
    assert labels.dtype == torch.int64 and labels.shape == (10000,)
    assert labels.min() == 0 and labels.max() == 9

    def no_parsing(path):
        raise AssertionError(f"{path} was parsed again instead of read from the cache")

    monkeypatch.setattr(binarized_mnist, "parse_amat", no_parsing)
    again = load_dataset("binarized_mnist", data_dir=shared_data_dir, cache_dir=tmp_path)
    assert all(torch.equal(again.splits[k], ds.splits[k]) for k in SPLITS)


def test_plain_amat_parses_from_both_locations(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 5, 3, 2)
    pixels = {split: fake_pixels(n, i) for i, (split, n) in enumerate(zip(SPLITS, (5, 3, 2)))}
    write_amat(tmp_path / "binarized_mnist_train.amat", pixels["train"])  # directly in data_dir
    (tmp_path / "binarized_mnist").mkdir()
    for split in ("valid", "test"):
        write_amat(tmp_path / "binarized_mnist" / f"binarized_mnist_{split}.amat", pixels[split])
    ds = load(tmp_path, download=False)
    assert all(torch.equal(ds.splits[k], as_tensor(v)) for k, v in pixels.items())
    assert ds.labels == {} and ds.num_classes == 0


def test_cache_follows_changes_of_the_source(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 2, 2, 2)
    source = tmp_path / "binarized_mnist_train.amat"
    for i, split in enumerate(SPLITS):
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", fake_pixels(2, i))
    assert torch.equal(load(tmp_path).splits["train"], as_tensor(fake_pixels(2, 0)))
    new = fake_pixels(2, 10)  # same size: only the mtime tells the change
    write_amat(source, new)
    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert torch.equal(load(tmp_path).splits["train"], as_tensor(new))


def test_non_binary_amat_is_rejected(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 2, 2, 2)
    for i, split in enumerate(SPLITS):
        pixels = fake_pixels(2, i) * (2 if split == "valid" else 1)
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", pixels)
    with pytest.raises(DataError, match="binarized_mnist_valid.amat"):
        load(tmp_path)


def test_missing_files_offline_name_files_and_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(binarized_mnist, "BASE_URL", "http://127.0.0.1:9/")
    with pytest.raises(DataError) as info:
        load(tmp_path)
    message = str(info.value)
    assert all(f"binarized_mnist_{split}.amat" in message for split in SPLITS)
    assert str(tmp_path / "binarized_mnist") in message
    assert "PYROVAE_DATA_DIR" in message and "127.0.0.1:9" in message


def test_missing_files_without_download(tmp_path):
    write_amat(tmp_path / "binarized_mnist_train.amat", fake_pixels(2, 0))
    with pytest.raises(DataError, match="data.download = false") as info:
        load(tmp_path, download=False)
    assert "binarized_mnist_valid.amat" in str(info.value)
    assert "binarized_mnist_train.amat" not in str(info.value)


@pytest.fixture
def amat_server(tmp_path):
    """A local HTTP server offering three small amat files; yields (base URL, pixels)."""
    served = tmp_path / "served"
    served.mkdir()
    pixels = {split: fake_pixels(3, i) for i, split in enumerate(SPLITS)}
    for split, p in pixels.items():
        write_amat(served / f"binarized_mnist_{split}.amat", p)
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", pixels
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_into_data_dir(tmp_path, monkeypatch, amat_server):
    expect_rows(monkeypatch, 3, 3, 3)
    url, pixels = amat_server
    monkeypatch.setattr(binarized_mnist, "BASE_URL", url)
    data_dir = tmp_path / "data"
    ds = load(data_dir)
    assert all(torch.equal(ds.splits[k], as_tensor(v)) for k, v in pixels.items())
    assert sorted(p.name for p in (data_dir / "binarized_mnist").iterdir()) == [
        f"binarized_mnist_{split}.amat" for split in ("test", "train", "valid")
    ]


def test_download_falls_back_to_cache_if_data_dir_is_read_only(tmp_path, monkeypatch, amat_server):
    expect_rows(monkeypatch, 3, 3, 3)
    url, pixels = amat_server
    monkeypatch.setattr(binarized_mnist, "BASE_URL", url)
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("")  # nothing can be created below a regular file
    cache_dir = tmp_path / "cache"
    ds = load_dataset("binarized_mnist", data_dir=not_a_dir, cache_dir=cache_dir)
    assert all(torch.equal(ds.splits[k], as_tensor(v)) for k, v in pixels.items())
    assert (cache_dir / "downloads" / "binarized_mnist" / "binarized_mnist_test.amat").is_file()
    monkeypatch.setattr(binarized_mnist, "BASE_URL", "http://127.0.0.1:9/")
    again = load_dataset("binarized_mnist", data_dir=not_a_dir, cache_dir=cache_dir)
    assert torch.equal(again.splits["train"], ds.splits["train"])


def test_unwritable_cache_only_warns(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 2, 2, 2)
    for i, split in enumerate(SPLITS):
        write_amat(tmp_path / f"binarized_mnist_{split}.amat", fake_pixels(2, i))
    not_a_dir = tmp_path / "cache"
    not_a_dir.write_text("")
    with pytest.warns(UserWarning, match="PYROVAE_CACHE_DIR"):
        ds = load_dataset("binarized_mnist", data_dir=tmp_path, cache_dir=not_a_dir)
    assert len(ds.splits["train"]) == 2


def test_truncated_copy_of_the_real_test_file_is_refused(shared_data_dir, tmp_path):
    real = shared_data_dir / "binarized_mnist"
    for split in ("train", "valid"):
        name = f"binarized_mnist_{split}.amat.gz"
        (tmp_path / name).symlink_to(real / name)
    cut = tmp_path / "binarized_mnist_test.amat.gz"
    with gzip.open(real / cut.name, "rt") as source, gzip.open(cut, "wt") as copy:
        copy.writelines(itertools.islice(source, 100))
    with pytest.raises(DataError) as info:
        load(tmp_path, download=False)
    message = str(info.value)
    assert str(cut) in message and "holds 100 rows" in message and "has 10000" in message
    assert "truncated" in message and "download it again" in message and "\n" not in message


def write_splits(data_dir, counts):
    for i, (split, n) in enumerate(zip(SPLITS, counts)):
        write_amat(data_dir / f"binarized_mnist_{split}.amat", fake_pixels(n, i))
    return {split: data_dir / f"binarized_mnist_{split}.amat" for split in SPLITS}


def test_file_with_another_row_count_is_refused(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 5, 3, 2)
    write_splits(tmp_path, (5, 4, 2))
    with pytest.raises(DataError, match=r"binarized_mnist_valid.amat' holds 4 rows.*has 3"):
        load(tmp_path)


def test_cache_cannot_hide_a_truncated_file(tmp_path, monkeypatch):
    """A cache entry made from a truncated file (by a version without the row check) matches
    that file's key; the count is still checked."""
    expect_rows(monkeypatch, 5, 3, 2)
    files = write_splits(tmp_path, (5, 3, 1))
    cache_dir = tmp_path / "cache"
    for path in files.values():
        pixels = torch.from_numpy(binarized_mnist.parse_amat(path))
        save_cached(cache_path(cache_dir, "binarized_mnist", path), source_key(path), pixels)

    def no_parsing(path):
        raise AssertionError(f"{path} was parsed again instead of read from the cache")

    monkeypatch.setattr(binarized_mnist, "parse_amat", no_parsing)
    match = r"binarized_mnist_test.amat' holds 1 rows.*has 2.*truncated"
    with pytest.raises(DataError, match=match):
        load(tmp_path)


def test_cached_tensor_of_another_width_is_parsed_again(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 2, 2, 2)
    files = write_splits(tmp_path, (2, 2, 2))
    path = files["valid"]
    bad = torch.zeros(2, 100, dtype=torch.uint8)
    save_cached(cache_path(tmp_path / "cache", "binarized_mnist", path), source_key(path), bad)
    ds = load(tmp_path)
    assert torch.equal(ds.splits["valid"], as_tensor(fake_pixels(2, 1)))


def test_row_cut_short_names_the_file_without_numpy_advice(tmp_path, monkeypatch):
    expect_rows(monkeypatch, 2, 2, 2)
    files = write_splits(tmp_path, (2, 2, 2))
    text = files["test"].read_text()
    files["test"].write_text(text[: len(text) - 300])
    with pytest.raises(DataError, match="binarized_mnist_test.amat") as info:
        load(tmp_path)
    assert "usecols" not in str(info.value) and "fresh copy" in str(info.value)


def test_missing_data_directory_is_named(tmp_path):
    nowhere = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_dataset("binarized_mnist", data_dir=nowhere, cache_dir=tmp_path / "cache",
                     download=False)
    message = str(info.value)
    assert f"{nowhere} does not exist" in message and "data.dir" in message
    assert "data_dir=" not in message
