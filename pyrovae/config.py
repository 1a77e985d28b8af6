"""Run configuration: TOML files, ``--set key=value`` overrides, validation and TOML output.

A config has top-level ``seed`` and ``device``, fixed-schema ``[train]`` options, and open
``[data]``, ``[model]`` and ``[guide]`` tables whose ``name`` selects a dataset or a registered
factory; their other keys are that dataset's or factory's options, checked against its signature.
The typed fields are checked against their annotations (:mod:`pyrovae.base.options`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w

from pyrovae import registry
from pyrovae.data import dataset_names
from pyrovae.base.errors import ConfigError
from pyrovae.base.options import (Example, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                             Seed, check, suggest)

LOSSES = ("trace_elbo", "meanfield_elbo", "trace_enum_elbo", "iwae")
#: Gradient estimators (:mod:`pyrovae.train.gradients`) and the loss each estimates.
GRADIENTS = ("reparam", "stl", "dreg")
GRADIENT_LOSS = {"stl": "trace_elbo", "dreg": "iwae"}
OPTIMIZERS = ("adam", "clipped_adam", "adam_normgrad")
LR_SCHEDULES = ("constant", "exponential", "cosine", "staged")
INITS = ("default", "he", "glorot", "glorot_normal")
INIT_BIASES = ("zero", "default")
OUTPUT_BIASES = ("default", "data_mean")
LOGGERS = ("tensorboard",)
#: ``[[epochs, lr], ...]``: the staged schedule's stages, in order.
LrStages = Annotated[list[list[PositiveFloat]],
                     Example("[epochs, lr] pairs", "[[1, 1e-3], [3, 7.2e-4]]")]


@dataclass
class TrainConfig:
    """Options of the training loop.

    :param epochs: passes over the training split.
    :param batch_size: data points per SVI step.
    :param loss: ``trace_elbo`` (Monte-Carlo KL), ``meanfield_elbo`` (analytic KL where known),
        ``trace_enum_elbo`` (sums out enumerated discrete sites) or ``iwae`` (the
        importance-weighted bound, RenyiELBO with alpha=0).
    :param num_particles: samples per data point (the IWAE bound's K).
    :param optimizer: ``adam`` (torch), ``clipped_adam`` (Pyro's, clips each gradient element)
        or ``adam_normgrad`` (Adam on each parameter's gradient divided by its norm, Tomczak and
        Welling's "AdamNormGrad"; :class:`pyrovae.train.optim.AdamNormGrad`).
    :param adam_eps: the :math:`\\epsilon` of Adam's denominator (Burda et al. use 1e-4).
    :param lr: learning rate (the staged schedule's stages give theirs).
    :param clip_norm: gradient clipping threshold; 0 turns it off.
    :param lr_schedule: ``constant``, ``exponential`` (times ``lr_gamma`` each epoch),
        ``cosine`` or ``staged`` (the learning rates of ``lr_stages``).
    :param lr_gamma: decay factor per epoch for the exponential schedule.
    :param lr_stages: ``staged`` only: ``[[epochs, lr], ...]``, each stage's length and learning
        rate in order; after the last stage its rate stays.
    :param beta: weight of the latent sites' terms (beta-VAE; 1 is the ELBO).
    :param kl_warmup_epochs: epochs over which beta rises linearly from 0; 0 turns warm-up off.
    :param patience: stop after this many epochs without a better valid ELBO; 0 turns it off.
    :param warmup_freezes_patience: epochs of the KL warm-up never count toward ``patience``
        (Tomczak and Welling: the valid ELBO of a model still warming up says little).
    :param init: initial weights of every ``nn.Linear`` in the model and guide: ``default``
        (torch's), ``he`` (:math:`\\mathcal N(0, 2/n_\\text{in})`, zero bias), ``glorot``
        (uniform on :math:`\\pm\\sqrt{6/(n_\\text{in} + n_\\text{out})}`, zero bias) or
        ``glorot_normal`` (:math:`\\mathcal N(0, 2/(n_\\text{in} + n_\\text{out}))`, zero
        bias); see :mod:`pyrovae.train.init`.
    :param init_bias: the biases of those layers under ``he`` or a ``glorot`` scheme: ``zero``,
        or ``default`` (torch's draw, :math:`\\mathcal U(\\pm 1/\\sqrt{n_\\text{in}})`, as
        Tomczak and Welling's code keeps them).
    :param output_bias: ``data_mean`` sets the model's output bias so that its output at zero
        input is the training data's mean (the logit of each pixel's mean for a Bernoulli); the
        model must have ``init_output_bias(mean)``.
    :param eval_batch_size: data points per batch when computing the valid ELBO.
    :param log: live logs written besides the CSV history: ``["tensorboard"]`` writes
        TensorBoard event files into the run directory (extra ``pyrovae[tensorboard]``).
    :param replay: with ``trace_elbo`` and one particle, record each step's tensor operations
        once and replay them without Pyro's Python overhead (same values, gradients and random
        draws; checked against the Pyro program). Turn it off for a model whose operations
        depend on Python state that changes during training.
    :param gradient: the gradient estimator: ``reparam`` (the reparameterized gradient of the
        loss), ``stl`` (sticking the landing, with ``trace_elbo``) or ``dreg`` (doubly
        reparameterized, with ``iwae``): the guide's score term dropped, same expectation, no
        variance at the exact posterior (:mod:`pyrovae.train.gradients`).
    """

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 100
    loss: Literal[LOSSES] = "trace_elbo"
    num_particles: PositiveInt = 1
    optimizer: Literal[OPTIMIZERS] = "adam"
    adam_eps: PositiveFloat = 1e-8
    lr: PositiveFloat = 1e-3
    clip_norm: NonNegativeFloat = 0.0
    lr_schedule: Literal[LR_SCHEDULES] = "constant"
    lr_gamma: NonNegativeFloat = 1.0
    lr_stages: LrStages | None = None
    beta: NonNegativeFloat = 1.0
    kl_warmup_epochs: NonNegativeFloat = 0.0
    patience: NonNegativeInt = 0
    warmup_freezes_patience: bool = False
    init: Literal[INITS] = "default"
    init_bias: Literal[INIT_BIASES] = "zero"
    output_bias: Literal[OUTPUT_BIASES] = "default"
    eval_batch_size: PositiveInt = 1000
    log: list[Literal[LOGGERS]] = field(default_factory=list)
    replay: bool = True
    gradient: Literal[GRADIENTS] = "reparam"

    def __post_init__(self):
        check_train(self)


def check_train(t: TrainConfig) -> None:
    """Raise :class:`ConfigError` where ``[train]`` options do not go together."""
    check_stages(t.lr_schedule, t.lr_stages)
    if t.gradient != "reparam" and t.loss != GRADIENT_LOSS[t.gradient]:
        loss = GRADIENT_LOSS[t.gradient]
        raise ConfigError(f'train.gradient = "{t.gradient}" estimates the gradient of loss = '
                          f'"{loss}", not of "{t.loss}": set train.loss = "{loss}", or leave '
                          f'gradient = "reparam".')
    if t.optimizer == "adam_normgrad" and t.clip_norm > 0:
        raise ConfigError("train.clip_norm does nothing with optimizer = \"adam_normgrad\", which "
                          "divides every gradient by its norm; leave clip_norm out.")


def check_stages(schedule: str, stages) -> None:
    """Raise :class:`ConfigError` unless ``stages`` fits ``schedule``: ``staged`` needs
    ``[[epochs, lr], ...]`` with whole positive epochs; the other schedules take none."""
    if schedule != "staged":
        if stages is not None:
            raise ConfigError(f'train.lr_stages applies to lr_schedule = "staged", not '
                              f'"{schedule}"; set lr_schedule = "staged" or leave it out.')
        return
    example = "e.g. [[1, 1e-3], [3, 7.2e-4]]"
    if not stages:
        raise ConfigError(f'lr_schedule = "staged" needs train.lr_stages = [[epochs, lr], ...], '
                          f'{example}.')
    for i, stage in enumerate(stages):
        if len(stage) != 2 or stage[0] != int(stage[0]):
            raise ConfigError(f"train.lr_stages[{i}] must be [epochs, lr] with whole epochs, "
                              f"{example}; got {stage!r}.")


@dataclass
class Config:
    """A whole run's configuration. ``data``, ``model`` and ``guide`` hold ``name`` plus options."""

    seed: Seed = 0
    device: str = "auto"
    data: dict[str, Any] = field(default_factory=lambda: {"name": "sprites"})
    model: dict[str, Any] = field(default_factory=lambda: {"name": "vae"})
    guide: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TOP_KEYS = [f.name for f in dataclasses.fields(Config)]
TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
_TOP_TYPES = typing.get_type_hints(Config, include_extras=True)
_TRAIN_TYPES = typing.get_type_hints(TrainConfig, include_extras=True)
# What a section's missing 'name' could be, for the message.
_NAME_EXAMPLES = {"data": "sprites", "model": "vae"}


def _unknown(key: str, valid) -> ConfigError:
    return ConfigError(f"unknown config key '{key}'.{suggest(key.split('.')[-1], valid)} "
                       f"Valid keys here: {', '.join(valid)}.")


def from_dict(raw: dict[str, Any]) -> Config:
    """Validate a parsed TOML document and fill in defaults."""
    for key in raw:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS)
    cfg = Config()
    for key in ("seed", "device"):
        if key in raw:
            setattr(cfg, key, check(key, raw[key], _TOP_TYPES[key]))
    for section in ("data", "model", "guide"):
        table = raw.get(section, getattr(cfg, section))
        if not isinstance(table, dict):
            raise ConfigError(f"'{section}' must be a table ([{section}]), got {table!r}.")
        if section != "guide" and not isinstance(table.get("name"), str):
            raise ConfigError(f"[{section}] needs a 'name' (a string), e.g. "
                              f"name = \"{_NAME_EXAMPLES[section]}\".")
        setattr(cfg, section, copy.deepcopy(table))
    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise ConfigError(f"'train' must be a table ([train]), got {train!r}.")
    for key, value in train.items():
        if key not in TRAIN_KEYS:
            raise _unknown(f"train.{key}", TRAIN_KEYS)
        setattr(cfg.train, key, check(f"train.{key}", value, _TRAIN_TYPES[key]))
    check_train(cfg.train)
    return cfg


#: Keys that say only where a run happens or what it shows: they never change its numbers.
PLACE_KEYS = ("device", "data.dir", "train.log")
#: The keys a resumed run may change: where it runs and how long it trains.
RESUMABLE_KEYS = (*PLACE_KEYS, "train.epochs", "train.patience")


#: Training options added after checkpoints first recorded the config, with their defaults: at
#: the default they are left out of :func:`decisive`, so that runs written before them keep
#: their identity (and their sweep directory).
LATER_TRAIN_KEYS = {"adam_eps": 1e-8, "warmup_freezes_patience": False, "init": "default",
                    "output_bias": "default", "gradient": "reparam", "init_bias": "zero"}


def decisive(cfg: Config | dict, without=RESUMABLE_KEYS) -> dict:
    """What decides a run's numbers: the config (or its dict form) as its ``config.toml`` reads
    back, without the dotted keys ``without`` (by default :data:`RESUMABLE_KEYS`, so a run and
    its resumed continuation agree), nor the :data:`LATER_TRAIN_KEYS` at their defaults."""
    d = tomllib.loads(dumps(cfg))
    train = d.get("train", {})
    for key, default in LATER_TRAIN_KEYS.items():
        if key in train and train[key] == default:
            del train[key]
    for key in without:
        *parents, leaf = key.split(".")
        node = d
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return d


def config_hash(cfg: Config) -> str:
    """12 hex digits of a SHA-256 of :func:`decisive` ``(cfg, without=PLACE_KEYS)``: equal for
    configs that train the same run for as long, so a sweep finds its run directory again."""
    text = json.dumps(decisive(cfg, without=PLACE_KEYS), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def differences(a: dict, b: dict, names=("a", "b"), prefix: str = "") -> list[str]:
    """``key: NAME_A has x, NAME_B has y`` for each dotted key whose values differ in the nested
    tables ``a`` and ``b``, named ``names`` in the text."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, "<absent>"), b.get(key, "<absent>")
        if isinstance(x, dict) and isinstance(y, dict):
            out += differences(x, y, names, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}: {names[0]} has {x!r}, {names[1]} has {y!r}")
    return out


def resolved(cfg: Config) -> Config:
    """A copy of ``cfg`` whose ``[model]`` and ``[guide]`` tables are those of the factories they
    name (:func:`pyrovae.registry.resolve`): the guide named (the model's default when the config
    names none) and the options converted as the factories take them.

    :raises ConfigError: an unknown model, guide or option, or a value of the wrong type.
    """
    model, guide = registry.resolve(cfg.model, cfg.guide).tables()
    return dataclasses.replace(cfg, model=model, guide=guide)


def parse_value(text: str):
    """A ``--set`` value read as TOML (``3``, ``1e-3``, ``true``, ``[200, 200]``, ``"x"``),
    or kept as a bare string (``--set data.name=mnist``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_override(item: str) -> tuple[str, Any]:
    """``"key=value"`` as the dotted key and the value read by :func:`parse_value`.

    :raises ConfigError: ``item`` is not ``key=value``.
    """
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set '{item}' is not key=value; write e.g. --set train.lr=3e-4.")
    return key.strip(), parse_value(text.strip())


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key=value`` (dotted key) set."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, value = parse_override(item)
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set '{item}': '{part}' is not a table.")
        node[leaf] = value
    return raw


def read_toml(path: str | Path, what: str, example: str) -> dict:
    """The parsed TOML file ``path``; a ConfigError naming ``what`` (e.g. "config file") when it is
    missing or malformed, suggesting ``example``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} '{path}' is a directory. Give the path to a .toml file in it, "
                          f"e.g. {example}.")
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' not found. Give the path to a .toml file, "
                          f"e.g. {example}.")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} '{path}' is not UTF-8 text (byte {e.start}); TOML files are "
                          f"UTF-8. Save it as UTF-8.") from None
    except OSError as e:
        raise ConfigError(f"cannot read {what} '{path}': {e.strerror}.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {e}.") from None


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a TOML config file, apply ``key=value`` overrides and validate. Unlike
    :func:`from_dict`, a file must name its dataset: none is filled in."""
    raw = apply_overrides(read_toml(path, "config file", "configs/quickstart.toml"),
                          list(overrides))
    require_data(raw, f"config file '{path}'")
    return from_dict(raw)


def require_data(raw: dict[str, Any], source: str) -> None:
    """Raise :class:`ConfigError` when the parsed config ``raw`` has no ``[data]`` table: a file
    must name its dataset (:func:`from_dict` fills in sprites for programmatic use)."""
    if "data" not in raw:
        raise ConfigError(f"{source} has no [data] table, so it names no dataset. Add "
                          f"[data] name = \"...\" with one of: {', '.join(dataset_names())}.")


def _without_none(value):
    """``value`` with the None entries of its tables left out: TOML cannot spell None."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def dumps(cfg: Config | dict) -> str:
    """The config as TOML text (top-level keys first, then one table per section), written by
    tomli-w, so that every string and key is escaped as TOML requires; None values are left
    out."""
    d = cfg.to_dict() if isinstance(cfg, Config) else cfg
    try:
        return tomli_w.dumps(_without_none(d))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"cannot write the config as TOML: {e}.") from None
