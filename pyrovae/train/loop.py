"""The one training loop for every model/guide pair: the epoch driver over the trainer core
(:mod:`pyrovae.train.core`)."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Sequence

import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO
from tqdm.auto import tqdm

from pyrovae.base.errors import TrainingError
from pyrovae.config import TrainConfig
from pyrovae.infer.batches import Batches
from pyrovae.train import core
from pyrovae.train.core import TrainState
from pyrovae.train.distributed import SINGLE, World
from pyrovae.train.objective import Objective
from pyrovae.train.optim import beta_at


class Diverged(TrainingError):
    """The loss or a parameter became NaN or infinite.

    :attr epoch: the epoch in which it happened.
    :attr completed: the epochs completed before it (what the last checkpoint holds).
    """

    def __init__(self, epoch: int, completed: int, what: str):
        super().__init__(f"training diverged in epoch {epoch}: {what}.")
        self.epoch, self.completed = epoch, completed


@torch.no_grad()
def elbo_per_point(model, guide, valid: Batches, world: World = SINGLE,
                   loss: str = "trace_elbo", device=None) -> float:
    r"""Mean over data points of a one-sample ELBO estimate,
    :math:`\frac1N \sum_n \log p(x_n, z_n) - \log q(z_n \mid x_n)`, :math:`z_n \sim q(\cdot \mid x_n)`,
    over the batches of ``valid`` (moved to ``device`` when given); with several ranks, each
    estimates it on its share of the points and every rank gets the mean over all of them.
    With the training loss ``trace_enum_elbo`` the guide's enumerated sites are summed out
    (``TraceEnum_ELBO``), as in training."""
    # TraceEnum_ELBO.differentiable_loss refuses a loss that needs no gradient; its loss does not
    estimate = TraceEnum_ELBO().loss if loss == "trace_enum_elbo" else \
        Trace_ELBO().differentiable_loss
    if not valid.streamed:  # a streamed source trains in one process
        valid = world.share(valid)
    total, seen = 0.0, 0
    for batch in valid:
        batch = batch if device is None else batch.to(device)
        total += float(estimate(model, guide, *batch.args, **batch.kwargs))
        seen += batch.size
    total = float(world.all_sum(torch.tensor(total, dtype=torch.float64)))
    seen = int(world.all_sum(torch.tensor(seen)))
    return -total / seen


def _nonfinite(params: dict[str, torch.Tensor]) -> list[str]:
    return [name for name, p in params.items() if not torch.isfinite(p).all()]


def fit(
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    schedule,
    train: Batches,
    valid: Batches | None,
    t: TrainConfig,
    params: dict[str, torch.Tensor],
    *,
    state: TrainState | None = None,
    callbacks: Sequence[Callable[[TrainState, bool], bool | None]] = (),
    dynamic_binarize: bool = False,
    quiet: bool = False,
    device: torch.device | None = None,
    world: World = SINGLE,
    seed: int = 0,
) -> TrainState:
    """Train by stochastic gradient steps on ``objective`` until ``t.epochs`` or early stopping.

    Each epoch visits the training data in a fresh random order, in minibatches whose loss is
    scaled by ``N / batch size`` to estimate the full-data objective (a step is
    :func:`pyrovae.train.core.step`); then it computes the valid
    ELBO per data point, steps the learning-rate schedule, updates the best epoch and early
    stopping, and calls every one of ``callbacks`` as ``callback(state, improved)``
    (``improved``: the valid ELBO is the best so far; :mod:`pyrovae.train.callbacks`
    checkpoints, keeps the best values, prints the epoch's line); one returning True stops
    training after the epoch.

    :param train: the training data (:mod:`pyrovae.infer.batches`): tensors in memory, taken
        in a fresh random order each epoch in batches of ``t.batch_size``, or a ``DataLoader``
        streamed in its own order and batches.
    :param valid: the validation data, likewise (in memory: in batches of
        ``t.eval_batch_size``); None computes no valid ELBO (NaN in the
        history) and counts every epoch as the best so far.
    :param params: what ``optimizer`` trains, by name (checked for NaN after each epoch).
    :param state: where to continue from (a resumed run); a fresh start when None.
    :param dynamic_binarize: replace each training batch ``x`` by a Bernoulli draw ``x' ~ B(x)``.
    :param device: where the model lives; batches move there (a no-op when the data live there).
    :param world: the processes training together (:mod:`pyrovae.train.distributed`): with
        several, each takes its share of every global batch of ``t.batch_size`` points of a
        permutation seeded by ``seed`` and the epoch, ``objective`` runs in
        ``DistributedDataParallel``, and rank 0's decisions are every rank's.
    :raises Diverged: the loss or a parameter became NaN or infinite; the epoch is not saved.
    """
    device = device or (torch.device("cpu") if train.streamed else train.x.device)
    trainer, state = core.init(objective, optimizer, schedule, t, params, train.num_data, device,
                               world=world, state=state)
    n = train.num_data
    while state.epoch < t.epochs and not state.stopped_early:
        epoch = state.epoch + 1
        start_time = time.perf_counter()
        objective.train()
        if hasattr(objective.elbo, "reverify"):
            objective.elbo.reverify()
        batches, steps_per_epoch = _epoch_order(train, t, seed, epoch, world)
        # disable=None: no bar where stderr is not a terminal (a log file would fill with bars)
        bar = tqdm(batches, desc=f"epoch {epoch}/{t.epochs}", total=steps_per_epoch,
                   disable=True if quiet or not world.main else None, leave=False, unit="batch")
        total, steps = torch.zeros((), device=device), 0
        try:
            for i, (batch, points) in enumerate(bar):
                args = batch.to(device).args
                if dynamic_binarize:
                    args = (torch.bernoulli(args[0]), *args[1:])
                state, loss = core.step(trainer, state, args, points, steps_per_epoch)
                total, steps = total + loss, steps + 1
                if not quiet and i % 25 == 0:
                    bar.set_postfix(loss=f"{float(loss) / n:.3f}")
        except ValueError as e:
            diverged = _diverged(e, params, epoch, state.epoch)
            if diverged is None:
                raise
            raise diverged from None
        finally:
            bar.close()
        train_value = -float(world.all_sum(total)) / world.size / max(steps, 1) / n
        if not math.isfinite(train_value) or _nonfinite(params):
            raise Diverged(epoch, state.epoch, "the loss or a parameter became NaN/Inf")
        objective.eval()
        valid_elbo = math.nan if valid is None else \
            elbo_per_point(objective.model, objective.guide, valid, world, t.loss, device)
        valid_elbo = world.from_main(valid_elbo)  # every rank decides alike
        lr = optimizer.param_groups[0]["lr"]
        schedule.step()
        state, improved = core.end_epoch(trainer, state, {
            "epoch": epoch,
            "objective": trainer.column,
            "train_objective": train_value,
            "valid_elbo": valid_elbo,
            "beta": beta_at(t, state.global_step / steps_per_epoch),
            "lr": lr,
            "seconds": time.perf_counter() - start_time,
        }, valid is not None)
        if any([callback(state, improved) is True for callback in callbacks]):  # all of them
            state = dataclasses.replace(state, stopped_early=True)
    return state


def _epoch_order(train: Batches, t: TrainConfig, seed: int, epoch: int, world: World):
    """``(batches, steps)``: the epoch's ``(batch, size of its global batch)`` pairs, and how
    many there are."""
    if train.streamed:
        return ((batch, batch.size) for batch in train), len(train)
    order = world.epoch_batches(train.num_data, t.batch_size, seed, epoch, train.x.device)
    return ((train.take(index), points) for index, points in order), len(order)


def _diverged(error: ValueError, params: dict[str, torch.Tensor], epoch: int,
              completed: int) -> Diverged | None:
    """:class:`Diverged` when a ``ValueError`` in a step comes from a NaN: a parameter is
    NaN/Inf or the message says NaN (Pyro's argument validation is where a NaN usually surfaces
    first); None for any other error."""
    bad = _nonfinite(params)
    if not bad and "nan" not in str(error).lower():
        return None
    what = f"parameters {', '.join(bad[:3])} became NaN/Inf" if bad else "a NaN appeared"
    return Diverged(epoch, completed, f"{what} ({str(error).splitlines()[0][:160]})")
