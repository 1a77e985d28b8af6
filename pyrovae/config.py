"""Run configuration: TOML files, ``--set key=value`` overrides, validation and TOML output.

A config has top-level ``seed`` and ``device``, fixed-schema ``[train]`` options, and open
``[data]``, ``[model]`` and ``[guide]`` tables whose ``name`` selects a dataset or a registered
factory; their other keys are that dataset's or factory's options, checked against its signature.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrovae.errors import ConfigError
from pyrovae.registry import suggest

LOSSES = ("trace_elbo", "meanfield_elbo", "trace_enum_elbo", "iwae")
OPTIMIZERS = ("adam", "clipped_adam")
LR_SCHEDULES = ("constant", "exponential", "cosine")


@dataclass
class TrainConfig:
    """Options of the training loop.

    :param epochs: passes over the training split.
    :param batch_size: data points per SVI step.
    :param loss: ``trace_elbo`` (Monte-Carlo KL), ``meanfield_elbo`` (analytic KL where known)
        or ``iwae`` (the importance-weighted bound, RenyiELBO with alpha=0).
    :param num_particles: samples per data point (the IWAE bound's K).
    :param optimizer: ``adam`` (torch) or ``clipped_adam`` (Pyro's, clips each gradient element).
    :param lr: learning rate.
    :param clip_norm: gradient clipping threshold; 0 turns it off.
    :param lr_schedule: ``constant``, ``exponential`` (times ``lr_gamma`` each epoch) or ``cosine``.
    :param lr_gamma: decay factor per epoch for the exponential schedule.
    :param beta: weight of the latent sites' terms (beta-VAE; 1 is the ELBO).
    :param kl_warmup_epochs: epochs over which beta rises linearly from 0; 0 turns warm-up off.
    :param patience: stop after this many epochs without a better valid ELBO; 0 turns it off.
    :param eval_batch_size: data points per batch when computing the valid ELBO.
    :param replay: with ``trace_elbo`` and one particle, record each step's tensor operations
        once and replay them without Pyro's Python overhead (same values, gradients and random
        draws; checked against the Pyro program). Turn it off for a model whose operations
        depend on Python state that changes during training.
    """

    epochs: int = 10
    batch_size: int = 100
    loss: str = "trace_elbo"
    num_particles: int = 1
    optimizer: str = "adam"
    lr: float = 1e-3
    clip_norm: float = 0.0
    lr_schedule: str = "constant"
    lr_gamma: float = 1.0
    beta: float = 1.0
    kl_warmup_epochs: float = 0.0
    patience: int = 0
    eval_batch_size: int = 1000
    replay: bool = True


@dataclass
class Config:
    """A whole run's configuration. ``data``, ``model`` and ``guide`` hold ``name`` plus options."""

    seed: int = 0
    device: str = "auto"
    data: dict[str, Any] = field(default_factory=lambda: {"name": "sprites"})
    model: dict[str, Any] = field(default_factory=lambda: {"name": "vae"})
    guide: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TOP_KEYS = [f.name for f in dataclasses.fields(Config)]
TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
CHOICES = {"loss": LOSSES, "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES}


def _unknown(key: str, valid) -> ConfigError:
    return ConfigError(f"unknown config key '{key}'.{suggest(key.split('.')[-1], valid)} "
                       f"Valid keys here: {', '.join(valid)}.")


def _typed(key: str, value, default):
    """``value`` converted to the type of ``default``, or a ConfigError naming ``key``."""
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, type(default)) if default is not None else True
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"config key '{key}' must be a {type(default).__name__}, got {value!r}.")
    return value


def from_dict(raw: dict[str, Any]) -> Config:
    """Validate a parsed TOML document and fill in defaults."""
    for key in raw:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS)
    cfg = Config()
    for key in ("seed", "device"):
        if key in raw:
            setattr(cfg, key, _typed(key, raw[key], getattr(cfg, key)))
    for section in ("data", "model", "guide"):
        table = raw.get(section, getattr(cfg, section))
        if not isinstance(table, dict):
            raise ConfigError(f"'{section}' must be a table ([{section}]), got {table!r}.")
        if section != "guide" and not isinstance(table.get("name"), str):
            raise ConfigError(f"[{section}] needs a 'name' (a string), e.g. name = \"vae\".")
        setattr(cfg, section, copy.deepcopy(table))
    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise ConfigError(f"'train' must be a table ([train]), got {train!r}.")
    defaults = TrainConfig()
    for key, value in train.items():
        if key not in TRAIN_KEYS:
            raise _unknown(f"train.{key}", TRAIN_KEYS)
        value = _typed(f"train.{key}", value, getattr(defaults, key))
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(f"train.{key} = '{value}' is not valid.{suggest(value, CHOICES[key])} "
                              f"Choose one of: {', '.join(CHOICES[key])}.")
        setattr(cfg.train, key, value)
    _check_ranges(cfg.train)
    return cfg


def _check_ranges(t: TrainConfig) -> None:
    positive = {"epochs": t.epochs, "batch_size": t.batch_size, "num_particles": t.num_particles,
                "eval_batch_size": t.eval_batch_size, "lr": t.lr}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"train.{key} must be positive, got {value}.")
    nonneg = {"beta": t.beta, "kl_warmup_epochs": t.kl_warmup_epochs, "patience": t.patience,
              "clip_norm": t.clip_norm, "lr_gamma": t.lr_gamma}
    for key, value in nonneg.items():
        if value < 0:
            raise ConfigError(f"train.{key} must be >= 0, got {value}.")


def parse_value(text: str):
    """A ``--set`` value read as TOML (``3``, ``1e-3``, ``true``, ``[200, 200]``, ``"x"``),
    or kept as a bare string (``--set data.name=mnist``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key=value`` (dotted key) set."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set '{item}' is not key=value; write e.g. --set train.lr=3e-4.")
        *parents, leaf = key.strip().split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set '{item}': '{part}' is not a table.")
        node[leaf] = parse_value(text.strip())
    return raw


def read_toml(path: str | Path, what: str, example: str) -> dict:
    """The parsed TOML file ``path``; a ConfigError naming ``what`` (e.g. "config file") when it is
    missing or malformed, suggesting ``example``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' not found. Give the path to a .toml file, "
                          f"e.g. {example}.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {e}.") from None


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a TOML config file, apply ``key=value`` overrides and validate."""
    raw = read_toml(path, "config file", "configs/quickstart.toml")
    return from_dict(apply_overrides(raw, list(overrides)))


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else \
        _toml_value(str(key))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. a spec model's decoder = { ... }
        items = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML.")


def dumps(cfg: Config | dict) -> str:
    """The config as TOML text (scalars first, then one table per section)."""
    d = cfg.to_dict() if isinstance(cfg, Config) else cfg
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()
                                       if vv is not None]
    return "\n".join(lines) + "\n"
