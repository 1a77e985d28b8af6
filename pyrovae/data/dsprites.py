"""dSprites (Matthey et al. 2017): 737,280 binary 64x64 images of 2-D shapes with six known
factors, read from the public ``.npz`` file (no download)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.base.options import PositiveInt
from pyrovae.data.dataset import Dataset
from pyrovae.data.factors import categorical
from pyrovae.data.paths import DATA_DIR_SETTINGS

NAME = "dsprites"
#: The file of the dSprites release that the loader reads.
FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
URL = "https://github.com/google-deepmind/dsprites-dataset"
#: The generative factors, in the order of the release's latent classes.
FACTOR_NAMES = ("color", "shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
KEYS = ("imgs", "latents_classes")


def _where(path, data_dir: Path) -> Path:
    if path is None:
        return data_dir / FILE
    if not isinstance(path, (str, Path)):
        raise ConfigError(f"option 'path' of dataset 'dsprites' must be a file path (a string), "
                          f"got {path!r}.")
    return Path(path).expanduser()


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``imgs`` ``[N, 64, 64]`` and ``latents_classes`` ``[N, 6]`` of the dSprites file at
    ``path`` (its pickled ``metadata`` is never read)."""
    if not path.is_file():
        raise DataError(f"the dSprites file {path} does not exist. Download {FILE} from {URL} "
                        f"and put it in the data directory ({DATA_DIR_SETTINGS}), or set "
                        f"data.path to where it is.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path} holds no array named {', '.join(missing)}: it is not "
                                f"the dSprites file {FILE} from {URL}.")
            return archive["imgs"], archive["latents_classes"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"could not read {path} as the dSprites .npz ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}); download {FILE} "
                        f"again from {URL}.") from None


def load(
    data_dir: Path,
    cache_dir: Path,
    seed: int,
    *,
    path: str | None = None,
    num_train: PositiveInt = 50000,
    num_valid: PositiveInt = 5000,
    num_test: PositiveInt = 10000,
) -> Dataset:
    """Three disjoint random subsets of dSprites, drawn with ``seed``.

    The factors are the file's ``latents_classes``: the class index of colour (1 value), shape
    (3), scale (6), orientation (40), pos_x (32) and pos_y (32). The whole set as float32 would
    take 12 GB, hence the subsets. Memory: the file's ``imgs`` array (uint8, 737,280 x 64 x 64,
    about 3 GB) is read whole (the ``.npz`` is compressed, so it cannot be memory-mapped) on
    each load, before the subsets are copied out as float32; nothing is cached between loads.

    :param data_dir: where :data:`FILE` is looked for when ``path`` is not given.
    :param cache_dir: unused.
    :param seed: seed of the permutation the subsets are taken from.
    :param path: the ``.npz`` file (default: ``data_dir / FILE``).
    :param num_train: number of training images (likewise ``num_valid``, ``num_test``).
    """
    path = _where(path, data_dir)
    images, classes = read_npz(path)
    n = images.shape[0]
    if images.shape[1:] != (64, 64) or classes.shape != (n, len(FACTOR_NAMES)):
        raise DataError(f"{path} holds imgs of shape {images.shape} and latents_classes of shape "
                        f"{classes.shape}; dSprites has [N, 64, 64] and [N, 6].")
    sizes = {"train": num_train, "valid": num_valid, "test": num_test}
    if sum(sizes.values()) > n:
        raise ConfigError(f"num_train + num_valid + num_test = {sum(sizes.values())} exceeds the "
                          f"{n} images of {path}; ask for fewer.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    splits, factors, start = {}, {}, 0
    for split, size in sizes.items():
        index = np.sort(order[start:start + size])
        start += size
        splits[split] = torch.from_numpy(images[index].astype(np.float32)).unsqueeze(1)
        factors[split] = torch.from_numpy(classes[index].astype(np.float32))
    return Dataset(
        name=NAME,
        splits=splits,
        labels={},
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_table=categorical(FACTOR_NAMES, FACTOR_SIZES),
        event_shape=(1, 64, 64),
        binary=True,
        source=f"{path.resolve()}; random subsets with seed={seed}",
    )
