"""What happens after each training epoch, as callbacks of one small interface.

A callback is called as ``callback(state, improved)`` after every epoch, on every process, with
the :class:`~pyrovae.train.core.TrainState` and whether the epoch's valid ELBO is the best so
far; returning True stops training after that epoch. :func:`pyrovae.train.loop.fit` calls them
in order, every one of them each epoch.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Callable, Protocol, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from pyrovae.base import io
from pyrovae.train import checkpoint
from pyrovae.train.distributed import SINGLE, World
from pyrovae.train.params import Parameters


class Callback(Protocol):
    """``callback(state, improved) -> bool | None``: True stops training."""

    def __call__(self, state, improved: bool) -> bool | None: ...


class KeepBest:
    """Keeps a copy of the trained values of the best epoch so far (``values``, None before
    one)."""

    def __init__(self, parameters: Parameters):
        self.parameters, self.values = parameters, None

    def __call__(self, state, improved: bool) -> None:
        if improved:
            self.values = copy.deepcopy(self.parameters.state())


class Checkpoints:
    """Writes, atomically after every epoch, ``checkpoint.pt`` (trained values, optimizer,
    schedule, random states, history and ``record``), ``best.pt`` when the epoch is the best,
    and ``history.csv`` with ``seed`` in every row, into ``run_dir`` (rank 0; every rank's
    random state goes into the checkpoint)."""

    def __init__(self, run_dir, identity: dict, parameters: Parameters,
                 optimizer: torch.optim.Optimizer, schedule, *, seed: int,
                 record: dict | None = None, world: World = SINGLE):
        self.run_dir, self.identity, self.parameters = Path(run_dir), identity, parameters
        self.optimizer, self.schedule, self.seed = optimizer, schedule, seed
        self.record, self.world = record or {}, world

    def __call__(self, state, improved: bool) -> None:
        world = self.world
        rngs = world.gather(checkpoint.rng_state()) if world.active else None
        if not world.main:
            return
        values = self.parameters.state()
        if improved:
            checkpoint.save(self.run_dir / checkpoint.BEST_FILE, self.identity, epoch=state.epoch,
                            valid_elbo=state.best_valid_elbo, values=values)
        ranks = {"world_size": world.size, "rng_ranks": rngs} if world.active else \
            {"rng": checkpoint.rng_state()}
        checkpoint.save(self.run_dir / checkpoint.LAST_FILE, self.identity, **self.record,
                        values=values, optimizer=self.optimizer.state_dict(),
                        schedule=self.schedule.state_dict(), state=dataclasses.asdict(state),
                        **ranks)
        history = pd.DataFrame(state.history)
        history.insert(0, "seed", self.seed)
        io.write_csv(history, self.run_dir / "history.csv")


class UserCallbacks:
    """The callbacks of :func:`pyrovae.fit` and ``pyrovae train``'s loggers,
    ``callback(state)``, all run on rank 0; one returning True stops training on every
    rank."""

    def __init__(self, callbacks: Sequence[Callable], world: World = SINGLE):
        self.callbacks, self.world = tuple(callbacks), world

    def __call__(self, state, improved: bool) -> bool:
        # every callback sees every epoch, also after one of them asked to stop
        stop = self.world.main and any([callback(state) is True for callback in self.callbacks])
        stop = bool(self.world.from_main(stop))
        self.world.barrier()
        return stop


class EpochLine:
    """One line per epoch (rank 0): the epoch of ``epochs``, the training objective, the valid
    ELBO and the seconds."""

    def __init__(self, epochs: int, world: World = SINGLE):
        self.epochs, self.world = epochs, world

    def __call__(self, state, improved: bool) -> None:
        if self.world.main:
            row = state.history[-1]
            tqdm.write(f"epoch {row['epoch']}/{self.epochs}  train {row['objective']} "
                       f"{row['train_objective']:.3f}  valid elbo {row['valid_elbo']:.3f}  "
                       f"({row['seconds']:.1f}s)")
