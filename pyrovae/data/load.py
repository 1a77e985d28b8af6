"""The dataset name -> loader table and the public :func:`load_dataset`."""

from __future__ import annotations

import inspect
from pathlib import Path

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import check_options, suggest
from pyrovae.data import binarized_mnist, dsprites, mnist, sprites, tensor_file
from pyrovae.data.dataset import Dataset
from pyrovae.data.labelled import keep_labels
from pyrovae.data.paths import default_cache_dir, default_data_dir
from pyrovae.data.validate import validate_dataset

# Each loader is ``load(data_dir, cache_dir, seed, *, <options>) -> Dataset``; its keyword-only
# parameters are the options the dataset accepts.
LOADERS = {
    "binarized_mnist": binarized_mnist.load,
    "mnist": mnist.load,
    "sprites": sprites.load,
    "dsprites": dsprites.load,
    "file": tensor_file.load,
}

# Options every dataset takes, besides its loader's own.
GENERIC_OPTIONS = ("num_labelled",)


def dataset_names() -> list[str]:
    """Names :func:`load_dataset` accepts, sorted."""
    return sorted(LOADERS)


def _loader(name: str):
    if name not in LOADERS:
        raise ConfigError(
            f"unknown dataset '{name}'.{suggest(name, LOADERS)} "
            f"Valid datasets: {', '.join(dataset_names())}."
        )
    return LOADERS[name]


def dataset_options(name: str) -> list[str]:
    """The options dataset ``name`` accepts (its loader's own, then those every dataset takes).

    :raises ConfigError: unknown dataset.
    """
    params = inspect.signature(_loader(name)).parameters.values()
    return [*(p.name for p in params if p.kind is p.KEYWORD_ONLY), *GENERIC_OPTIONS]


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    num_labelled: int | None = None,
    **options,
) -> Dataset:
    """Load dataset ``name`` and check it (finite values, consistent shapes, labels in range).

    :param name: one of :func:`dataset_names`.
    :param data_dir: where dataset files are read from; default ``$PYROVAE_DATA_DIR`` or
        ``./data``. It may be read-only: nothing is written there except downloads.
    :param cache_dir: where parsed copies and fall-back downloads are written; default
        ``$PYROVAE_CACHE_DIR`` or ``~/.cache/pyrovae``.
    :param seed: seed for generated data and for random splits of a user's file.
    :param num_labelled: keep only this many training labels, class-balanced and drawn with
        ``seed`` (semi-supervised learning); the others become -1. Any labelled dataset.
    :param options: dataset-specific options, e.g. ``num_train=`` for ``"sprites"``.
    :raises ConfigError: unknown dataset or option, or a bad option value.
    :raises DataError: the data are missing or malformed.
    """
    loader = _loader(name)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be a whole number, got {seed!r}.")
    options = check_options("data", loader, options, keyword_only=True, generic=GENERIC_OPTIONS,
                            owner=f"dataset '{name}'")
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dataset = validate_dataset(loader(data_dir, cache_dir, seed, **options))
    if num_labelled is not None:
        dataset = keep_labels(dataset, num_labelled, seed)
    return dataset
