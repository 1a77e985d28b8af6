"""pyrovae: variational autoencoders and other latent-variable models as Pyro programs."""

import pyro

from pyrovae.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    ModelSpecError,
    PyrovaeError,
    TrainingError,
)
from pyrovae.infer import LogPxResult, log_px
from pyrovae.registry import DataInfo, register_guide, register_model

__version__ = "0.1.0"

# Parameters live in each PyroModule, not in Pyro's global param store: two models in one
# process never share state, and a module's state_dict is its whole state.
pyro.settings.set(module_local_params=True)

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataInfo",
    "LogPxResult",
    "ModelSpecError",
    "PyrovaeError",
    "TrainingError",
    "log_px",
    "register_guide",
    "register_model",
]
