"""Name -> factory registries for models and guides.

The engine never branches on a model's name: a config names a registered factory (or points to
``path/to/file.py:factory``) and the engine calls it. Built-in models and guides live in the
top-level ``models`` and ``guides`` packages and register themselves when imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pyrovae.errors import ConfigError
from pyrovae.options import check, parameter_types, suggest


@dataclass(frozen=True)
class DataInfo:
    """What a model factory may know about the data it will be trained on.

    :param event_shape: shape of one data point, e.g. ``(1, 28, 28)``.
    :param binary: every value of the training data is 0 or 1.
    :param num_classes: number of label classes, or 0 when the data carry no labels.
    """

    event_shape: tuple[int, ...]
    binary: bool
    num_classes: int = 0


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable
    default_guide: str | None = None


_MODELS: dict[str, Entry] = {}
_GUIDES: dict[str, Entry] = {}
_BUILTINS_LOADED = False


def register_model(name: str, *, default_guide: str | None = None):
    """Register ``factory(data: DataInfo, **options) -> PyroModule`` as model ``name``.

    :param name: the name configs use (``[model] name = "..."``).
    :param default_guide: guide used when a config names none.
    """

    def decorator(factory):
        _MODELS[name] = Entry(name, factory, default_guide)
        return factory

    return decorator


def register_guide(name: str):
    """Register ``factory(model, data: DataInfo, **options) -> PyroModule`` as guide ``name``."""

    def decorator(factory):
        _GUIDES[name] = Entry(name, factory)
        return factory

    return decorator


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("models")
        importlib.import_module("guides")


def _load_from_file(spec: str) -> Entry:
    """Load ``path/to/file.py:factory``. This runs the user's file as Python code."""
    path_str, _, attr = spec.rpartition(":")
    path = Path(path_str)
    if not path.is_file():
        raise ConfigError(f"'{spec}': file '{path}' not found. Give 'path/to/file.py:factory_name'.")
    module_name = f"pyrovae_user_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    if not hasattr(module, attr):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise ConfigError(f"'{spec}': '{path}' defines no '{attr}'.{suggest(attr, names)}")
    factory = getattr(module, attr)
    registered = [e for e in (*_MODELS.values(), *_GUIDES.values()) if e.factory is factory]
    return Entry(spec, factory, registered[0].default_guide if registered else None)


def _lookup(kind: str, table: dict[str, Entry], name: str) -> Entry:
    if ".py:" in name:
        return _load_from_file(name)
    _load_builtins()
    if name not in table:
        raise ConfigError(
            f"unknown {kind} '{name}'.{suggest(name, table)} "
            f"Registered {kind}s: {', '.join(sorted(table))}."
        )
    return table[name]


def get_model(name: str) -> Entry:
    """The registered model ``name`` (or a ``file.py:factory`` spec)."""
    return _lookup("model", _MODELS, name)


def get_guide(name: str) -> Entry:
    """The registered guide ``name`` (or a ``file.py:factory`` spec)."""
    return _lookup("guide", _GUIDES, name)


def model_names() -> list[str]:
    _load_builtins()
    return sorted(_MODELS)


def guide_names() -> list[str]:
    _load_builtins()
    return sorted(_GUIDES)


def check_options(where: str, factory: Callable, options: dict, skip: int) -> dict:
    """``options`` checked against the parameters of ``factory``: a :class:`ConfigError` for an
    option it does not take or a value that does not fit the parameter's annotation (or, where
    it has none, the type of its default); see :mod:`pyrovae.options`.

    :param where: config section, used in the message (e.g. ``"model"``).
    :param skip: number of leading positional parameters the engine fills in itself.
    :returns: the options as the factory takes them (ints given for floats converted).
    """
    params = list(inspect.signature(factory).parameters.values())[skip:]
    valid = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        for key in options:
            if key not in valid:
                raise ConfigError(
                    f"unknown key '{where}.{key}'.{suggest(key, valid)} "
                    f"Valid keys of '{where}': name, {', '.join(valid)}."
                )
    types = parameter_types(factory, [key for key in options if key in valid])
    return {key: check(f"{where}.{key}", value, types[key]) if key in types else value
            for key, value in options.items()}
