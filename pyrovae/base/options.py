"""Typed option checks: a config value against the type annotation of the option it sets.

Model and guide factories, and the config's own fields, declare what their options take with
ordinary annotations, which :func:`check` enforces, naming the field in its error:

- ``int``, ``float`` (an int is accepted and converted; NaN and infinities are not), ``str``,
  ``bool``, ``list[T]``, ``dict[str, T]``, unions (``T | None``) and ``Literal[...]`` (choices);
- ``Annotated[T, AtLeast(low)]`` for a bound and ``Annotated[T, Example(what, example)]`` for
  the message, as in the aliases :data:`PositiveInt`, :data:`Widths`, ...

Other annotations (``Any``, a class, ...) are not checked.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Union, get_args, get_origin

from pyrovae.base.errors import ConfigError


@dataclass(frozen=True)
class AtLeast:
    """A lower bound: ``value >= low``, or ``value > low`` when ``strict``."""

    low: float
    strict: bool = False

    def holds(self, value) -> bool:
        return value > self.low if self.strict else value >= self.low

    def __str__(self) -> str:
        return f"{'>' if self.strict else '>='} {self.low:g}"


@dataclass(frozen=True)
class AtMost:
    """An upper bound: ``value <= high``."""

    high: float

    def holds(self, value) -> bool:
        return value <= self.high

    def __str__(self) -> str:
        return f"<= {self.high:g}"


@dataclass(frozen=True)
class Example:
    """What a value means and an example of one, for messages."""

    what: str
    example: str


#: An integer of at least 1.
PositiveInt = Annotated[int, AtLeast(1)]
NonNegativeInt = Annotated[int, AtLeast(0)]
PositiveFloat = Annotated[float, AtLeast(0, strict=True)]
NonNegativeFloat = Annotated[float, AtLeast(0)]
#: A seed of every random stream: ``pyro.set_rng_seed`` seeds numpy too, which takes 32 bits.
Seed = Annotated[int, AtLeast(0), AtMost(2**32 - 1)]
#: A list of layer widths, each at least 1.
Widths = Annotated[list[PositiveInt], Example("layer widths", "[200, 200]")]


class _Mismatch(Exception):
    """A value does not fit an annotation."""


def suggest(name: str, choices) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def choice(field: str, value, choices):
    """``value`` if it is one of ``choices``, else a :class:`ConfigError` naming ``field``."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ConfigError(
            f"{field} = {value!r} is not valid.{suggest(value, choices)} "
            f"Choose one of: {', '.join(map(str, choices))}."
        )
    return value


def show(value) -> str:
    """``value`` as a config spells it (strings in double quotes, ``true``), for messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _is_union(origin) -> bool:
    return origin is Union or origin is types.UnionType


def _convert(value, tp):
    """``value`` as annotation ``tp`` takes it; raises :class:`_Mismatch` where it does not fit."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        value = _convert(value, args[0])
        if any(isinstance(m, (AtLeast, AtMost)) and not m.holds(value) for m in args[1:]):
            raise _Mismatch
        return value
    if tp is type(None) or tp is None:
        if value is None:
            return None
        raise _Mismatch
    if _is_union(origin):
        for arg in args:
            try:
                return _convert(value, arg)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin is Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        raise _Mismatch
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = number and isinstance(value, int)
    elif tp is float:
        if number and math.isfinite(value):
            return float(value)
        ok = False
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        return [_convert(v, args[0]) for v in value] if args else list(value)
    elif tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        if not args:
            return dict(value)
        return {_convert(k, args[0]): _convert(v, args[1]) for k, v in value.items()}
    else:
        return value
    if not ok:
        raise _Mismatch
    return value


_NAMES = {bool: ("true or false", "true or false values"), int: ("a whole number", "whole numbers"),
          float: ("a finite number", "finite numbers"), str: ("a string", "strings")}


