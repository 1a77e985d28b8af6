"""Exceptions raised for bad input. Each message says what is wrong and how to fix it."""


class PyrovaeError(Exception):
    """Base class of every error pyrovae raises for bad input or a failed run.

    :attr exit_code: the command line's exit status for this error.
    """

    exit_code = 2


class ConfigError(PyrovaeError, ValueError):
    """A configuration file, override or model/guide spec is invalid."""


class DataError(PyrovaeError, ValueError):
    """A dataset is missing, malformed, or does not fit the model."""


class CheckpointError(PyrovaeError, ValueError):
    """A checkpoint is missing, corrupt, or belongs to another model or config."""


class TrainingError(PyrovaeError, RuntimeError):
    """Training cannot go on (for example the loss became NaN)."""


class ModelGuideError(PyrovaeError, ValueError):
    """A model and guide do not fit together (missing site, missing plate, bad shape)."""


class Interrupted(PyrovaeError):
    """The user stopped a run (Ctrl-C); the message says what was kept and how to go on."""

    exit_code = 130
