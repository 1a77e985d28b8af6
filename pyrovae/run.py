"""Building a run from its config, training it into a run directory, and loading a trained one.

A run directory holds ``config.toml`` (the resolved config), ``checkpoint.pt`` (the last epoch,
for ``--resume``), ``best.pt`` (weights at the best valid ELBO), ``history.csv``,
``samples.png`` and ``reconstructions.png``, and TensorBoard event files with
``train.log = ["tensorboard"]``.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path

import pyro
import torch

from pyrovae import checks, config, registry
from pyrovae.base.device import fits_on, resolve_device
from pyrovae.base.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    TrainingError,
)
from pyrovae.base.options import choice
from pyrovae.base.protocols import LabelledModel
from pyrovae.data import Dataset, load_dataset
from pyrovae.data.dataset import MISSING_LABEL
from pyrovae.data.info import DataInfo
from pyrovae.pictures import save_pictures
from pyrovae.train import checkpoint, distributed, session
from pyrovae.train.loop import Diverged
from pyrovae.train.params import Parameters, collect
from pyrovae.train.session import FitResult
from pyrovae.train.tensorboard import make_loggers


@dataclass
class Built:
    """A config made concrete: data, model and guide on their device."""

    cfg: config.Config
    data: Dataset
    info: DataInfo
    model: torch.nn.Module
    guide: torch.nn.Module
    identity: dict
    device: torch.device
    #: Which of the run directory's checkpoints set the trained values (``"best"`` or
    #: ``"last"``, :func:`load`); empty for a config just built.
    weights: str = ""

    @property
    def label_role(self) -> str | None:
        """What the labels are to the model; see :func:`label_role`."""
        return label_role(self.model)

    def tensors(self, split: str, *, marginal: bool = False) -> tuple[torch.Tensor, ...]:
        """The per-data-point arguments of model and guide for ``split``: the data, then the
        labels for a model whose ``uses_labels`` attribute is true.

        :param marginal: leave out the labels of a model that observes them (label role
            ``"observed"``), so that it marginalizes them (evaluation of :math:`\\log p(x)`).
        """
        x = self.data.split(split)
        role = self.label_role
        if role is None or (marginal and role == "observed"):
            return (x,)
        labels = self.data.labels.get(split)
        if labels is None:
            raise DataError(f"model '{self.cfg.model['name']}' takes labels, but dataset "
                            f"'{self.data.name}' has none for its {split} split. Use a labelled "
                            f"dataset (e.g. mnist) or an unconditional model.")
        missing = int((labels == MISSING_LABEL).sum())
        if role == "input" and missing:
            raise DataError(f"model '{self.cfg.model['name']}' is conditioned on the label of "
                            f"every point, but {missing} of the {split} labels are missing "
                            f"(data.num_labelled). Give all labels, or use a model that observes "
                            f"labels where known (e.g. m2).")
        return (x, labels)


LABEL_ROLES = ("input", "observed")


def label_role(model) -> str | None:
    """The ``label_role`` of a :class:`~pyrovae.base.protocols.LabelledModel` whose
    ``uses_labels`` is true, else ``None``."""
    if not isinstance(model, LabelledModel) or not model.uses_labels:
        return None
    role = model.label_role
    if role not in LABEL_ROLES:
        raise ConfigError(f"{type(model).__name__}.label_role = {role!r} is not valid. Choose one "
                          f"of: {', '.join(LABEL_ROLES)}.")
    return role


def build(cfg: config.Config, *, data_dir=None, device=None) -> Built:
    """Load the data, build model and guide from the registry, move them to the device.

    ``Built.cfg`` is ``cfg`` :func:`~pyrovae.config.resolved` (the guide named, options
    converted); ``cfg`` itself is left as it is. The options are checked before the data load.
    """
    factories = registry.resolve(cfg.model, cfg.guide)  # once: a user's file runs once
    model_table, guide_table = factories.tables()
    cfg = dataclasses.replace(cfg, model=model_table, guide=guide_table)
    device = resolve_device(device or cfg.device)
    options = {k: v for k, v in cfg.data.items() if k not in ("name", "dir")}
    data = load_dataset(cfg.data["name"], data_dir=data_dir or cfg.data.get("dir"), seed=cfg.seed,
                        **options)
    info = DataInfo(tuple(data.event_shape), data.binary or data.dynamic_binarize, data.num_classes)
    model, guide = factories.build(info)
    model.to(device)
    guide.to(device)
    nbytes = sum(t.numel() * t.element_size() for t in data.splits.values())
    if fits_on(device, nbytes):
        data = data.to(device)
    identity = checkpoint.identity(config.decisive(cfg), data.event_shape,
                                   Parameters(model, guide).shapes())
    return Built(cfg, data, info, model, guide, identity, device)


#: Which trained values of a run :func:`load` sets: ``best`` (those of the epoch with the best
#: validation ELBO) or ``last`` (those of the last epoch trained).
WEIGHTS = ("best", "last")
#: The file of each of :data:`WEIGHTS` in a run directory.
WEIGHT_FILES = {"best": checkpoint.BEST_FILE, "last": checkpoint.LAST_FILE}


def load(run_dir, *, data_dir=None, device=None, weights: str = "best") -> Built:
    """A run directory's model and guide with trained weights (the param-store entries they
    read included), and its data: :func:`build` of its ``config.toml``, then the values of the
    checkpoint that ``weights`` names.

    :param weights: which of :data:`WEIGHTS`: ``best`` (the epoch with the best validation
        ELBO, which scores a run by default) or ``last`` (the last epoch trained, as a run
        whose training went on past its best epoch ends).
    """
    choice("weights", weights, WEIGHTS)
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.toml"
    if not cfg_path.is_file():
        raise ConfigError(f"{run_dir} has no config.toml, so it is not a run directory. Give the "
                          f"directory that 'pyrovae train ... --out RUN_DIR' wrote.")
    built = build(config.load(cfg_path), data_dir=data_dir, device=device)
    path = run_dir / WEIGHT_FILES[weights]
    ckpt = checkpoint.load(path, built.identity, map_location=built.device)
    parameters = Parameters(built.model, built.guide)
    if ckpt["values"]["store"]:  # created, with their constraints, by a run of the programs
        first = tuple(t[:2].to(built.device) for t in built.tensors("train"))
        parameters = collect(built.model, built.guide, first)
    checkpoint.load_values(parameters, ckpt["values"], path)
    built.model.eval()
    built.guide.eval()
    return dataclasses.replace(built, weights=weights)


def binarized_once(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One fixed Bernoulli draw of grayscale ``x`` (validation data of dynamic binarization)."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return torch.bernoulli(x, generator=gen)


def _check_resume_overrides(overrides: list[str]) -> None:
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key not in config.RESUMABLE_KEYS:
            keys = ", ".join(sorted(config.RESUMABLE_KEYS))
            raise ConfigError(f"--set {key} cannot change on --resume: it would make the resumed run "
                              f"differ from its first part. Only {keys} may change; start a new "
                              f"run (--out) for other changes.")


def resolve_config(config_path, overrides, resume_dir) -> config.Config:
    """The config of a new run (file + overrides) or of a resumed one (its saved config)."""
    if resume_dir is None:
        if config_path is None:
            raise ConfigError("give a config file (pyrovae train CONFIG.toml) or --resume RUN_DIR.")
        return config.load(config_path, overrides)
    _check_resume_overrides(overrides)
    saved = Path(resume_dir) / "config.toml"
    if not saved.is_file():
        raise ConfigError(f"--resume {resume_dir}: no config.toml there, so it is not a run "
                          f"directory. Give the directory a previous 'pyrovae train' wrote.")
    cfg = config.load(saved, overrides)
    if config_path is not None:
        fresh = config.resolved(config.load(config_path, overrides))
        diffs = config.differences(config.decisive(config.resolved(cfg)), config.decisive(fresh),
                                  ("the run", str(config_path)))
        if diffs:
            raise ConfigError(f"{config_path} differs from the config of the run in {resume_dir} "
                              f"({'; '.join(diffs)}). Resume with --resume alone, or start a new "
                              f"run with --out.")
    return cfg


def _checkpoint_epoch(path: Path) -> int | None:
    """The completed epochs the checkpoint at ``path`` holds, or None where there is none."""
    try:
        return int(checkpoint.load(path)["state"]["epoch"])
    except CheckpointError:
        return None


def _diverged(e: Diverged, cfg: config.Config, run_dir: Path) -> TrainingError:
    """``e``'s message, completed with what the run directory holds and the command that
    restarts the run at a tenth of the learning rate."""
    ckpt_path = run_dir / checkpoint.LAST_FILE
    kept = (f"{ckpt_path} holds epoch {e.completed}, but resuming it would diverge again "
            f"(training is deterministic)" if e.completed else
            "No epoch completed, so no checkpoint was written")
    lr = f"{cfg.train.lr / 10:g}"
    command = shlex.join(["pyrovae", "train", str(run_dir / "config.toml"),
                          "--set", f"train.lr={lr}", "--out", f"{run_dir}-lr{lr}"])
    return TrainingError(f"{e} {kept}. Start a new run with a lower rate (or set "
                         f"train.clip_norm): {command}")


def _interrupted(run_dir: Path) -> Interrupted:
    """What a Ctrl-C leaves: the checkpoint to resume, or that there is none."""
    ckpt_path = run_dir / checkpoint.LAST_FILE
    epoch = _checkpoint_epoch(ckpt_path) if ckpt_path.is_file() else None
    if epoch is None:
        return Interrupted("interrupted before the first epoch finished, so no checkpoint was "
                           "written; run the same command again to start over.")
    return Interrupted(f"interrupted; {ckpt_path} holds epoch {epoch}. Continue with: "
                       f"{shlex.join(['pyrovae', 'train', '--resume', str(run_dir)])}")


def train(cfg: config.Config, run_dir, *, resume: bool = False, quiet: bool = False,
          data_dir=None, device=None) -> FitResult:
    """Train the run ``cfg`` into ``run_dir`` (continuing its checkpoint when ``resume``).

    Seeds every generator with ``cfg.seed`` first. Returns the
    :class:`~pyrovae.train.session.FitResult` with ``built`` (what :func:`build` made of
    ``cfg``) and the paths of every file written (the config, checkpoints, history, pictures).
    Launched by ``torchrun``, it trains in every process
    (:mod:`pyrovae.train.distributed`); rank 0 writes the files and returns their paths.

    :raises ConfigError: ``run_dir`` cannot be written, already holds a run (without
        ``resume``), or holds more epochs than ``cfg.train.epochs`` (with ``resume``).
    :raises TrainingError: training diverged; the message says what was kept and how to restart.
    :raises Interrupted: Ctrl-C; the message says which checkpoint to resume.
    """
    run_dir = Path(run_dir)
    session.claim_run_dir(run_dir, resume, what="the run directory",
                          continue_with=f"--resume {run_dir}",
                          new_with="write a new run with another --out")
    distributed.join(resolve_device(device or cfg.device))
    try:
        return _train(cfg, run_dir, resume=resume, quiet=quiet, data_dir=data_dir, device=device)
    except KeyboardInterrupt:
        raise _interrupted(run_dir) from None


def _train(cfg: config.Config, run_dir: Path, *, resume: bool, quiet: bool, data_dir,
           device) -> FitResult:
    pyro.set_rng_seed(cfg.seed)
    built = build(cfg, data_dir=data_dir, device=device)
    cfg = built.cfg
    train_x, valid_x = built.tensors("train"), built.tensors("valid")
    if built.data.dynamic_binarize:
        valid_x = (binarized_once(valid_x[0], cfg.seed), *valid_x[1:])
    name = cfg.model["name"]
    checks.check_fits(built.model, name, "train",
                      binarized_once(train_x[0], 0) if built.data.dynamic_binarize else train_x[0],
                      *train_x[1:], dataset=built.data.name)
    checks.check_fits(built.model, name, "valid", *valid_x, dataset=built.data.name)
    valid_x = tuple(v.to(built.device) for v in valid_x)
    world = distributed.current()
    loggers = make_loggers(cfg.train.log if world.main else [], run_dir, model=built.model,
                           guide=built.guide, valid=valid_x, seed=cfg.seed)
    # training draws from the seed, as pyrovae.fit's does (each rank its own stream)
    world.set_rng_seed(cfg.seed)
    try:
        trained = session.train_pair(
            built.model, built.guide, train_x, valid_x, cfg.train, identity=built.identity,
            seed=cfg.seed, run_dir=run_dir, resume=resume, quiet=quiet, device=built.device,
            dynamic_binarize=built.data.dynamic_binarize, record={"config": cfg.to_dict()},
            files={"config.toml": config.dumps(cfg)}, callbacks=loggers)
    except Diverged as e:
        raise _diverged(e, cfg, run_dir) from None
    finally:
        for logger in loggers:
            logger.close()
    if not world.main:
        return dataclasses.replace(trained, paths=[], built=built)
    pictures = save_pictures(built.model.eval(), built.guide.eval(), valid_x, run_dir, seed=cfg.seed)
    return dataclasses.replace(trained, paths=[run_dir / "config.toml", *trained.paths, *pictures],
                               built=built)
