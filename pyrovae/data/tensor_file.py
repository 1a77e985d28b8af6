"""A user's own data in a ``.pt``, ``.npy`` or ``.npz`` file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from pyrovae.data.dataset import Dataset
from pyrovae.data.splitting import split_indices
from pyrovae.data.validate import check_finite, is_binary
from pyrovae.errors import ConfigError, DataError

NAME = "file"
SPLITS = ("train", "valid", "test")
SUFFIXES = (".pt", ".pth", ".npy", ".npz")
LAYOUTS = (
    "one array [N, ...] (split for you), or arrays named train, valid and test "
    "[+ train_labels, valid_labels, test_labels of integer class labels [N]]"
)


def read_arrays(path: Path) -> dict:
    """The arrays or tensors stored in ``path``, by name (a lone array is named ``data``).

    :param path: a ``.pt``/``.pth`` (torch.save of a tensor or a dict of tensors), ``.npy`` or
        ``.npz`` file.
    """
    if path.suffix not in SUFFIXES:
        raise DataError(
            f"'{path}' has suffix '{path.suffix}', which the 'file' dataset cannot read. Save "
            f"the data as .pt (torch.save), .npy (numpy.save) or .npz (numpy.savez): {LAYOUTS}."
        )
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist. Give an existing file as path=.")
    try:
        if path.suffix == ".npy":
            return {"data": np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        content = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, ValueError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        raise DataError(
            f"could not read '{path}': {error}. Save plain numeric arrays or tensors (no "
            f"pickled objects): {LAYOUTS}."
        ) from None
    if isinstance(content, torch.Tensor):
        return {"data": content}
    if isinstance(content, dict) and all(isinstance(v, torch.Tensor) for v in content.values()):
        return content
    raise DataError(
        f"'{path}' holds a {type(content).__name__}, not a tensor or a dict of tensors. "
        f"Save {LAYOUTS} with torch.save."
    )


def _is_numeric(x) -> bool:
    if isinstance(x, torch.Tensor):
        return not x.is_complex() and not x.is_quantized
    return x.dtype.kind in "biuf"


def _is_integer(x) -> bool:
    if isinstance(x, torch.Tensor):
        return not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)
    return x.dtype.kind in "iu"


def to_data(x, what: str) -> torch.Tensor:
    """``x`` as a contiguous float32 tensor ``[N, ...]``, after checking it can be one.

    :param x: a numpy array or tensor.
    :param what: what ``x`` is, for messages (e.g. ``"array 'train' in 'd.npz'"``).
    """
    if not _is_numeric(x):
        raise DataError(
            f"{what} holds {x.dtype} values; the data must be numbers. Convert it to a numeric "
            "array (e.g. float32) before saving."
        )
    if x.ndim < 2 or x.shape[0] < 1:
        raise DataError(
            f"{what} has shape {tuple(x.shape)}; the data must be an array [N, ...] with one "
            "data point per row, N >= 1 (reshape N scalars to [N, 1])."
        )
    data = torch.as_tensor(np.asarray(x, dtype=np.float32) if isinstance(x, np.ndarray) else x)
    data = data.detach().to(torch.float32).contiguous()
    check_finite(data, what, "Remove or replace those data points in the file.")
    return data


def to_labels(y, what: str, count: int) -> torch.Tensor:
    """``y`` as int64 class labels ``[count]``, after checking it can be.

    :param y: a numpy array or tensor of non-negative integers.
    :param what: what ``y`` is, for messages.
    :param count: number of data points the labels belong to.
    """
    labels = torch.as_tensor(y).to(torch.int64) if _is_integer(y) else None
    if labels is None or tuple(labels.shape) != (count,) or int(labels.min()) < 0:
        raise DataError(
            f"{what} must be non-negative integer class labels of shape ({count},), one per "
            f"data point; got {y.dtype} of shape {tuple(y.shape)}. Save them as an integer array."
        )
    return labels


def _fractions(valid_fraction, test_fraction) -> tuple[float, float]:
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ConfigError(
                f"option '{name}' of dataset 'file' must be a number in (0, 1), got {value!r}."
            )
    if valid_fraction + test_fraction >= 1:
        raise ConfigError(
            f"valid_fraction + test_fraction = {valid_fraction + test_fraction} leaves no "
            "training data; make their sum less than 1."
        )
    return valid_fraction, test_fraction


def _split_single(data: torch.Tensor, path: Path, seed: int, fractions: tuple) -> dict:
    n = len(data)
    num_valid, num_test = (round(n * f) for f in fractions)
    if min(num_valid, num_test, n - num_valid - num_test) < 1:
        raise DataError(
            f"'{path}' holds {n} data points; split with valid_fraction={fractions[0]} and "
            f"test_fraction={fractions[1]} some split would be empty. Give more data or "
            "change the fractions."
        )
    return {k: data[i] for k, i in split_indices(n, num_valid, num_test, seed).items()}


def load(
    data_dir: Path,
    cache_dir: Path,
    seed: int,
    *,
    path: str | Path,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Data from the user's file ``path`` (relative paths are taken from the working directory).

    A lone array is split by a permutation drawn with ``seed``; arrays named train/valid/test
    are used as they are, with optional ``<split>_labels``.

    :param data_dir: unused.
    :param cache_dir: unused.
    :param seed: seed of the split permutation of a lone array.
    :param path: the ``.pt``, ``.npy`` or ``.npz`` file.
    :param valid_fraction: share of a lone array used for validation.
    :param test_fraction: share of a lone array used for testing.
    """
    path = Path(path).expanduser()
    fractions = _fractions(valid_fraction, test_fraction)
    arrays = read_arrays(path)
    if len(arrays) == 1 and not set(arrays) & set(SPLITS):
        [(key, array)] = arrays.items()
        splits = _split_single(to_data(array, f"array '{key}' in '{path}'"), path, seed, fractions)
        labels, how = {}, f"; split by a permutation with seed={seed}, fractions {fractions}"
    else:
        expected = set(SPLITS) | {f"{split}_labels" for split in SPLITS}
        if not set(SPLITS) <= set(arrays) or set(arrays) - expected:
            raise DataError(f"'{path}' holds arrays named {sorted(arrays)}. Save {LAYOUTS}.")
        splits = {s: to_data(arrays[s], f"array '{s}' in '{path}'") for s in SPLITS}
        labels = {
            s: to_labels(arrays[f"{s}_labels"], f"array '{s}_labels' in '{path}'", len(splits[s]))
            for s in SPLITS
            if f"{s}_labels" in arrays
        }
        how = ""
    return Dataset(
        name=NAME,
        splits=splits,
        labels=labels,
        factors={},
        factor_names=(),
        event_shape=tuple(splits["train"].shape[1:]),
        binary=all(is_binary(x) for x in splits.values()),
        num_classes=max((int(y.max()) + 1 for y in labels.values()), default=0),
        source=f"{path.resolve()}{how}",
    )
