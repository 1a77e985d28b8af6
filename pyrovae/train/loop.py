"""The one training loop for every model/guide pair."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO
from tqdm.auto import tqdm

from pyrovae.config import TrainConfig
from pyrovae.errors import TrainingError
from pyrovae.train import distributed
from pyrovae.train.distributed import SINGLE, World
from pyrovae.train.objective import Objective, objective_name
from pyrovae.train.optim import beta_at
from pyrovae.train.step import sgd_step


class Diverged(TrainingError):
    """The loss or a parameter became NaN or infinite.

    :attr epoch: the epoch in which it happened.
    :attr completed: the epochs completed before it (what the last checkpoint holds).
    """

    def __init__(self, epoch: int, completed: int, what: str):
        super().__init__(f"training diverged in epoch {epoch}: {what}.")
        self.epoch, self.completed = epoch, completed


@dataclass
class TrainState:
    """Where training stands after ``epoch`` completed epochs."""

    epoch: int = 0
    global_step: int = 0
    history: list[dict] = field(default_factory=list)
    best_valid_elbo: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False


@torch.no_grad()
def elbo_per_point(model, guide, tensors: tuple[torch.Tensor, ...], batch_size: int,
                   world: World = SINGLE, loss: str = "trace_elbo") -> float:
    r"""Mean over data points of a one-sample ELBO estimate,
    :math:`\frac1N \sum_n \log p(x_n, z_n) - \log q(z_n \mid x_n)`, :math:`z_n \sim q(\cdot \mid x_n)`;
    with several ranks, each estimates it on its share of the points and every rank gets the
    mean over all of them. With the training loss ``trace_enum_elbo`` the guide's enumerated
    sites are summed out (``TraceEnum_ELBO``), as in training."""
    # TraceEnum_ELBO.differentiable_loss refuses a loss that needs no gradient; its loss does not
    estimate = TraceEnum_ELBO().loss if loss == "trace_enum_elbo" else \
        Trace_ELBO().differentiable_loss
    n = tensors[0].shape[0]
    if world.active:
        tensors = tuple(distributed.shard(t, world) for t in tensors)
    total = 0.0
    for start in range(0, tensors[0].shape[0], batch_size):
        batch = tuple(t[start:start + batch_size] for t in tensors)
        total += float(estimate(model, guide, *batch))
    if world.active:
        total = float(distributed.all_sum(torch.tensor(total, dtype=torch.float64), world))
    return -total / n


def _batches(n: int, batch_size: int, device) -> list[torch.Tensor]:
    return torch.randperm(n, device=device).split(batch_size)


def _nonfinite(params: dict[str, torch.Tensor]) -> list[str]:
    return [name for name, p in params.items() if not torch.isfinite(p).all()]


def fit(
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    schedule,
    train: tuple[torch.Tensor, ...],
    valid: tuple[torch.Tensor, ...] | None,
    t: TrainConfig,
    params: dict[str, torch.Tensor],
    *,
    state: TrainState | None = None,
    on_epoch_end: Callable[[TrainState, bool], None] = lambda state, improved: None,
    dynamic_binarize: bool = False,
    quiet: bool = False,
    device: torch.device | None = None,
    world: World = SINGLE,
    seed: int = 0,
) -> TrainState:
    """Train by stochastic gradient steps on ``objective`` until ``t.epochs`` or early stopping.

    Each epoch visits the training data in a fresh random order, in minibatches whose loss is
    scaled by ``N / batch size`` to estimate the full-data objective; then it computes the valid
    ELBO per data point, steps the learning-rate schedule, and calls ``on_epoch_end(state,
    improved)`` (``improved``: the valid ELBO is the best so far), where the caller checkpoints.

    :param train: training tensors, data first (then e.g. labels), each with N rows.
    :param valid: validation tensors, same layout; None computes no valid ELBO (NaN in the
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
    state = state or TrainState()
    device = device or train[0].device
    n = train[0].shape[0]
    steps_per_epoch = math.ceil(n / t.batch_size)
    runner = distributed.wrap(objective, world, device)
    column = objective_name(t.loss, t.num_particles, t.beta)
    clip_norm = t.clip_norm if t.optimizer == "adam" else 0.0  # ClippedAdam clips by itself
    while state.epoch < t.epochs and not state.stopped_early:
        epoch = state.epoch + 1
        start_time = time.perf_counter()
        objective.train()
        if hasattr(objective.elbo, "reverify"):
            objective.elbo.reverify()
        total = torch.zeros((), device=device)
        if world.active:
            batches = distributed.global_batches(n, t.batch_size, seed, epoch, world)
            steps_per_epoch = len(batches)
        else:
            batches = _batches(n, t.batch_size, train[0].device)
        # disable=None: no bar where stderr is not a terminal (a log file would fill with bars)
        bar = tqdm(batches, desc=f"epoch {epoch}/{t.epochs}",
                   disable=True if quiet or not world.main else None, leave=False, unit="batch")
        try:
            for i, idx in enumerate(bar):
                scale = n * world.size / len(idx)
                if world.active:
                    idx = distributed.shard(idx, world).to(train[0].device)
                batch = tuple(x[idx].to(device, non_blocking=True) for x in train)
                if dynamic_binarize:
                    batch = (torch.bernoulli(batch[0]), *batch[1:])
                beta = beta_at(t, state.global_step / steps_per_epoch)
                loss = sgd_step(runner, optimizer, batch, scale=scale, beta=beta,
                                clip_norm=clip_norm)
                total += loss
                state.global_step += 1
                if not quiet and i % 25 == 0:
                    bar.set_postfix(loss=f"{float(loss) / n:.3f}")
        except ValueError as e:
            # Pyro's argument validation is where a NaN usually surfaces first.
            bad = _nonfinite(params)
            if not bad and "nan" not in str(e).lower():
                raise
            what = f"parameters {', '.join(bad[:3])} became NaN/Inf" if bad else "a NaN appeared"
            raise Diverged(epoch, state.epoch, f"{what} ({str(e).splitlines()[0][:160]})") from None
        finally:
            bar.close()
        train_value = -float(distributed.all_sum(total, world)) / world.size / steps_per_epoch / n
        if not math.isfinite(train_value) or _nonfinite(params):
            raise Diverged(epoch, state.epoch, "the loss or a parameter became NaN/Inf")
        objective.eval()
        valid_elbo = math.nan if valid is None else \
            elbo_per_point(objective.model, objective.guide, valid, t.eval_batch_size, world,
                           t.loss)
        valid_elbo = distributed.from_main(valid_elbo, world)  # every rank decides alike
        lr = optimizer.param_groups[0]["lr"]
        schedule.step()
        state.epoch = epoch
        improved = valid is None or valid_elbo > state.best_valid_elbo
        if improved:
            state.best_valid_elbo, state.best_epoch, state.bad_epochs = valid_elbo, epoch, 0
        elif not (t.warmup_freezes_patience and epoch <= t.kl_warmup_epochs):
            state.bad_epochs += 1
        state.stopped_early = t.patience > 0 and state.bad_epochs >= t.patience
        state.history.append({
            "epoch": epoch,
            "objective": column,
            "train_objective": train_value,
            "valid_elbo": valid_elbo,
            "beta": beta_at(t, state.global_step / steps_per_epoch),
            "lr": lr,
            "seconds": time.perf_counter() - start_time,
        })
        on_epoch_end(state, improved)
        if not quiet and world.main:
            tqdm.write(f"epoch {epoch}/{t.epochs}  train {column} {train_value:.3f}  "
                       f"valid elbo {valid_elbo:.3f}  ({state.history[-1]['seconds']:.1f}s)")
    return state

