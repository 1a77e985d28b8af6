"""Training one model/guide pair, with or without a run directory: the one path that
``pyrovae train`` (a config's pair) and :func:`pyrovae.fit` (a pair you built) both take.

With a run directory it writes, atomically after every epoch, ``checkpoint.pt`` (the trained
values, optimizer, schedule, random states and history), ``best.pt`` (the values at the best
valid ELBO) and ``history.csv``, and continues a run from its checkpoint when asked to resume.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch

from pyrovae.base import io
from pyrovae.base.errors import CheckpointError, ConfigError
from pyrovae.base.nn import module_of
from pyrovae.config import TrainConfig
from pyrovae.infer.batches import Batches, InMemory, Streamed
from pyrovae.infer.modes import eval_mode
from pyrovae.infer.tiles import CHECKED_PARTICLES, vectorized_fault
from pyrovae.train import checkpoint, distributed
from pyrovae.train.callbacks import Checkpoints, EpochLine, KeepBest, UserCallbacks
from pyrovae.train.core import TrainState
from pyrovae.train.gradients import make_training_elbo
from pyrovae.train.init import init_linear, init_output_bias
from pyrovae.train.loop import fit
from pyrovae.train.objective import Objective
from pyrovae.train.optim import make_optimizer, make_schedule
from pyrovae.train.params import Parameters, collect


@dataclass
class FitResult:
    """What training a pair gives, however it was started: :func:`pyrovae.fit`, ``pyrovae
    train`` (:func:`pyrovae.run.train`) or a sweep's point.

    :param history: one row per epoch: ``seed, epoch, objective, train_objective, valid_elbo,
        beta, lr, seconds`` (as ``history.csv`` of a run).
    :param best: the trained values at the best epoch (the model and guide now hold them):
        ``{"model": state_dict, "guide": state_dict, "store": {name: tensor}}``.
    :param state: the training state after the last epoch (best epoch, early stopping, ...).
    :param run_dir: the run directory, or None (everything stayed in memory).
    :param paths: the files written (none without a run directory).
    :param device: where it trained.
    :param parameters: what was trained (:class:`~pyrovae.train.params.Parameters`).
    :param built: a run from a config only: what :func:`pyrovae.run.build` made of it (data,
        model, guide, identity); None from :func:`pyrovae.fit`.
    """

    history: pd.DataFrame
    best: dict
    state: TrainState
    run_dir: Path | None
    paths: list[Path] = field(default_factory=list)
    device: torch.device | None = None
    parameters: Parameters | None = None
    built: object = None


def _vectorizes(model, guide, train, t: TrainConfig, device) -> bool:
    """Whether the ``t.num_particles`` particles of a step may run in one particle plate:
    checked on the first batch (:func:`pyrovae.infer.tiles.vectorized_fault`, the modules in
    eval mode), with a one-line warning when they must run one at a time."""
    if t.num_particles == 1:
        return True
    batch = train.first().to(device)
    size = min(t.num_particles, CHECKED_PARTICLES)
    with eval_mode(model, guide):  # dropout would make the same draws differ
        fault = vectorized_fault(model, guide, batch.args, batch.kwargs, size)
    if fault is not None:
        warnings.warn(f"pyrovae: the {t.num_particles} particles of each training step run one "
                      f"at a time: {fault}.", stacklevel=3)
    return fault is None


def _resumed(ckpt_path: Path, best_path: Path, identity: dict, parameters: Parameters,
             optimizer, schedule, t: TrainConfig, world, device) -> TrainState:
    """The state of the run in ``ckpt_path``'s directory, its trained values, optimizer,
    schedule and random streams restored, once the checkpoint and ``best.pt`` are checked to be
    this run's (same identity, as many processes, no more epochs than ``t.epochs``)."""
    run_dir = ckpt_path.parent
    ckpt = checkpoint.load(ckpt_path, identity, map_location=device)
    state = TrainState(**ckpt["state"])
    if t.epochs < state.epoch:
        raise ConfigError(f"the run in {run_dir} has already completed {state.epoch} epochs; "
                          f"give train.epochs >= {state.epoch}.")
    ranks = ckpt.get("world_size", 1)
    if ranks != world.size:
        raise ConfigError(f"the run in {run_dir} was trained in {ranks} process(es); resume "
                          f"it with the same number (torchrun --nproc_per_node={ranks}), "
                          f"so that it continues to the same numbers.")
    if best_path.is_file():  # damaged, or another run's: refused before any training
        checkpoint.load(best_path, identity, map_location="cpu")
    elif state.best_epoch:
        raise CheckpointError(f"{best_path} is missing, but the checkpoint says epoch "
                              f"{state.best_epoch} was the best so far: the run directory "
                              f"is incomplete. Restore best.pt, or train a new run.")
    checkpoint.load_values(parameters, ckpt["values"], ckpt_path)
    optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])
    checkpoint.set_rng_state(ckpt["rng_ranks"][world.rank] if world.active else ckpt["rng"])
    return state


