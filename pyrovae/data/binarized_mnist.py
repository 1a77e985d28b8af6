"""Statically binarized MNIST (Larochelle's 50000/10000/10000 amat files)."""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import torch

from pyrovae.base.errors import DataError
from pyrovae.data.cache import cache_path, load_cached, save_cached, source_key
from pyrovae.data.dataset import Dataset
from pyrovae.data.download import fetch
from pyrovae.data.paths import DATA_DIR_SETTINGS, absent_dir, find_file, writable_dir

NAME = "binarized_mnist"
#: Where Larochelle's files of the split are published.
BASE_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
SPLITS = ("train", "valid", "test")
NUM_ROWS = {"train": 50000, "valid": 10000, "test": 10000}  # one image per row
LABELS_FILE = "binarized_mnist_test_labels.txt"
NUM_PIXELS = 784


def amat_name(split: str) -> str:
    """File name of ``split`` without the optional ``.gz``."""
    return f"binarized_mnist_{split}.amat"


def search_dirs(data_dir: Path, cache_dir: Path) -> list[Path]:
    """Directories searched for the files, in order; the last holds files downloaded while
    the data dir was read-only."""
    return [data_dir / NAME, data_dir, cache_dir / "downloads" / NAME]


def _missing_error(data_dir: Path, names: list[str], reason: str) -> DataError:
    listed = ", ".join(names)
    return DataError(
        f"binarized_mnist: missing {listed} (plain text or .gz) in {data_dir / NAME}/ and "
        f"{data_dir}/ ({reason}). Put the files in {data_dir / NAME}/ (they are at "
        f"{BASE_URL}<name>), or point {DATA_DIR_SETTINGS} at the directory that holds them."
    )


def _download(names: list[str], data_dir: Path, cache_dir: Path, download: bool) -> list[Path]:
    """Fetch ``names`` into the data dir, or the cache's downloads dir if that is read-only."""
    absent = absent_dir(data_dir)  # before the download creates it
    if not download:
        reason = f"{absent}data.download = false; data.download = true fetches them"
        raise _missing_error(data_dir, names, reason)
    dest = writable_dir([data_dir / NAME, cache_dir / "downloads" / NAME])
    if dest is None:
        reason = f"{absent}no writable directory to download them into"
        raise _missing_error(data_dir, names, reason)
    try:
        return [fetch(BASE_URL + name, dest / name) for name in names]
    except OSError as error:
        reason = f"{absent}download from {BASE_URL} failed: {error}"
        raise _missing_error(data_dir, names, reason) from None


def parse_amat(path: Path) -> np.ndarray:
    """The uint8 ``[N, 784]`` 0/1 pixels of an amat text file (plain or gzip).

    numpy's C ``loadtxt`` (numpy>=1.23) parses the 50000-row train file in about 0.3 s.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file: refused below
            pixels = np.loadtxt(path, dtype=np.uint8, ndmin=2)
    except (ValueError, OverflowError, OSError, EOFError, zlib.error) as error:
        # numpy's message goes on to advise `usecols`, which would hide a cut row.
        problem = str(error).split("; use `usecols`")[0]
        raise DataError(
            f"could not parse '{path}' as amat text (one row of {NUM_PIXELS} space-separated "
            f"0/1 values per image): {problem}. Replace it with a fresh copy of "
            f"{BASE_URL}{path.name.removesuffix('.gz')}."
        ) from None
    if pixels.shape[0] < 1 or pixels.shape[1] != NUM_PIXELS or pixels.max() > 1:
        raise DataError(
            f"'{path}' holds {pixels.shape[0]} rows of {pixels.shape[1]} values with maximum "
            f"{pixels.max() if pixels.size else 'n/a'}; expected rows of {NUM_PIXELS} values, "
            f"each 0 or 1. Replace it with a fresh copy of "
            f"{BASE_URL}{path.name.removesuffix('.gz')}."
        )
    return pixels


def check_rows(path: Path, split: str, count: int) -> None:
    """Raise :class:`DataError` unless ``count``, the rows of ``path``, is the known size of
    ``split``."""
    expected = NUM_ROWS[split]
    if count != expected:
        state = "truncated" if count < expected else "not the original"
        raise DataError(
            f"'{path}' holds {count} rows, but the binarized MNIST {split} file has {expected}: "
            f"it is {state}. Delete it and download it again ({BASE_URL}{amat_name(split)}; "
            f"pyrovae fetches missing files when online with data.download = true)."
        )


def read_split(path: Path, split: str, cache_dir: Path) -> torch.Tensor:
    """Float32 ``[N, 1, 28, 28]`` images of the amat file of ``split``, parsed once then read
    from cache, after checking their count."""
    key, cached = source_key(path), cache_path(cache_dir, NAME, path)
    pixels = load_cached(cached, key)
    usable = (isinstance(pixels, torch.Tensor) and pixels.dtype == torch.uint8
              and pixels.ndim == 2 and pixels.shape[1] == NUM_PIXELS)
    if not usable:
        pixels = torch.from_numpy(parse_amat(path))
        save_cached(cached, key, pixels)
    # Checked on cached data too: a cache made from a truncated file would otherwise keep it.
    check_rows(path, split, len(pixels))
    return pixels.reshape(-1, 1, 28, 28).float()


def read_labels(path: Path, count: int) -> torch.Tensor:
    """Int64 ``[count]`` digit labels, one per line of ``path``."""
    try:
        labels = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (ValueError, OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"could not read '{path}' as one digit label per line: {error}. "
            "Fix the file or remove it to load without test labels."
        ) from None
    if labels.shape != (count,) or labels.min() < 0 or labels.max() > 9:
        raise DataError(
            f"'{path}' holds {labels.size} labels, expected {count} labels (one per test "
            "image), each in 0..9. Fix the file or remove it to load without test labels."
        )
    return torch.from_numpy(labels)


def load(data_dir: Path, cache_dir: Path, seed: int, *, download: bool = True) -> Dataset:
    """Binarized MNIST with its fixed train/valid/test splits (``seed`` is unused).

    :param data_dir: looked in at ``<data_dir>/binarized_mnist/`` then ``<data_dir>/``.
    :param cache_dir: parsed copies go to ``<cache_dir>/binarized_mnist/``.
    :param download: fetch missing files from :data:`BASE_URL`.
    """
    dirs = search_dirs(data_dir, cache_dir)
    files = {split: find_file(dirs, amat_name(split)) for split in SPLITS}
    missing = [split for split, path in files.items() if path is None]
    if missing:
        fetched = _download([amat_name(s) for s in missing], data_dir, cache_dir, download)
        files.update(zip(missing, fetched))
    splits = {split: read_split(path, split, cache_dir) for split, path in files.items()}
    labels_path = find_file(dirs, LABELS_FILE)
    labels = {} if labels_path is None else {"test": read_labels(labels_path, len(splits["test"]))}
    sources = [f"{split}: {path}" for split, path in files.items()]
    sources += [f"test labels: {labels_path}"] if labels_path else []
    return Dataset(
        name=NAME,
        splits=splits,
        labels=labels,
        factors={},
        factor_names=(),
        event_shape=(1, 28, 28),
        binary=True,
        num_classes=10 if labels else 0,
        source="; ".join(sources),
    )
