"""Several particles, proven on every zoo model: the vectorized K-particle objective's loss and
gradient are the means of K single-particle ones on the same random draws, the IWAE bound with
K = 1 is the ELBO, and the lean one-particle ELBO (with its replay) is Pyro's ``Trace_ELBO``.

The zoo configs name real data; the models are built for a small sprites set (binary 28x28 with
labels), which every zoo model accepts.
"""

import warnings
from pathlib import Path

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO
from torch.utils._python_dispatch import TorchDispatchMode

import pyrovae
from pyrovae import config, run
from pyrovae.train.objective import DifferentiableRenyiELBO, Objective, make_elbo

ZOO = sorted((Path(__file__).resolve().parents[2] / "configs" / "zoo").glob("*.toml"))
TINY = ["data.name=sprites", "data.num_train=16", "data.num_valid=8", "data.num_test=8"]
K = 3


class Draws(TorchDispatchMode):
    """Records the output of every random operation (``served=None``), or makes the ``i``-th
    random operation return slice ``particle`` of the ``i``-th recorded output along its
    particle dim (the one dim of size K whose removal leaves the requested shape): a
    one-particle run then draws exactly what particle ``particle`` of a vectorized run drew."""

    def __init__(self, served: list | None = None, particle: int = 0):
        super().__init__()
        self.recorded, self.served, self.particle = [], served, particle

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if torch.Tag.nondeterministic_seeded not in func.tags:
            return out
        if self.served is None:
            self.recorded.append(out.clone())
        else:
            drawn = self.served[len(self.recorded)]
            dims = [d for d in range(drawn.dim()) if drawn.shape[d] == K
                    and drawn.shape[:d] + drawn.shape[d + 1:] == out.shape]
            assert len(dims) == 1, (func, drawn.shape, out.shape)
            self.recorded.append(drawn.select(dims[0], self.particle))
            out.copy_(self.recorded[-1])  # in place: a random op such as normal_ fills its argument
        return out


def built(path):
    raw = config.read_toml(path, "zoo config", "configs/zoo/vae_bernoulli.toml")
    overrides = TINY + (["data.num_labelled=8"] if "num_labelled" in raw["data"] else [])
    cfg = config.load(path, overrides)
    pyro.set_rng_seed(0)
    b = run.build(cfg, device="cpu")
    return b, tuple(t[:6] for t in b.tensors("train")), cfg.train.loss


def loss_and_grads(objective, batch):
    params = [p for p in objective.parameters() if p.requires_grad]
    loss = objective(*batch, scale=1.0)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def assert_close(a, b, what):
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max().clamp(min=1.0))), what


def elbo_of(loss: str, num_particles: int):
    """The Pyro ELBO ``train.loss`` names, without pyrovae's one-particle fast path."""
    if loss == "trace_elbo":
        return Trace_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1)
    return make_elbo(loss, num_particles)


@pytest.mark.parametrize("path, loss", [(p, loss) for p in ZOO for loss in ("own", "meanfield_elbo")
                                         if loss == "own" or p.stem != "m2"],
                         ids=lambda v: getattr(v, "stem", v))
def test_k_particle_gradient_is_the_mean_of_single_particle_gradients(path, loss):
    b, batch, own = built(path)
    loss = own if loss == "own" else loss
    many = Objective(b.model, b.guide, make_elbo(loss, K))
    one = Objective(b.model, b.guide, elbo_of(loss, 1))
    for objective in (many, one):  # Pyro guesses the plate nesting on a first call
        objective(*batch)
    with Draws() as draws:
        loss_k, grads_k = loss_and_grads(many, batch)
    assert draws.recorded
    singles = []
    for particle in range(K):
        with Draws(draws.recorded, particle) as served:
            singles.append(loss_and_grads(one, batch))
        assert len(served.recorded) == len(draws.recorded)
    assert_close(loss_k, torch.stack([s[0] for s in singles]).mean(), "loss")
    for i, g in enumerate(grads_k):
        assert_close(g, torch.stack([s[1][i] for s in singles]).mean(0), f"gradient {i}")


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_iwae_with_one_particle_is_the_elbo(path):
    b, batch, _ = built(path)
    iwae = Objective(b.model, b.guide, DifferentiableRenyiELBO(alpha=0.0, num_particles=1))
    if path.stem == "m2":  # the label is a discrete guide site: no reparameterized IWAE gradient
        with pytest.raises(NotImplementedError, match="reparameterized guide sites"):
            iwae(*batch)
        return
    elbo = Objective(b.model, b.guide, Trace_ELBO())
    pyro.set_rng_seed(1)
    loss, grads = loss_and_grads(iwae, batch)
    pyro.set_rng_seed(1)
    ref_loss, ref_grads = loss_and_grads(elbo, batch)
    assert_close(loss, ref_loss, "loss")
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        assert_close(g, r, f"gradient {i}")


@pytest.mark.parametrize("path", [p for p in ZOO if p.stem != "m2"], ids=lambda p: p.stem)
def test_the_one_particle_fast_path_is_trace_elbo(path, recwarn):
    b, batch, _ = built(path)
    lean = Objective(b.model, b.guide, make_elbo("trace_elbo", 1))
    reference = Objective(b.model, b.guide, Trace_ELBO())
    for seed in range(5):  # lean, then seen, recorded, compared and replayed
        pyro.set_rng_seed(seed)
        loss, grads = loss_and_grads(lean, batch)
        pyro.set_rng_seed(seed)
        ref_loss, ref_grads = loss_and_grads(reference, batch)
        assert_close(loss, ref_loss, f"loss, call {seed}")
        for i, (g, r) in enumerate(zip(grads, ref_grads)):
            assert_close(g, r, f"gradient {i}, call {seed}")
    notices = [w for w in recwarn if "not replaying" in str(w.message)]
    assert (lean.elbo.replay and lean.elbo._replayer.programs) or len(notices) == 1


class MixingModel(torch.nn.Module):
    """x ~ Categorical(softmax(W z + b, dim)): with dim=1 written for z of shape [batch, 3], so
    that a particle plate would normalize over the data points."""

    def __init__(self, dim):
        super().__init__()
        self.linear, self.dim = torch.nn.Linear(3, 5), dim

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", pyro.distributions.Normal(torch.zeros(x.shape[0], 3), 1.0)
                            .to_event(1))
            probs = torch.softmax(self.linear(z), dim=self.dim)
            pyro.sample("x", pyro.distributions.Categorical(probs=probs), obs=x)


class EmbeddingGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Embedding(5, 3)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", pyro.distributions.Normal(self.loc(x), 1.0).to_event(1))


@pytest.mark.parametrize("loss", ["iwae", "trace_elbo"])
def test_particles_that_a_layer_would_mix_train_one_at_a_time(loss):
    """K particles of a step are checked on the first batch; a program that mixes them under a
    particle plate trains them one at a time, with one line, and a program that does not keeps
    them vectorized, silently."""
    x = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    for dim, notices in ((1, 1), (-1, 0)):
        torch.manual_seed(0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pyrovae.fit(MixingModel(dim), EmbeddingGuide(), x, loss=loss, num_particles=4,
                        epochs=1, batch_size=8)
        lines = [str(w.message) for w in caught if "pyrovae:" in str(w.message)]
        assert len(lines) == notices
        if notices:
            assert lines[0].startswith("pyrovae: the 4 particles of each training step run one "
                                       "at a time: the vectorized layout's log weights differ")
