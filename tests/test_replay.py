import re
import warnings

import pandas as pd
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from pyro.nn import PyroModule
from torch.utils.checkpoint import checkpoint

from pyrovae.config import TrainConfig
from pyrovae.data import DataInfo
from pyrovae.registry import get_guide, get_model
from pyrovae.train.fast.lean import LeanTraceELBO, lean_elbo_loss
from pyrovae.train.fast.replay import NotReplayable, differs, record, reference
from pyrovae.train.objective import Objective
from pyrovae.train.optim import make_optimizer
from pyrovae.train.step import sgd_step

INFO = DataInfo((1, 28, 28), binary=True)


def vae_pair():
    model = get_model("vae").factory(INFO, latent_dim=4, hidden=[16])
    return model, get_guide("mlp_normal").factory(model, INFO, hidden=[16])


def two_layer_pair():
    model = get_model("spec").factory(
        INFO,
        latents=[{"name": "z2", "dim": 3}, {"name": "z1", "dim": 5, "given": "z2", "hidden": [8]}],
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


class RoundStraightThrough(torch.autograd.Function):
    """Rounds in the forward pass, passes the gradient through unchanged (a VQ-style estimator)."""

    @staticmethod
    def forward(ctx, z):
        return torch.round(z)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _doubled_grad(z):
    h = z * 1.0
    if h.requires_grad:
        h.register_hook(lambda g: 2.0 * g)
    return h


def _node_hook(z):
    h = z * 1.0
    if h.grad_fn is not None:  # a hook on the autograd node itself: invisible from the tensors
        h.grad_fn.register_hook(lambda grad_in, _: tuple(None if g is None else 2 * g
                                                         for g in grad_in))
    return h


def _under_no_grad(z):
    with torch.no_grad():
        shift = z.mean() * 0.5  # no gradient flows through the shift
    return z - shift


READS = {
    "straight-through": RoundStraightThrough.apply,
    "tensor-hook": _doubled_grad,
    "node-hook": _node_hook,
    "checkpoint": lambda z: checkpoint(torch.tanh, z, use_reentrant=False),
    "checkpoint-reentrant": lambda z: checkpoint(torch.tanh, z, use_reentrant=True),
    "no-grad-block": _under_no_grad,
}


class Reading(torch.nn.Module):
    """z ~ N(0, I), x ~ N(W read(z) + b, I): the decoder reads the latent through ``read``."""

    def __init__(self, read):
        super().__init__()
        self.read = read
        self.decoder = torch.nn.Linear(3, 6)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(self.read(z)), 1.0).to_event(1), obs=x)


class ReadingGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(6, 6)

    def forward(self, x):
        loc, raw = self.encoder(x).split(3, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, torch.nn.functional.softplus(raw) + 0.1).to_event(1))


class RelaxedBits(torch.nn.Module):
    """Binary latents through Pyro's RelaxedBernoulliStraightThrough (a custom Function inside)."""

    def __init__(self):
        super().__init__()
        self.decoder = torch.nn.Linear(3, 6)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            half = x.new_full((x.shape[0], 3), 0.5)
            prior = dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=half)
            z = pyro.sample("z", prior.to_event(1))
            pyro.sample("x", dist.Normal(self.decoder(z), 1.0).to_event(1), obs=x)


class RelaxedBitsGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(6, 3)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            q = dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), logits=self.encoder(x))
            pyro.sample("z", q.to_event(1))


def _hooked(pair):
    def build():
        model, guide = pair()
        model.decoder.register_forward_hook(lambda module, inputs, output: output * 1.5)
        return model, guide
    return build


PAIRS = {
    **{name: (lambda read=read: (Reading(read), ReadingGuide())) for name, read in READS.items()},
    "relaxed-straight-through": lambda: (RelaxedBits(), RelaxedBitsGuide()),
    "module-forward-hook": _hooked(lambda: (Reading(torch.tanh), ReadingGuide())),
}
NOTICES = {  # what turns replay off for each pair (None: replay is exact and stays on)
    "straight-through": "custom torch.autograd.Function 'RoundStraightThrough'",
    "tensor-hook": "hook is registered on an intermediate tensor",
    "node-hook": "replay differed .*the gradient of a parameter",
    "checkpoint": "saved-tensor hooks",
    "checkpoint-reentrant": "custom torch.autograd.Function 'CheckpointFunction'",
    "no-grad-block": None,
    "relaxed-straight-through": "custom torch.autograd.Function 'QuantizeBernoulli'",
    "module-forward-hook": "module 'decoder' of Reading has a forward hook",
}


