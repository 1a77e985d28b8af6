import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO
from pyro.nn import PyroModule

from pyrovae.config import TrainConfig
from pyrovae.train.objective import (
    DifferentiableRenyiELBO,
    Objective,
    make_elbo,
    scale_latents,
)
from pyrovae.train.optim import beta_at


class Gauss(PyroModule):
    """z ~ N(0, 1), x | z ~ N(z, 1): p(x) = N(0, 2)."""

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)


class Guide(PyroModule):
    def __init__(self, loc=0.0, scale=1.0):
        super().__init__()
        self.loc = torch.nn.Parameter(torch.tensor(loc))
        self.scale = scale

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.loc + 0 * x, self.scale))


def test_iwae_with_one_particle_equals_elbo():
    x = torch.randn(7)
    model, guide = Gauss(), Guide(0.3, 0.8)
    pyro.set_rng_seed(1)
    elbo = Trace_ELBO().differentiable_loss(model, guide, x)
    pyro.set_rng_seed(1)
    iwae = DifferentiableRenyiELBO(alpha=0.0, num_particles=1).differentiable_loss(model, guide, x)
    assert torch.allclose(elbo, iwae, atol=1e-6)


def test_iwae_is_per_datapoint_and_tightens_with_k():
    """With the exact posterior q(z|x) = N(x/2, 1/2) every weight equals p(x): exact bounds."""
    x = torch.randn(5)

    class Exact(PyroModule):
        def forward(self, x):
            with pyro.plate("data", x.shape[0]):
                pyro.sample("z", dist.Normal(x / 2, math.sqrt(0.5)))

    exact = -dist.Normal(0.0, math.sqrt(2.0)).log_prob(x).sum()
    loss = make_elbo("iwae", 50).differentiable_loss(Gauss(), Exact(), x)
    assert torch.allclose(loss, exact, atol=1e-4)
    # A poor guide, q = N(0, 1): its K = 1 loss exceeds -log p(x) by KL(q || p(z|x)) in
    # expectation (known exactly), and K = 10 is tighter by far more than the noise of 200
    # repeats (a gap near K = 500 would be below it), yet not below -log p(x).
    draws = {k: torch.stack([make_elbo("iwae", k).differentiable_loss(Gauss(), Guide(), x).detach()
                             for _ in range(200)]).double() for k in (1, 10)}
    mean = {k: float(d.mean()) for k, d in draws.items()}
    stderr = {k: float(d.std() / math.sqrt(len(d))) for k, d in draws.items()}
    kl = torch.distributions.kl_divergence(dist.Normal(0.0, 1.0),
                                           dist.Normal(x / 2, math.sqrt(0.5))).sum()
    assert abs(mean[1] - float(exact + kl)) < 4 * stderr[1]
    assert mean[1] - mean[10] > 4 * math.hypot(stderr[1], stderr[10])
    assert mean[10] > float(exact) - 4 * stderr[10]


def test_beta_scales_only_latent_sites():
    x = torch.randn(4)
    model, guide = Gauss(), Guide(0.1, 0.9)
    guide_trace = poutine.trace(guide).get_trace(x)
    with scale_latents(0.0):
        scaled = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    scaled.compute_log_prob()
    assert scaled.nodes["z"]["log_prob"].abs().sum() == 0
    assert scaled.nodes["x"]["log_prob"].abs().sum() > 0
    # beta = 0 leaves only the reconstruction term E_q[log p(x|z)]
    pyro.set_rng_seed(2)
    loss = Objective(model, guide, Trace_ELBO())(x, beta=0.0)
    pyro.set_rng_seed(2)
    z = guide.loc + 0.9 * torch.randn(4)
    assert torch.allclose(loss, -dist.Normal(z, 1.0).log_prob(x).sum(), atol=1e-5)


def test_objective_scale_multiplies_loss():
    x = torch.randn(3)
    objective = Objective(Gauss(), Guide(), Trace_ELBO())
    pyro.set_rng_seed(3)
    a = objective(x)
    pyro.set_rng_seed(3)
    b = objective(x, scale=10.0)
    assert torch.allclose(10 * a, b)


def test_kl_warmup_schedule():
    t = TrainConfig(beta=2.0, kl_warmup_epochs=4)
    assert [beta_at(t, e) for e in (0, 1, 4, 9)] == [0.0, 0.5, 2.0, 2.0]
    assert beta_at(TrainConfig(beta=0.5), 0) == 0.5
