"""Datasets as tensors: binarized MNIST, grayscale MNIST, procedural sprites, dSprites, a
user's file.

``load_dataset(name, **options)`` returns a checked :class:`Dataset` with train/valid/test
splits of float32 data ``[N, *event_shape]``.
"""

from pyrovae.data.dataset import Dataset
from pyrovae.data.factors import Factor
from pyrovae.data.info import DataInfo
from pyrovae.data.load import dataset_names, dataset_options, load_dataset
from pyrovae.data.paths import default_cache_dir, default_data_dir

__all__ = [
    "DataInfo",
    "Dataset",
    "Factor",
    "dataset_names",
    "dataset_options",
    "default_cache_dir",
    "default_data_dir",
    "load_dataset",
]
