"""The trainer core: a state goes in, the new state and the loss come out.

:func:`init` builds the :class:`Trainer` (what stays fixed while training: the objective, its
optimizer and schedule, the settings, the processes) and the first :class:`TrainState`;
:func:`step` takes one stochastic gradient step and :func:`end_epoch` enters an epoch's figures.
Both return a new state and leave the given one as it was, so a caller can keep, compare or
checkpoint any state it saw. The epoch driver (:func:`pyrovae.train.loop.fit`) and everything
around it (checkpoints, early stopping's decisions, progress lines: callbacks) are built on these
three functions.

The trained values and the optimizer's moments are torch tensors that :func:`step` updates in
place, as every torch optimizer does; :class:`Trainer` holds them, and a checkpoint saves them
beside the state.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from pyrovae.config import TrainConfig
from pyrovae.train.distributed import SINGLE, World
from pyrovae.train.objective import Objective, objective_name
from pyrovae.train.optim import beta_at
from pyrovae.train.step import sgd_step


@dataclass(frozen=True)
class TrainState:
    """Where training stands after ``epoch`` completed epochs and ``global_step`` steps.

    :param history: one row per completed epoch (``epoch, objective, train_objective,
        valid_elbo, beta, lr, seconds``).
    :param best_valid_elbo: the best valid ELBO per data point so far (-inf before one).
    :param best_epoch: the epoch that reached it (0 before one).
    :param bad_epochs: epochs since the last improvement that count towards early stopping.
    :param stopped_early: early stopping (or a callback) ended training.
    """

    epoch: int = 0
    global_step: int = 0
    history: tuple[dict, ...] = ()
    best_valid_elbo: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False

    def __post_init__(self):
        object.__setattr__(self, "history", tuple(self.history))  # a checkpoint holds a list


@dataclass(frozen=True)
class Trainer:
    """What stays fixed while training a pair.

    :param objective: the training objective (:class:`~pyrovae.train.objective.Objective`).
    :param runner: what a step calls: ``objective`` itself in one process, its
        ``DistributedDataParallel`` wrapper in several.
    :param params: what ``optimizer`` trains, by name.
    :param num_data: training points, ``N`` of the loss scale ``N / batch size``.
    :param clip_norm: the gradients' global norm is clipped to it (0: not clipped).
    :param column: the objective's name in the history.
    """

    objective: Objective
    runner: object
    optimizer: torch.optim.Optimizer
    schedule: object
    settings: TrainConfig
    params: dict[str, torch.Tensor]
    num_data: int
    world: World
    device: torch.device
    clip_norm: float
    column: str


def init(objective: Objective, optimizer: torch.optim.Optimizer, schedule, t: TrainConfig,
         params: dict[str, torch.Tensor], num_data: int, device: torch.device, *,
         world: World = SINGLE, state: TrainState | None = None) -> tuple[Trainer, TrainState]:
    """The :class:`Trainer` of ``objective`` trained by ``optimizer`` and ``schedule`` as ``t``
    says, on ``num_data`` points on ``device``, and the state to start from: ``state`` (a
    resumed run) or a fresh one."""
    clip_norm = t.clip_norm if t.optimizer == "adam" else 0.0  # ClippedAdam clips by itself
    trainer = Trainer(objective, world.wrap(objective, device), optimizer, schedule,
                      t, params, num_data, world, device, clip_norm,
                      objective_name(t.loss, t.num_particles, t.beta))
    return trainer, state or TrainState()


def step(trainer: Trainer, state: TrainState, batch: tuple[torch.Tensor, ...], points: int,
         steps_per_epoch: int) -> tuple[TrainState, torch.Tensor]:
    """One stochastic gradient step on ``batch``, part of a global batch of ``points`` points.

    The loss is the objective scaled by ``N * world size / points`` (the full-data objective's
    estimate, of which ``DistributedDataParallel`` averages the ranks' gradients), with the
    latent sites weighted by the KL warm-up's :math:`\\beta` at epoch
    ``global_step / steps_per_epoch``.

    :returns: the state one step on, and the loss (detached; no host synchronization).
    """
    w = trainer.world
    loss = sgd_step(trainer.runner, trainer.optimizer, batch,
                    scale=trainer.num_data * w.size / points,
                    beta=beta_at(trainer.settings, state.global_step / steps_per_epoch),
                    clip_norm=trainer.clip_norm)
    return dataclasses.replace(state, global_step=state.global_step + 1), loss


def end_epoch(trainer: Trainer, state: TrainState, row: dict, has_valid: bool
              ) -> tuple[TrainState, bool]:
    """Enter a completed epoch into ``state``: its ``row`` of the history (``epoch`` and
    ``valid_elbo`` among its keys), the best epoch, the epochs without improvement (frozen during
    the KL warm-up when the settings say so) and early stopping after ``patience`` of them.

    :param has_valid: there is validation data; without it every epoch is the best so far.
    :returns: the new state, and whether the epoch is the best so far.
    """
    t, epoch, valid_elbo = trainer.settings, row["epoch"], row["valid_elbo"]
    improved = not has_valid or valid_elbo > state.best_valid_elbo
    best = (valid_elbo, epoch, 0) if improved else (state.best_valid_elbo, state.best_epoch,
                                                    state.bad_epochs)
    if not improved and not (t.warmup_freezes_patience and epoch <= t.kl_warmup_epochs):
        best = (best[0], best[1], best[2] + 1)
    new = dataclasses.replace(state, epoch=epoch, history=state.history + (row,),
                              best_valid_elbo=best[0], best_epoch=best[1], bad_epochs=best[2],
                              stopped_early=t.patience > 0 and best[2] >= t.patience)
    return new, improved
