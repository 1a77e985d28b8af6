"""Name -> factory registries for models and guides.

The engine never branches on a model's name: a config names a registered factory (or points to
``path/to/file.py:factory``) and the engine calls it. The built-in models and guides
(:mod:`pyrovae.models`, :mod:`pyrovae.guides`) are listed here as ``"module:factory"`` strings and
imported when first named, so this module imports none of them; a user's factories register with
:func:`register_model` / :func:`register_guide`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import check_options, suggest
from pyrovae.data.info import DataInfo


@dataclass(frozen=True)
class Entry:
    """A registered factory.

    :param name: the name configs use.
    :param factory: ``factory(data: DataInfo, **options)`` for a model,
        ``factory(model, data: DataInfo, **options)`` for a guide.
    :param default_guide: a model's guide when a config names none.
    :param pair: for a model whose default guide must be built with it (the model uses a part of
        the guide, say), ``pair(data, model_options, guide_options) -> (model, guide)``.
    """

    name: str
    factory: Callable
    default_guide: str | None = None
    pair: Callable | None = None


# name -> ("module:factory", default guide, "module:pair builder" or None)
_BUILTIN_MODELS = {
    "vae": ("pyrovae.models.vae:make_vae", "mlp_normal", None),
    "ppca": ("pyrovae.models.ppca:make_ppca", "ppca_posterior", None),
    "spec": ("pyrovae.models.spec:make_spec_model", "spec_encoder",
             "pyrovae.guides.spec_encoder:make_spec_pair"),
    "m2": ("pyrovae.models.m2:make_m2", "m2_encoder", None),
    "hvae": ("pyrovae.models.hvae:make_hvae", "hvae_encoder",
             "pyrovae.guides.hvae:make_hvae_pair"),
}
_BUILTIN_GUIDES = {
    "mlp_normal": "pyrovae.guides.mlp_normal:make_mlp_normal",
    "ppca_posterior": "pyrovae.guides.ppca:make_ppca_posterior",
    "spec_encoder": "pyrovae.guides.spec_encoder:make_spec_encoder",
    "m2_encoder": "pyrovae.guides.m2:make_m2_encoder",
    "hvae_encoder": "pyrovae.guides.hvae:make_hvae_encoder",
}
_MODELS: dict[str, Entry] = {}
_GUIDES: dict[str, Entry] = {}


def _import(path: str) -> Callable:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _register(table: dict, builtins: dict, entry: Entry) -> None:
    if entry.name in builtins:
        raise ConfigError(f"'{entry.name}' is the name of a built-in; register yours under "
                          f"another name.")
    table[entry.name] = entry


def register_model(name: str, *, default_guide: str | None = None):
    """Register ``factory(data: DataInfo, **options) -> nn.Module`` as model ``name``.

    :param name: the name configs use (``[model] name = "..."``).
    :param default_guide: guide used when a config names none.
    """

    def decorator(factory):
        _register(_MODELS, _BUILTIN_MODELS, Entry(name, factory, default_guide))
        return factory

    return decorator


def register_guide(name: str):
    """Register ``factory(model, data: DataInfo, **options) -> nn.Module`` as guide ``name``."""

    def decorator(factory):
        _register(_GUIDES, _BUILTIN_GUIDES, Entry(name, factory))
        return factory

    return decorator


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


def get_model(name: str) -> Entry:
    """The model ``name``: a built-in, a registered one, or a ``path/file.py:factory``."""
    if ".py:" in name:
        return _load_from_file(name)
    if name in _BUILTIN_MODELS:
        factory, default_guide, pair = _BUILTIN_MODELS[name]
        return Entry(name, _import(factory), default_guide, pair and _import(pair))
    if name not in _MODELS:
        raise ConfigError(f"unknown model '{name}'.{suggest(name, model_names())} "
                          f"Registered models: {', '.join(model_names())}.")
    return _MODELS[name]


def get_guide(name: str) -> Entry:
    """The guide ``name``: a built-in, a registered one, or a ``path/file.py:factory``."""
    if ".py:" in name:
        return _load_from_file(name)
    if name in _BUILTIN_GUIDES:
        return Entry(name, _import(_BUILTIN_GUIDES[name]))
    if name not in _GUIDES:
        raise ConfigError(f"unknown guide '{name}'.{suggest(name, guide_names())} "
                          f"Registered guides: {', '.join(guide_names())}.")
    return _GUIDES[name]


def model_names() -> list[str]:
    """Names of the built-in and registered models."""
    return sorted({*_BUILTIN_MODELS, *_MODELS})


def guide_names() -> list[str]:
    """Names of the built-in and registered guides."""
    return sorted({*_BUILTIN_GUIDES, *_GUIDES})


def _options(section: dict) -> dict:
    return {k: v for k, v in section.items() if k != "name"}


@dataclass(frozen=True)
class Factories:
    """A config's ``[model]`` and ``[guide]`` resolved: the entries and their checked options.

    :param model: the model's :class:`Entry`.
    :param guide: the guide's :class:`Entry` (the model's default guide when the config named
        none).
    :param model_options: the model's options, as its factory takes them.
    :param guide_options: the guide's options, as its factory takes them.
    """

    model: Entry
    guide: Entry
    model_options: dict
    guide_options: dict

    def tables(self) -> tuple[dict, dict]:
        """The ``[model]`` and ``[guide]`` tables these were resolved from, names filled in and
        options converted."""
        return ({"name": self.model.name, **self.model_options},
                {"name": self.guide.name, **self.guide_options})

    def build(self, data: DataInfo) -> tuple[nn.Module, nn.Module]:
        """The model and guide for ``data``: together, by the model's ``pair`` builder, when the
        guide is the model's default guide and the model has one; else the model, then the guide
        of the model."""
        if self.model.pair is not None and self.guide.name == self.model.default_guide:
            return self.model.pair(data, self.model_options, self.guide_options)
        model = self.model.factory(data, **self.model_options)
        return model, self.guide.factory(model, data, **self.guide_options)


def resolve(model: dict, guide: dict) -> Factories:
    """The factories a config's ``[model]`` and ``[guide]`` tables name, with their options
    checked (:func:`pyrovae.base.options.check_options`); an empty guide table names the model's
    default guide.

    :raises ConfigError: an unknown name or option, a value of the wrong type, or a model
        without a default guide and no guide named.
    """
    model_entry = get_model(model["name"])
    guide_name = guide.get("name") or model_entry.default_guide
    if guide_name is None:
        raise ConfigError(f"model '{model['name']}' has no default guide; name one in the "
                          f"config: [guide] name = \"...\".")
    guide_entry = get_guide(guide_name)
    return Factories(model_entry, guide_entry,
                     check_options("model", model_entry.factory, _options(model), skip=1),
                     check_options("guide", guide_entry.factory, _options(guide), skip=2))
