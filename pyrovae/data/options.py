"""Checking the options a user passes to a dataset loader."""

from __future__ import annotations

import inspect
from typing import Callable

from pyrovae.errors import ConfigError
from pyrovae.options import suggest


def loader_options(loader: Callable) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of ``loader``: the options its dataset accepts."""
    params = inspect.signature(loader).parameters.values()
    return {p.name: p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def check_options(dataset: str, loader: Callable, options: dict, generic=()) -> None:
    """Raise :class:`ConfigError` for an option ``loader`` does not take, or a missing one.

    :param dataset: dataset name, for the message.
    :param loader: the dataset's loader function.
    :param options: the options the user gave.
    :param generic: options every dataset takes (listed in the message, never passed here).
    """
    valid = loader_options(loader)
    listed = ", ".join([*valid, *generic]) or "none"
    for key in options:
        if key not in valid:
            raise ConfigError(
                f"dataset '{dataset}' has no option '{key}'.{suggest(key, [*valid, *generic])} "
                f"Valid options of '{dataset}': {listed}."
            )
    for key, param in valid.items():
        if param.default is inspect.Parameter.empty and key not in options:
            raise ConfigError(
                f"dataset '{dataset}' needs option '{key}': set {key} = ... in the config's "
                f"[data] section, or pass load_dataset('{dataset}', {key}=...)."
            )


def check_bool(dataset: str, option: str, value) -> bool:
    """``value`` if it is a bool, else :class:`ConfigError`."""
    if not isinstance(value, bool):
        raise ConfigError(
            f"option '{option}' of dataset '{dataset}' must be true or false, got {value!r}."
        )
    return value


def check_count(dataset: str, option: str, value) -> int:
    """``value`` if it is an int >= 1, else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"option '{option}' of dataset '{dataset}' must be a whole number >= 1, "
            f"got {value!r}."
        )
    return value
