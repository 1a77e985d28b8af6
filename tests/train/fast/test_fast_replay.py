"""Recording a call's tensor operations and replaying them: the same values, gradients and
random draws; constants precomputed; data-dependent programs refused; no_grad blocks kept."""

import pyro
import pytest
import torch
from fast_toys import binary, two_layer_pair, vae_pair

from pyrovae.train.fast.lean import lean_elbo_loss
from pyrovae.train.fast.replay import NotReplayable, record


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


def test_operations_under_no_grad_are_replayed_under_no_grad():
    w = torch.ones(3, requires_grad=True)

    def fn(x):
        with torch.no_grad():
            s = (w * x).sum()
        return (w * x).sum() * s

    _, program = record(fn, torch.ones(3))
    assert "with _grad_mode(False)" in program.source
    x = torch.arange(3.0)
    (g,) = torch.autograd.grad(program(x), w)
    (expected,) = torch.autograd.grad(fn(x), w)
    assert torch.equal(g, expected)
