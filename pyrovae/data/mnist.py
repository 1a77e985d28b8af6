"""Grayscale MNIST from the original IDX files; works with only the 10000 t10k images too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyrovae.base.errors import DataError
from pyrovae.data.dataset import Dataset
from pyrovae.data.idx import read_idx
from pyrovae.data.paths import DATA_DIR_SETTINGS, absent_dir, find_file, writable_dir
from pyrovae.data.splitting import split_indices
from pyrovae.data.validate import is_binary

NAME = "mnist"
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
NUM_VALID = 10000
# Fixed so that the t10k-only split is the same in every run, whatever seed training uses.
T10K_SPLIT_SEED = 0


def search_dirs(data_dir: Path, cache_dir: Path) -> list[Path]:
    """Directories searched for the IDX files, in order; torchvision downloads into the last
    two."""
    raw = Path("MNIST") / "raw"
    return [data_dir / NAME, data_dir, data_dir / raw, cache_dir / "downloads" / raw]


def read_pair(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 ``[N, 1, 28, 28]`` images in [0, 1] and their int64 ``[N]`` labels."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise DataError(
            f"'{images_path}' holds an array of shape {images.shape} and '{labels_path}' one of "
            f"shape {labels.shape}; expected [N, 28, 28] images and [N] labels. Replace them "
            "with the original MNIST files."
        )
    if len(images) != len(labels) or len(images) < 1 or labels.max() > 9:
        raise DataError(
            f"'{images_path}' holds {len(images)} images but '{labels_path}' {len(labels)} "
            f"labels (max {labels.max() if labels.size else 'n/a'}); expected one label in 0..9 "
            "per image. Use image and label files of the same MNIST split."
        )
    x = torch.from_numpy((images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28))
    return x, torch.from_numpy(labels.astype(np.int64))


def _download(data_dir: Path, cache_dir: Path) -> None:
    """Fetch all four files with torchvision into ``<root>/MNIST/raw/``."""
    root = writable_dir([data_dir, cache_dir / "downloads"])
    if root is None:
        raise DataError(
            f"mnist: cannot download, neither {data_dir} nor {cache_dir / 'downloads'} is "
            f"writable. Point {DATA_DIR_SETTINGS} at a writable directory."
        )
    try:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=True, download=True)
    except Exception as error:  # torchvision raises RuntimeError, OSError, URLError, ...
        raise DataError(
            f"mnist: downloading with torchvision into {root / 'MNIST' / 'raw'}/ failed: "
            f"{error!r}. Download the four IDX files yourself into {data_dir / NAME}/."
        ) from None


def _missing_error(data_dir: Path, names: list[str], absent: str) -> DataError:
    return DataError(
        f"mnist: missing {', '.join(names)} (plain or .gz) in {data_dir / NAME}/ ({absent}also "
        f"searched {data_dir}/ and {data_dir / 'MNIST' / 'raw'}/). Put the IDX files in "
        f"{data_dir / NAME}/, point {DATA_DIR_SETTINGS} at the directory holding them, "
        "or set data.download = true to fetch them with torchvision."
    )


def _full_set(paths: dict, test: tuple) -> tuple[dict, dict, str]:
    """Splits, labels and a description: the training file gives train and valid."""
    x, y = read_pair(paths[TRAIN_IMAGES], paths[TRAIN_LABELS])
    if len(x) <= NUM_VALID:
        raise DataError(
            f"'{paths[TRAIN_IMAGES]}' holds {len(x)} images; the validation split takes the "
            f"last {NUM_VALID}, so it needs more. Use the original 60000-image file."
        )
    splits = {"train": x[:-NUM_VALID], "valid": x[-NUM_VALID:], "test": test[0]}
    labels = {"train": y[:-NUM_VALID], "valid": y[-NUM_VALID:], "test": test[1]}
    how = f"train/valid = first {len(x) - NUM_VALID}/last {NUM_VALID} of the training set"
    files = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
    return splits, labels, "; ".join([how, *(str(paths[name]) for name in files)])


def _t10k_only(paths: dict, test: tuple) -> tuple[dict, dict, str]:
    """Splits, labels and a description: the t10k set split 80/10/10 by a fixed permutation
    (independent of the run's seed)."""
    x, y = test
    index = split_indices(len(x), len(x) // 10, len(x) // 10, T10K_SPLIT_SEED)
    sizes = "/".join(str(len(i)) for i in index.values())
    how = (
        f"t10k images only (no {TRAIN_IMAGES} found), split {sizes} by a fixed permutation "
        f"(seed {T10K_SPLIT_SEED})"
    )
    files = (TEST_IMAGES, TEST_LABELS)
    return (
        {k: x[i] for k, i in index.items()},
        {k: y[i] for k, i in index.items()},
        "; ".join([how, *(str(paths[name]) for name in files)]),
    )


def load(
    data_dir: Path,
    cache_dir: Path,
    seed: int,
    *,
    dynamic_binarize: bool = False,
    download: bool = False,
) -> Dataset:
    """Grayscale MNIST scaled to [0, 1] (``seed`` is unused: the splits are fixed).

    With all four files: train = first 50000 training images, valid = last 10000, test = t10k.
    Without the training images: the 10000 t10k images split 8000/1000/1000.

    :param data_dir: searched at ``<data_dir>/mnist/``, ``<data_dir>/``, ``<data_dir>/MNIST/raw/``.
    :param cache_dir: torchvision downloads go to ``<cache_dir>/downloads/`` if the data dir is
        read-only.
    :param dynamic_binarize: ask the trainer to binarize each batch afresh.
    :param download: fetch missing files with torchvision.
    """
    dirs = search_dirs(data_dir, cache_dir)
    absent = absent_dir(data_dir)  # before a download creates it
    names = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
    paths = {name: find_file(dirs, name) for name in names}
    if download and None in paths.values():
        _download(data_dir, cache_dir)
        paths = {name: find_file(dirs, name) for name in names}
    missing = [name for name in (TEST_IMAGES, TEST_LABELS) if paths[name] is None]
    if paths[TRAIN_IMAGES] and not paths[TRAIN_LABELS]:
        missing.append(TRAIN_LABELS)
    if missing:
        raise _missing_error(data_dir, missing, absent)
    test = read_pair(paths[TEST_IMAGES], paths[TEST_LABELS])
    splits, labels, source = (_full_set if paths[TRAIN_IMAGES] else _t10k_only)(paths, test)
    return Dataset(
        name=NAME,
        splits=splits,
        labels=labels,
        factors={},
        factor_names=(),
        event_shape=(1, 28, 28),
        binary=all(is_binary(x) for x in splits.values()),
        dynamic_binarize=dynamic_binarize,
        num_classes=10,
        source=source,
    )
