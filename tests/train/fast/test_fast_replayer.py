"""When a replay is trusted: compared with the Pyro program on the loss, every gradient and the
buffers written; dropped with a notice when they differ, re-checked on demand."""

import warnings

import pyro
import pytest
import torch
from fast_toys import (
    Branching,
    NormedGuide,
    Reading,
    ReadingGuide,
    Tempered,
    TemperedGuide,
    _node_hook,
    binary,
    vae_pair,
)
from pyro.infer import Trace_ELBO

from pyrovae.config import TrainConfig
from pyrovae.train.fast.lean import LeanTraceELBO, lean_elbo_loss
from pyrovae.train.fast.replay import record
from pyrovae.train.fast.replayer import differs, reference
from pyrovae.train.objective import Objective
from pyrovae.train.optim import make_optimizer
from pyrovae.train.step import sgd_step


def train_losses(elbo, steps=6, batch=8):
    pyro.set_rng_seed(0)
    model, guide = vae_pair()
    objective = Objective(model, guide, elbo)
    optimizer = make_optimizer(objective.parameters(), TrainConfig(lr=1e-2))
    data = binary(64)
    losses = [sgd_step(objective, optimizer, (data[i * batch:(i + 1) * batch],), scale=8.0)
              for i in range(steps)]
    return torch.stack(losses), [p.detach().clone() for p in objective.parameters()]


def test_training_with_replay_is_bit_identical_to_the_pyro_program():
    elbo = LeanTraceELBO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses, params = train_losses(elbo)
    assert elbo._replayer.programs
    ref_losses, ref_params = train_losses(LeanTraceELBO(replay=False))
    assert torch.equal(losses, ref_losses)
    assert all(torch.equal(a, b) for a, b in zip(params, ref_params))


def test_a_replay_that_differs_from_the_program_is_dropped_with_a_notice():
    model, guide, x = Tempered(), TemperedGuide(), torch.randn(5, 2)
    elbo = LeanTraceELBO()
    for _ in range(3):  # check, see, record
        elbo.differentiable_loss(model, guide, x)
    model.temperature = 3.0
    pyro.set_rng_seed(1)
    with pytest.warns(UserWarning, match="not replaying.*replay differed"):
        loss = elbo.differentiable_loss(model, guide, x)
    pyro.set_rng_seed(1)
    assert torch.equal(loss, lean_elbo_loss(model, guide, x))
    assert not elbo.replay


def test_data_dependent_models_run_the_pyro_program_with_the_same_draws():
    x = torch.randn(5, 2)

    def losses(elbo):
        pyro.set_rng_seed(0)
        model, guide = Branching(), TemperedGuide()
        return torch.stack([elbo.differentiable_loss(model, guide, x) for _ in range(4)])

    with pytest.warns(UserWarning, match="not replaying.*value to Python"):
        replayed = losses(LeanTraceELBO())
    assert torch.equal(replayed, losses(LeanTraceELBO(replay=False)))


def test_calls_under_an_outer_handler_are_not_recorded():
    model, guide = vae_pair()
    objective = Objective(model, guide, LeanTraceELBO())
    for _ in range(4):
        objective(binary(4), beta=0.5)
    assert objective.elbo._replayer._entries == {}


def test_reverify_catches_python_state_that_changed_after_the_check():
    model, guide, x = Tempered(), TemperedGuide(), torch.randn(5, 2)
    elbo = LeanTraceELBO()
    for _ in range(4):  # check, see, record, compare: now replaying
        elbo.differentiable_loss(model, guide, x)
    model.temperature = 3.0
    elbo.differentiable_loss(model, guide, x)  # a stale replay: what reverify is for
    elbo.reverify()
    with pytest.warns(UserWarning, match="replay differed"):
        elbo.differentiable_loss(model, guide, x)
    pyro.set_rng_seed(2)
    loss = elbo.differentiable_loss(model, guide, x)
    pyro.set_rng_seed(2)
    assert torch.equal(loss, lean_elbo_loss(model, guide, x))


def test_a_replay_with_equal_loss_but_another_gradient_is_caught():
    x = torch.randn(5, 6)
    hook = {"on": False}

    def read(z):
        return _node_hook(z) if hook["on"] else z * 1.0

    model, guide = Reading(read), ReadingGuide()

    def loss_of(x):
        with pyro.validation_enabled(False):
            return lean_elbo_loss(model, guide, x)

    _, program = record(loss_of, x)
    pyro.set_rng_seed(4)
    expected = reference(loss_of(x))
    pyro.set_rng_seed(4)
    assert differs(program(x), expected) is None
    model.decoder.weight.register_hook(lambda g: g)  # leaf hooks run in a replay too
    pyro.set_rng_seed(4)
    expected = reference(loss_of(x))
    pyro.set_rng_seed(4)
    assert differs(program(x), expected) is None
    hook["on"] = True  # the same forward operations, another backward pass
    pyro.set_rng_seed(4)
    expected = reference(loss_of(x))
    pyro.set_rng_seed(4)
    replayed = program(x)
    assert torch.equal(replayed, expected.value)
    assert "gradient of a parameter" in differs(replayed, expected)
    replayed.backward()  # the replay's graph stays usable


@pytest.mark.parametrize("replay", [True, False])
def test_each_step_writes_the_buffers_once_as_the_pyro_program_does(replay):
    def train(elbo):
        pyro.set_rng_seed(0)
        model, guide = Reading(torch.tanh), NormedGuide()
        objective = Objective(model, guide, elbo)
        optimizer = make_optimizer(objective.parameters(), TrainConfig(lr=0.05))
        data = torch.randn(64, 6)
        for i in range(8):
            sgd_step(objective, optimizer, (data[8 * i:8 * i + 8],), scale=8.0)
        return [t.detach().clone() for t in (*objective.parameters(), *objective.buffers())]

    elbo = LeanTraceELBO(replay=replay)
    tensors = train(elbo)
    assert elbo.replay == replay and bool(elbo._replayer.programs) == replay
    assert tensors[-1].item() == 8  # num_batches_tracked: one update per step, none per check
    reference = train(Trace_ELBO())
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(tensors, reference))
