"""pyrovae: variational autoencoders and other latent-variable models as Pyro programs."""

from pyrovae.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    ModelSpecError,
    PyrovaeError,
    TrainingError,
)
from pyrovae.infer import LogPxResult, log_px
from pyrovae.data.info import DataInfo
from pyrovae.registry import register_guide, register_model
from pyrovae.versions import pyrovae_version

__version__ = pyrovae_version()

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataInfo",
    "Interrupted",
    "LogPxResult",
    "ModelSpecError",
    "PyrovaeError",
    "TrainingError",
    "log_px",
    "register_guide",
    "register_model",
]
