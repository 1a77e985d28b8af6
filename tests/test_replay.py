import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule

from pyrovae.config import TrainConfig
from pyrovae.registry import DataInfo, get_guide, get_model
from pyrovae.train.fast_elbo import LeanTraceELBO, lean_elbo_loss
from pyrovae.train.objective import Objective
from pyrovae.train.optim import make_optimizer
from pyrovae.replay import NotReplayable, record
from pyrovae.train.step import sgd_step

INFO = DataInfo((1, 28, 28), binary=True)


def vae_pair():
    model = get_model("vae").factory(INFO, latent_dim=4, hidden=[16])
    return model, get_guide("mlp_normal").factory(model, INFO, hidden=[16])


def two_layer_pair():
    model = get_model("spec").factory(
        INFO, latents=[{"name": "z2", "dim": 3}, {"name": "z1", "dim": 5, "given": "z2", "hidden": [8]}],
        decoder={"kind": "mlp", "hidden": [16]}, likelihood="bernoulli")
    return model, get_guide("spec_encoder").factory(model, INFO, hidden=[16])


def binary(n):
    return torch.bernoulli(torch.full((n, 1, 28, 28), 0.3))


@pytest.mark.parametrize("pair", [vae_pair, two_layer_pair])
def test_replay_gives_the_same_loss_and_gradients_bit_for_bit(pair):
    model, guide = pair()
    params = [*model.parameters(), *guide.parameters()]
    with pyro.validation_enabled(False):
        _, program = record(lambda x: lean_elbo_loss(model, guide, x), binary(6))
        x = binary(6)  # new data of the recorded shape
        pyro.set_rng_seed(3)
        eager = lean_elbo_loss(model, guide, x)
        eager_grads = torch.autograd.grad(eager, params)
        pyro.set_rng_seed(3)
        replayed = program(x)
        replayed_grads = torch.autograd.grad(replayed, params)
    assert torch.equal(eager, replayed)
    assert all(torch.equal(a, b) for a, b in zip(eager_grads, replayed_grads))
    assert torch.equal(torch.rand(3), (pyro.set_rng_seed(3), lean_elbo_loss(model, guide, x),
                                       torch.rand(3))[2])  # the replay drew what the program draws


def test_constants_are_precomputed_but_in_place_writes_are_replayed():
    def scaled(x):
        two = torch.tensor(2.0)
        return x * two.exp().log()  # depends on constants only: precomputed once

    _, program = record(scaled, torch.ones(3))
    assert program.num_ops == 1
    assert torch.equal(program(torch.full((3,), 5.0)), torch.full((3,), 10.0))

    def accumulate(x):
        total = torch.zeros(())
        total.add_(x.sum())  # writes into a tensor built from constants: must not be precomputed
        return total * 1.0

    _, program = record(accumulate, torch.ones(3))
    assert program(torch.full((3,), 2.0)).item() == 6.0
    assert program(torch.full((3,), 2.0)).item() == 6.0


@pytest.mark.parametrize("fn", [lambda x: x * 2 if x.sum() > 0 else x, lambda x: x[x > 0].sum()],
                         ids=["python-branch", "boolean-index"])
def test_data_dependent_programs_are_refused(fn):
    with pytest.raises(NotReplayable):
        record(fn, torch.randn(4))


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


class Tempered(PyroModule):
    """Its likelihood reads a Python float: changing it changes the operations' constants."""

    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Parameter(torch.zeros(2))
        self.temperature = 1.0

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z + self.loc, self.temperature).to_event(1), obs=x)


class TemperedGuide(PyroModule):
    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x + self.loc, 0.5).to_event(1))


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


class Branching(Tempered):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow
            x = x * 1.0
        return super().forward(x)


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