def claim_run_dir(run_dir: Path, resume: bool, *, what: str, continue_with: str,
                  new_with: str) -> bool:
    """Check, before any work, that ``run_dir`` may hold this run: it can be written
    (:func:`pyrovae.base.io.check_output`), and it holds no run unless ``resume``. The messages
    use the caller's words: ``what`` names the directory (``"out"``), ``continue_with`` how to
    continue the run it holds, ``new_with`` how to write a new one instead.

    :returns: whether ``run_dir`` holds a run (a checkpoint).
    :raises ConfigError: it cannot be written, or holds a run and ``resume`` is false.
    """
    io.check_output(run_dir, what, directory=True)
    has_run = (run_dir / checkpoint.LAST_FILE).is_file()
    if has_run and not resume:
        raise ConfigError(f"{run_dir} already holds a run; continue it with {continue_with}, or "
                          f"{new_with}.")
    return has_run


def _check_sources(train: Batches, valid: Batches | None, t: TrainConfig, world) -> None:
    """Refuse, before any work, data that ``t`` and the processes cannot train on: a batch
    smaller than the number of processes, a streamed source in several processes, the data
    mean of a streamed source."""
    if world.active and t.batch_size < world.size:
        raise ConfigError(f"train.batch_size = {t.batch_size} gives some of the {world.size} "
                          f"processes no points; give a batch of at least {world.size}.")
    if world.active and any(s is not None and s.streamed for s in (train, valid)):
        raise ConfigError(f"a streamed DataLoader trains in one process, not {world.size}: give "
                          f"the data as tensors, or train without torchrun.")
    if t.output_bias == "data_mean" and train.streamed:
        raise ConfigError("output_bias = \"data_mean\" needs the training data in memory, not "
                          "a streamed DataLoader: leave it at \"default\".")


def _after_epoch(run_dir, identity, parameters, optimizer, schedule, seed, record, world,
                 callbacks, epochs: int | None) -> list:
    """The callbacks after :class:`KeepBest`: checkpoints (with a run directory), the user's,
    and the epoch's line (``epochs`` given: not quiet)."""
    out = []
    if run_dir is not None:
        out.append(Checkpoints(run_dir, identity, parameters, optimizer, schedule, seed=seed,
                               record=record, world=world))
    out.append(UserCallbacks(callbacks, world))
    if epochs is not None:
        out.append(EpochLine(epochs, world))
    return out


