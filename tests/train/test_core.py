"""The trainer core: step and end_epoch take a state and give a new one (the given one left as
it was); a step is the objective's scaled loss and one optimizer step on it; end_epoch's best
epoch, patience and warm-up freeze; the epoch driver and the core give the same numbers."""

import math

import pyro
import pytest
import torch
from test_callbacks import Pair

from pyrovae import config
from pyrovae.train import core
from pyrovae.train.core import TrainState
from pyrovae.train.objective import Objective
from pyrovae.train.optim import make_optimizer, make_schedule


def _trainer(**train):
    torch.manual_seed(0)
    pair = Pair()
    t = config.from_dict({"train": {"epochs": 5, "batch_size": 10, "lr": 1e-2, **train}}).train
    objective = Objective(pair.model, pair.guide, pyro.infer.Trace_ELBO())
    params = dict(pair.named_parameters())
    optimizer = make_optimizer(params.values(), t)
    return core.init(objective, optimizer, make_schedule(optimizer, t), t, params, 40,
                     torch.device("cpu"))


def test_a_step_is_the_scaled_loss_and_one_adam_step_and_leaves_the_given_state_alone():
    trainer, state = _trainer()
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    before = {k: v.detach().clone() for k, v in trainer.params.items()}
    pyro.set_rng_seed(3)
    expected = trainer.objective(x, scale=4.0)  # N / batch = 40 / 10
    expected.backward()
    grads = {k: v.grad.clone() for k, v in trainer.params.items()}
    for p in trainer.params.values():
        p.grad = None
    pyro.set_rng_seed(3)
    new, loss = core.step(trainer, state, (x,), 10, steps_per_epoch=4)
    assert state == TrainState() and new.global_step == 1 and new.epoch == 0
    assert torch.equal(loss, expected.detach())
    for k, p in trainer.params.items():  # Adam's first step: lr * g / (|g| + eps)
        step = 1e-2 * grads[k] / (grads[k].abs() + 1e-8)
        torch.testing.assert_close(before[k] - p.detach(), step, rtol=1e-4, atol=1e-7)


def _epochs(trainer, elbos):
    state, seen = TrainState(), []
    for epoch, elbo in enumerate(elbos, 1):
        given = state
        state, improved = core.end_epoch(trainer, state, {"epoch": epoch, "valid_elbo": elbo},
                                         has_valid=True)
        assert given.epoch == epoch - 1 and len(given.history) == epoch - 1
        seen.append((improved, state.best_epoch, state.bad_epochs, state.stopped_early))
    return state, seen


def test_end_epoch_keeps_the_best_epoch_and_stops_after_patience_epochs_without_one():
    trainer, _ = _trainer(patience=2)
    state, seen = _epochs(trainer, [-5.0, -4.0, -4.5, -4.0, -3.0])
    assert seen[:4] == [(True, 1, 0, False), (True, 2, 0, False), (False, 2, 1, False),
                        (False, 2, 2, True)]  # equal is not better
    assert state.best_valid_elbo == -3.0 and [r["epoch"] for r in state.history] == [1, 2, 3, 4, 5]


def test_the_kl_warm_up_freezes_patience_when_asked():
    trainer, _ = _trainer(patience=1, kl_warmup_epochs=2, warmup_freezes_patience=True)
    _, seen = _epochs(trainer, [-5.0, -6.0, -7.0])
    assert [s[2:] for s in seen] == [(0, False), (0, False), (1, True)]


def test_without_validation_every_epoch_is_the_best():
    trainer, _ = _trainer(patience=1)
    state = TrainState()
    for epoch in (1, 2):
        state, improved = core.end_epoch(trainer, state, {"epoch": epoch, "valid_elbo": math.nan},
                                         has_valid=False)
        assert improved
    assert state.best_epoch == 2 and not state.stopped_early


def test_a_state_is_frozen_and_takes_a_checkpoints_list_history():
    state = TrainState(**{"epoch": 1, "history": [{"epoch": 1}]})
    assert state.history == ({"epoch": 1},)
    with pytest.raises(AttributeError):
        state.epoch = 2
