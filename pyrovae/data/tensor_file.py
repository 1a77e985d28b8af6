"""A user's own data in a ``.pt``, ``.npy`` or ``.npz`` file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from pyrovae.base import io
from pyrovae.base.errors import ConfigError, DataError
from pyrovae.data.dataset import Dataset
from pyrovae.data.factors import categorical
from pyrovae.data.splitting import split_indices
from pyrovae.data.validate import check_finite, is_binary

NAME = "file"
SPLITS = ("train", "valid", "test")
SUFFIXES = (".pt", ".pth", ".npy", ".npz")
NPY_MAGIC = b"\x93NUMPY"
LAYOUTS = (
    "one array [N, ...] (split for you), or arrays named train, valid and test "
    "[+ train_labels, valid_labels, test_labels of integer class labels [N]]"
    "[+ train_factors, valid_factors, test_factors of integer factor classes [N, F]]"
)


def _refused(path: Path, what: str) -> DataError:
    return DataError(
        f"'{path}' holds {what}, which pyrovae does not load: unpickling them could run code "
        f"from the file. Save plain tensors instead (torch.save(torch.as_tensor(x), path), or a "
        f"dict of tensors named train, valid, test [+ <split>_labels]), or arrays with "
        f"numpy.save / numpy.savez."
    )


def _first_line(error: Exception) -> str:
    """The type and first line of ``error``'s message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _load_pt(path: Path):
    """The object ``torch.load`` reads from ``path`` with ``weights_only=True``."""
    try:
        return io.load_torch(path, map_location="cpu")
    except io.UnreadableFile as e:
        raise DataError(f"could not read '{path}': it {e}. Save plain tensors again "
                        f"(torch.save(torch.as_tensor(x), path)): {LAYOUTS}.") from None