def describe(tp, plural: bool = False) -> str:
    """What annotation ``tp`` takes, in words: ``a list of whole numbers >= 1``."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        text = describe(args[0], plural)
        low = next((m for m in args[1:] if isinstance(m, AtLeast)), None)
        high = next((m for m in args[1:] if isinstance(m, AtMost)), None)
        if low is not None and high is not None and not low.strict:
            text += f" in {low.low:g}..{high.high}"
        else:
            text += "".join(f" {m}" for m in (low, high) if m is not None)
        for m in args[1:]:
            if isinstance(m, Example):
                text += f" ({m.what})" if plural else f" ({m.what}), e.g. {m.example}"
        return text
    if _is_union(origin):  # None is left out: a config cannot spell it
        return " or ".join(describe(a, plural) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if tp in _NAMES:
        return _NAMES[tp][plural]
    if tp is list or origin is list:
        of = f" of {describe(args[0], True)}" if args else ""
        return ("lists" if plural else "a list") + of
    if tp is dict or origin is dict:
        of = f" of {describe(args[1], True)}" if args else ""
        return ("tables" if plural else "a table") + of
    return getattr(tp, "__name__", str(tp))


def _choices(tp) -> tuple | None:
    """The choices of a ``Literal`` (or ``Literal | None``) annotation, else None."""
    origin, args = get_origin(tp), get_args(tp)
    if _is_union(origin):
        rest = [a for a in args if a is not type(None)]
        return _choices(rest[0]) if len(rest) == 1 else None
    return args if origin is Literal else None


def check(field: str, value, tp):
    """``value`` as annotation ``tp`` takes it (an int given for a ``float`` becomes a float),
    else a one-line :class:`ConfigError` naming ``field`` and saying what it must be."""
    try:
        return _convert(value, tp)
    except _Mismatch:
        pass
    choices = _choices(tp)
    if choices is not None:
        choice(field, value, choices)
    raise ConfigError(f"{field} must be {describe(tp)}; got {show(value)}.")


def _type_of(default) -> Any:
    """The annotation an unannotated parameter with this default is checked against."""
    for tp in (bool, int, float, str, dict):
        if isinstance(default, tp):
            return tp
    return list if isinstance(default, (list, tuple)) else Any


def parameter_types(function: Callable, names) -> dict[str, Any]:
    """The type each parameter in ``names`` of ``function`` takes: its annotation, else the type
    of its default, else ``Any``."""
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # a user's file may annotate with names it never imports: check none
        hints = {}
    params = inspect.signature(function).parameters
    types_ = {}
    for name in names:
        p = params[name]
        if name in hints:
            types_[name] = hints[name]
        elif p.annotation is p.empty and p.default is not p.empty:
            types_[name] = _type_of(p.default)
        else:
            types_[name] = Any
    return types_


def check_options(where: str, function: Callable, options: dict, *, skip: int = 0,
                  keyword_only: bool = False, generic=(), owner: str | None = None) -> dict:
    """``options`` checked as the arguments of ``function`` they will be: each must be one of
    its parameters (after the first ``skip``; only keyword-only ones with ``keyword_only``) and
    fit its type (:func:`parameter_types`), and each parameter without a default must be given.

    :param where: the config section the options come from (``"model"``, ``"data"``), which
        names them in messages (``model.hidden``).
    :param generic: options the caller takes itself: listed as valid, not checked here.
    :param owner: what takes the options, for messages (default: the section ``where``).
    :returns: the options as ``function`` takes them (ints given for floats converted).
    :raises ConfigError: an unknown option (naming the closest), a value of the wrong type, or a
        missing one.
    """
    params = list(inspect.signature(function).parameters.values())[skip:]
    kinds = (inspect.Parameter.KEYWORD_ONLY,) if keyword_only else \
        (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    valid = {p.name: p for p in params if p.kind in kinds}
    owner = owner or f"'{where}'"
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        for key in options:
            if key not in valid:
                names = [*valid, *generic]
                raise ConfigError(f"unknown key '{where}.{key}'.{suggest(key, names)} Valid keys "
                                  f"of {owner}: name, {', '.join(names)}.")
    for key, param in valid.items():
        if param.default is inspect.Parameter.empty and key not in options:
            raise ConfigError(f"{where}.{key} is required by {owner}: set {key} = ... in the "
                              f"config's [{where}] table.")
    types = parameter_types(function, [key for key in options if key in valid])
    return {key: check(f"{where}.{key}", value, types[key]) if key in types else value
            for key, value in options.items()}
