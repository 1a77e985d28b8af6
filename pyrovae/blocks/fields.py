"""Checking the fields of a model's or a guide's settings: each error names the field and
the valid choices."""

from __future__ import annotations

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import PositiveInt, Widths, check, choice, suggest

__all__ = ["choice", "int_list", "known_keys", "names", "positive_int", "required"]


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
    return check(field, value, PositiveInt)


def int_list(field: str, value) -> tuple[int, ...]:
    """``value`` as a tuple of whole numbers >= 1 (layer widths)."""
    return tuple(check(field, value, Widths))


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
