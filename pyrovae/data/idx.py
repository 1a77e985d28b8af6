"""Reader for the IDX files MNIST is distributed in (plain or gzip).

torchvision's reader needs an importable torchvision and ungzipped files; this one needs
neither and says which file is broken.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from pyrovae.base.errors import DataError

UNSIGNED_BYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """The read-only uint8 array stored in the IDX file ``path`` (``.gz`` is decompressed).

    :param path: e.g. ``t10k-images-idx3-ubyte.gz``.
    :raises DataError: the file cannot be read or is not an unsigned-byte IDX file.
    """
    fix = f"Replace '{path}' with a fresh copy of the original MNIST file."
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"could not read '{path}': {error}. {fix}") from None
    if len(raw) < 4 or raw[:3] != bytes([0, 0, UNSIGNED_BYTE]):
        raise DataError(f"'{path}' is not an IDX file of unsigned bytes (bad header). {fix}")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:offset]) if len(raw) >= offset else None
    if shape is None or len(raw) != offset + math.prod(shape):
        raise DataError(f"'{path}' is truncated or has trailing bytes. {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)
