import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from pyro.nn import PyroModule

from pyrovae.data import DataInfo
from pyrovae.registry import get_guide, get_model
from pyrovae.train import fast
from pyrovae.train.fast.lean import LeanTraceELBO
from pyrovae.train.objective import Objective, make_elbo


def vae_pair():
    info = DataInfo((1, 28, 28), binary=True)
    model = get_model("vae").factory(info, latent_dim=4, hidden=[16])
    guide = get_guide("mlp_normal").factory(model, info, hidden=[16])
    return model, guide


def loss_and_grads(objective, x, **kw):
    objective.zero_grad()
    pyro.set_rng_seed(7)
    loss = objective(x, **kw)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in objective.parameters()]


@pytest.mark.parametrize("kw", [{}, {"scale": 50.0, "beta": 0.3}])
def test_lean_elbo_equals_trace_elbo_loss_and_gradients(kw):
    model, guide = vae_pair()
    x = torch.bernoulli(torch.full((9, 1, 28, 28), 0.3))
    lean = LeanTraceELBO()
    objective = Objective(model, guide, lean)
    objective(x)  # first call: structure check on Pyro's path
    assert lean._mode == "lean"
    reference = Objective(model, guide, Trace_ELBO())
    loss, grads = loss_and_grads(objective, x, **kw)
    ref_loss, ref_grads = loss_and_grads(reference, x, **kw)
    assert torch.allclose(loss, ref_loss, rtol=1e-6)
    for g, r in zip(grads, ref_grads):  # the same sums in another order: float32 rounding only
        assert (g - r).norm() <= 1e-5 * r.norm()


class Discrete(PyroModule):
    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Bernoulli(0.5 * torch.ones(x.shape[0])))
            pyro.sample("x", dist.Normal(c, 1.0), obs=x)


class DiscreteGuide(PyroModule):
    def __init__(self):
        super().__init__()
        self.logit = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Bernoulli(logits=self.logit.expand(x.shape[0])))


def test_falls_back_with_a_notice_for_non_reparameterized_guides():
    lean = LeanTraceELBO()
    x = torch.randn(5)
    with pytest.warns(UserWarning, match="using Pyro's Trace_ELBO.*'c' is not reparameterized"):
        first = lean.differentiable_loss(Discrete(), DiscreteGuide(), x)
    assert lean._mode == "pyro" and torch.isfinite(first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lean.differentiable_loss(Discrete(), DiscreteGuide(), x)  # no second notice


def test_a_guide_that_observes_a_site_is_named_as_such_in_the_notice():
    """scANVI's guide adds its classifier loss with pyro.factor: an observed site, not a latent."""

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            pyro.factor("classification_loss", -x.abs(), has_rsample=False)

    def model(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            pyro.sample("x", dist.Normal(c, 1.0), obs=x)

    with pytest.warns(UserWarning, match="the guide observes site 'classification_loss' "
                                         r"\(a pyro.factor or an observed sample\)"):
        LeanTraceELBO().differentiable_loss(model, guide, torch.randn(4))


def test_make_elbo_takes_the_fast_path_for_one_particle_only():
    one = make_elbo("trace_elbo", 1)
    assert isinstance(one, LeanTraceELBO) and one.replay
    assert not make_elbo("trace_elbo", 1, replay=False).replay
    assert not fast.trace_elbo(replay=False).replay
    assert type(make_elbo("trace_elbo", 2)) is Trace_ELBO