def _check_path(path) -> Path:
    """``path`` as a Path to an existing file of a suffix :func:`read_arrays` reads."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(
            f"option 'path' of dataset 'file' must be a file path (a string), got {path!r}."
        )
    path = Path(path).expanduser()
    if path.suffix not in SUFFIXES:
        raise DataError(
            f"'{path}' has suffix '{path.suffix}', which the 'file' dataset cannot read. Save "
            f"the data as .pt (torch.save), .npy (numpy.save) or .npz (numpy.savez): {LAYOUTS}."
        )
    if not path.exists():
        raise DataError(
            f"data file '{path}' ({path.resolve()}) does not exist. Set data.path to an existing "
            f"file (a relative path is taken from the working directory)."
        )
    if not path.is_file():
        raise DataError(f"data file '{path}' is a directory. Set data.path to a file in it.")
    return path


def read_arrays(path: Path) -> dict:
    """The arrays or tensors stored in ``path``, by name (a lone array is named ``data``).

    :param path: a ``.pt``/``.pth`` (torch.save of a tensor or a dict of tensors), ``.npy`` or
        ``.npz`` file.
    """
    path = _check_path(path)
    if path.suffix in (".pt", ".pth"):
        content = _load_pt(path)
        if isinstance(content, torch.Tensor):
            return {"data": content}
        if not isinstance(content, dict):
            raise DataError(
                f"'{path}' holds a {type(content).__name__}, not a tensor or a dict of tensors. "
                f"Save {LAYOUTS} with torch.save."
            )
        for key, value in content.items():
            if not isinstance(value, torch.Tensor):
                raise DataError(
                    f"'{path}' holds a dict whose entry {key!r} is a {type(value).__name__}, not "
                    f"a tensor. Save {LAYOUTS} with torch.save (torch.as_tensor converts)."
                )
        return content
    return _load_numpy(path)


def _load_numpy(path: Path) -> dict:
    """The arrays of the ``.npy`` or ``.npz`` file ``path``, by name (a lone array: ``data``)."""
    npz = path.suffix == ".npz"
    with open(path, "rb") as file:
        magic = file.read(len(NPY_MAGIC))
    if not (zipfile.is_zipfile(path) if npz else magic == NPY_MAGIC):
        # numpy would take such a file for a pickle, and advise loading it unsafely.
        raise DataError(
            f"'{path}' is not a file numpy.{'savez' if npz else 'save'} wrote (perhaps truncated, "
            f"text, a pickle or another format under a {path.suffix} name). Save it again: "
            f"{LAYOUTS}."
        )
    try:
        if not npz:
            return {"data": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, ValueError) and "allow_pickle" in str(error):
            raise _refused(path, "an array of Python objects (dtype object)") from None
        raise DataError(
            f"could not read '{path}' ({_first_line(error)}); it may be truncated. Save it "
            f"again: {LAYOUTS}."
        ) from None
    others = [key for key, value in arrays.items() if not isinstance(value, np.ndarray)]
    if others:
        raise DataError(
            f"'{path}' holds {', '.join(map(repr, others))}, which numpy.savez did not write as "
            f"arrays. Save the data with numpy.savez: {LAYOUTS}."
        )
    return arrays


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


def to_factors(arrays: dict, path: Path, splits: dict) -> dict[str, torch.Tensor]:
    """The ``<split>_factors`` arrays as float32 class indices ``[N, F]``: none or all three
    splits, non-negative integers, one row per data point and the same F columns in each."""
    given = [s for s in SPLITS if f"{s}_factors" in arrays]
    if not given:
        return {}
    if len(given) < len(SPLITS):
        raise DataError(f"'{path}' holds factors for {', '.join(given)} only; give "
                        f"train_factors, valid_factors and test_factors, or none.")
    factors = {}
    for split in SPLITS:
        f = arrays[f"{split}_factors"]
        shape = tuple(f.shape)
        if (not _is_integer(f) or len(shape) != 2 or shape[0] != len(splits[split])
                or shape[1] != tuple(arrays["train_factors"].shape)[-1]
                or (f.size if isinstance(f, np.ndarray) else f.numel()) == 0 or int(f.min()) < 0):
            raise DataError(f"array '{split}_factors' in '{path}' must hold non-negative integer "
                            f"factor classes [N, F] (N = {len(splits[split])} points, F as in "
                            f"train_factors); got {f.dtype} of shape {shape}.")
        factors[split] = torch.as_tensor(f).to(torch.float32)
    return factors


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


def _check_names(path: Path, arrays: dict) -> None:
    """Raise :class:`DataError` unless ``arrays`` holds train, valid and test, and nothing but
    them, their labels and their factors."""
    missing = [split for split in SPLITS if split not in arrays]
    extras = {f"{s}_{kind}" for s in SPLITS for kind in ("labels", "factors")}
    unknown = sorted(set(arrays) - set(SPLITS) - extras, key=str)
    if not arrays:
        raise DataError(f"'{path}' holds no arrays. Save {LAYOUTS}.")
    if missing or unknown:
        wrong = [f"none named {', '.join(map(repr, missing))}"] if missing else []
        wrong += [f"unexpected {', '.join(map(repr, unknown))}"] if unknown else []
        raise DataError(
            f"'{path}' holds arrays named {', '.join(map(repr, sorted(arrays, key=str)))} "
            f"({'; '.join(wrong)}). Save {LAYOUTS}."
        )


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
    are used as they are, with optional ``<split>_labels`` and ``<split>_factors`` (the
    ground-truth factors as integer classes ``[N, F]``, named ``factor_0``... with sizes
    the largest class + 1, for the disentanglement metrics).

    :param data_dir: unused.
    :param cache_dir: unused.
    :param seed: seed of the split permutation of a lone array.
    :param path: the ``.pt``, ``.npy`` or ``.npz`` file.
    :param valid_fraction: share of a lone array used for validation.
    :param test_fraction: share of a lone array used for testing.
    """
    fractions = _fractions(valid_fraction, test_fraction)
    path = _check_path(path)
    arrays = read_arrays(path)
    if len(arrays) == 1 and not set(arrays) & set(SPLITS):
        [(key, array)] = arrays.items()
        splits = _split_single(to_data(array, f"array '{key}' in '{path}'"), path, seed, fractions)
        labels, factors = {}, {}
        how = f"; split by a permutation with seed={seed}, fractions {fractions}"
    else:
        _check_names(path, arrays)
        splits = {s: to_data(arrays[s], f"array '{s}' in '{path}'") for s in SPLITS}
        labels = {
            s: to_labels(arrays[f"{s}_labels"], f"array '{s}_labels' in '{path}'", len(splits[s]))
            for s in SPLITS
            if f"{s}_labels" in arrays
        }
        factors, how = to_factors(arrays, path, splits), ""
    sizes = [int(max(f[:, i].max() for f in factors.values())) + 1
             for i in range(next(iter(factors.values())).shape[1])] if factors else []
    names = tuple(f"factor_{i}" for i in range(len(sizes)))
    return Dataset(
        name=NAME,
        splits=splits,
        labels=labels,
        factors=factors,
        factor_names=names,
        factor_table=categorical(names, sizes),
        event_shape=tuple(splits["train"].shape[1:]),
        binary=all(is_binary(x) for x in splits.values()),
        num_classes=max((int(y.max()) + 1 for y in labels.values()), default=0),
        source=f"{path.resolve()}{how}",
    )