def train_pair(model, guide, train: Sequence[torch.Tensor] | Batches,
               valid: Sequence[torch.Tensor] | Batches | None,
               t: TrainConfig, *, identity: dict, seed: int, run_dir: Path | None = None,
               resume: bool = False, quiet: bool = False, device=None,
               dynamic_binarize: bool = False, record: dict | None = None,
               files: dict[str, str] | None = None,
               callbacks: Sequence[Callable[[TrainState], object]] = (),
               parameters: Parameters | None = None) -> FitResult:
    """Train ``model``/``guide`` by :func:`pyrovae.train.loop.fit` on ``train`` as ``t`` says.

    The random streams are not seeded here (the caller seeds them); ``seed`` is recorded in
    every row of ``history.csv``.

    :param train: training tensors, data first (then labels), on ``device`` or movable there;
        or their :mod:`~pyrovae.infer.batches` source (in memory in batches of
        ``t.batch_size``, or a streamed ``DataLoader``: one process only).
    :param valid: validation data in the same forms (in memory: in batches of
        ``t.eval_batch_size``), or None: then no valid ELBO is computed
        (NaN in the history), there is no early stopping, and the best epoch is the last.
    :param identity: what decides the run's numbers, the shapes of what is trained among them;
        a checkpoint must carry the same to be resumed (:func:`pyrovae.train.checkpoint.load`).
    :param run_dir: where to write checkpoints and history; None keeps everything in memory.
    :param resume: continue from ``run_dir/checkpoint.pt``.
    :param record: more plain values to store in each checkpoint (e.g. the config).
    :param files: text files to write into ``run_dir`` (name -> text) once the checks passed.
    :param callbacks: called with the :class:`TrainState` after each epoch (and its
        checkpoint); one returning True stops training after that epoch. In several processes
        (:mod:`pyrovae.train.distributed`) they run on rank 0, whose stop every rank obeys.
    :param parameters: what to train (default: :func:`~pyrovae.train.params.collect` on the
        first batch).

    A fresh start first sets the initial values ``t.init`` and ``t.output_bias`` ask for
    (:mod:`pyrovae.train.init`); a resumed run takes its values from the checkpoint.

    :raises ConfigError: ``resume`` without a checkpoint of this run, or with fewer epochs than
        it completed.
    :raises CheckpointError: ``resume`` where ``best.pt`` is damaged, another run's, or missing
        though an epoch was the best.
    :raises pyrovae.train.loop.Diverged: the loss or a parameter became NaN or infinite.
    """
    if not isinstance(train, (InMemory, Streamed)):
        train = InMemory(tuple(train), {}, t.batch_size)
    if device is not None:
        device = torch.device(device)
    else:
        device = torch.device("cpu") if train.streamed else train.x.device
    if valid is not None and not isinstance(valid, (InMemory, Streamed)):
        valid = InMemory(tuple(v.to(device) for v in valid), {}, t.eval_batch_size)
    world = distributed.current()
    _check_sources(train, valid, t, world)
    if not resume:  # before any run of the pair: a model that cannot take them says so first
        init_linear([m for m in (module_of(model), module_of(guide)) if m is not None], t.init,
                    t.init_bias)
        if t.output_bias == "data_mean":
            init_output_bias(module_of(model) or model, train.x.to(device))
    if parameters is None:
        parameters = collect(model, guide, train.first().to(device).args)
    replay = t.replay
    if world.active:
        if parameters.store:
            raise ConfigError(f"training in {world.size} processes keeps the parameters of "
                              f"modules in step, not Pyro param-store entries "
                              f"({', '.join(parameters.store)}); hold them in an nn.Module "
                              f"(pyro.nn.PyroParam), or train in one process.")
        if replay and t.loss == "trace_elbo" and t.num_particles == 1 and world.main:
            warnings.warn("pyrovae: not replaying recorded steps under DistributedDataParallel "
                          "(the replay is checked in one process only); every step runs the "
                          "Pyro program.", stacklevel=2)
        replay = False
    objective = Objective(model, guide, make_training_elbo(
        t.loss, t.num_particles, replay, _vectorizes(model, guide, train, t, device), t.gradient))
    named = parameters.named()
    optimizer = make_optimizer(named.values(), t)
    schedule = make_schedule(optimizer, t)
    state = TrainState()
    ckpt_path = None if run_dir is None else Path(run_dir) / checkpoint.LAST_FILE
    best_path = None if run_dir is None else Path(run_dir) / checkpoint.BEST_FILE
    if resume:
        if ckpt_path is None:
            raise ConfigError("resume needs the run directory the run was written to.")
        state = _resumed(ckpt_path, best_path, identity, parameters, optimizer, schedule, t,
                         world, device)
    if run_dir is not None and world.main:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        for name, text in (files or {}).items():
            io.write_text(Path(run_dir) / name, text)
    best = KeepBest(parameters)
    after_epoch = [best, *_after_epoch(run_dir, identity, parameters, optimizer, schedule, seed,
                                       record, world, callbacks, None if quiet else t.epochs)]
    with world.answering():
        state = fit(objective, optimizer, schedule, train, valid, t, named, state=state,
                    callbacks=after_epoch, dynamic_binarize=dynamic_binarize, quiet=quiet,
                    device=device, world=world, seed=seed)
    values = best.values
    if values is None and best_path is not None and best_path.is_file():
        values = checkpoint.load(best_path, identity, map_location=device)["values"]
    if values is not None:
        checkpoint.load_values(parameters, values, best_path)
    world.barrier()
    paths = [] if run_dir is None else [ckpt_path, best_path, Path(run_dir) / "history.csv"]
    history = pd.DataFrame(list(state.history))
    history.insert(0, "seed", seed)
    return FitResult(history, values, state, None if run_dir is None else Path(run_dir), paths,
                     device, parameters)
