"""Validating the fields of a spec: each error names the field and the valid choices."""

from __future__ import annotations

from pyrovae.errors import ConfigError
from pyrovae.registry import suggest


def choice(field: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else a :class:`ConfigError` naming ``field``."""
    if value not in choices:
        raise ConfigError(
            f"{field} = {value!r} is not valid.{suggest(value, choices)} "
            f"Choose one of: {', '.join(choices)}."
        )
    return value


def known_keys(field: str, table: dict, valid) -> None:
    """Raise :class:`ConfigError` for a key of ``table`` that is not in ``valid``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{field} must be a table ({{ {', '.join(valid)} }}), got {table!r}.")
    for key in table:
        if key not in valid:
            raise ConfigError(
                f"unknown key '{field}.{key}'.{suggest(key, valid)} "
                f"Valid keys of {field}: {', '.join(valid)}."
            )


def positive_int(field: str, value) -> int:
    """``value`` if it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{field} must be a whole number >= 1, got {value!r}.")
    return value


def int_list(field: str, value) -> tuple[int, ...]:
    """``value`` as a tuple of whole numbers >= 1 (layer widths)."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{field} must be a list of layer widths, e.g. [200, 200], "
                          f"got {value!r}.")
    return tuple(positive_int(f"{field}[{i}]", v) for i, v in enumerate(value))


def names(field: str, value) -> tuple[str, ...]:
    """A name or a list of names as a tuple of strings."""
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{field} must be a latent's name or a list of names, got {value!r}.")
    return tuple(value)


def required(field: str, table: dict, key: str):
    """``table[key]``, or a :class:`ConfigError` saying that ``field.key`` is missing."""
    if key not in table:
        raise ConfigError(f"{field} needs '{key}'.")
    return table[key]