def _train(pair, elbo, steps=8):
    pyro.set_rng_seed(0)
    model, guide = pair()
    objective = Objective(model, guide, elbo)
    optimizer = make_optimizer(objective.parameters(), TrainConfig(lr=0.05))
    data = torch.randn(64, 6)
    losses = [sgd_step(objective, optimizer, (data[8 * (i % 8):8 * (i % 8) + 8],), scale=8.0)
              for i in range(steps)]
    return torch.stack(losses), [p.detach().clone() for p in objective.parameters()]


@pytest.mark.parametrize("name", PAIRS)
def test_training_with_replay_on_equals_replay_off_or_says_why_not(name, recwarn):
    elbo = LeanTraceELBO()
    losses, params = _train(PAIRS[name], elbo)
    ref_losses, ref_params = _train(PAIRS[name], LeanTraceELBO(replay=False))
    assert torch.equal(losses, ref_losses)
    assert all(torch.equal(a, b) for a, b in zip(params, ref_params))
    notices = [str(w.message) for w in recwarn if "not replaying" in str(w.message)]
    if NOTICES[name] is None:
        assert elbo.replay and elbo._replayer.programs and not notices
    else:
        assert not elbo.replay and len(notices) == 1
        assert re.search(NOTICES[name], notices[0]), notices[0]
        assert "\n" not in notices[0]


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


STRAIGHT_THROUGH_VAE = '''
import math
import pyro, pyro.distributions as dist, torch
from pyrovae.nn import mlp

class Round(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        return torch.round(z)

    @staticmethod
    def backward(ctx, grad):
        return grad

class QuantizedVAE(torch.nn.Module):
    """A VAE whose decoder reads z rounded to halves through a straight-through estimator."""
    def __init__(self, event_shape, latent_dim):
        super().__init__()
        self.event_shape, self.latent_dim = tuple(event_shape), latent_dim
        self.decoder = mlp([latent_dim, 32, math.prod(event_shape)], "tanh")

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0]):
            zeros = x.new_zeros(x.shape[0], self.latent_dim)
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            logits = self.decoder(Round.apply(2 * z) / 2).view(-1, *self.event_shape)
            pyro.sample("x", dist.Bernoulli(logits=logits).to_event(3), obs=x)

def build(data, latent_dim: int = 4):
    return QuantizedVAE(data.event_shape, latent_dim)
'''


def test_a_straight_through_vae_trains_the_same_with_and_without_replay(tmp_path):
    """The breach this guards against: replayed steps differentiated the rounding (gradient 0)
    instead of calling the estimator's backward, silently."""
    from pyrovae import config, run

    (tmp_path / "quantized.py").write_text(STRAIGHT_THROUGH_VAE)
    histories, notices = [], {}
    for replay in (True, False):
        cfg = config.from_dict({
            "data": {"name": "sprites", "num_train": 300, "num_valid": 50, "num_test": 10},
            "model": {"name": f"{tmp_path / 'quantized.py'}:build"},
            "guide": {"name": "mlp_normal", "hidden": [32]},
            "train": {"epochs": 2, "batch_size": 50, "replay": replay},
        })
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run.train(cfg, tmp_path / f"replay-{replay}", quiet=True)
        notices[replay] = [str(w.message) for w in caught if "not replaying" in str(w.message)]
        histories.append(pd.read_csv(tmp_path / f"replay-{replay}" / "history.csv"))
    assert notices[False] == [] and len(notices[True]) == 1
    assert "custom torch.autograd.Function 'Round'" in notices[True][0]
    cols = ["train_objective", "valid_elbo"]
    pd.testing.assert_frame_equal(histories[0][cols], histories[1][cols], check_exact=True)


class NormedGuide(ReadingGuide):
    """A guide whose encoder normalizes its batch: running statistics are written each step."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 6))


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
