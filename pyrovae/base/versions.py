"""The versions a result depends on, as every results CSV records them."""

from __future__ import annotations

from importlib import metadata

import pyro
import torch


def pyrovae_version() -> str:
    """This package's version, as installed (pyproject.toml's ``version``)."""
    try:
        return metadata.version("pyrovae")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def versions() -> dict[str, str]:
    """``pyrovae_version``, ``pyro_version`` and ``torch_version``: the columns of a results row."""
    return {"pyrovae_version": pyrovae_version(), "pyro_version": pyro.__version__,
            "torch_version": torch.__version__}
