"""pyrovae: variational autoencoders and other latent-variable models as Pyro programs.

Train any Pyro model/guide pair with :func:`fit`, estimate log p(x) per data point with
:func:`log_px`, get the rows of a paper's table with :func:`evaluate`, and :func:`load` a run
that ``pyrovae train`` wrote.
"""

from pyrovae.api import FitResult, evaluate, fit, load
from pyrovae.base.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    ModelGuideError,
    PyrovaeError,
    TrainingError,
)
from pyrovae.base.versions import pyrovae_version
from pyrovae.data.info import DataInfo
from pyrovae.infer import BDMCResult, LogPxResult, bdmc, log_px
from pyrovae.registry import register_guide, register_model

__version__ = pyrovae_version()

__all__ = [
    "BDMCResult",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataInfo",
    "FitResult",
    "Interrupted",
    "LogPxResult",
    "ModelGuideError",
    "PyrovaeError",
    "TrainingError",
    "bdmc",
    "evaluate",
    "fit",
    "load",
    "log_px",
    "register_guide",
    "register_model",
]
