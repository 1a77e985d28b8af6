import pytest
import pyro.distributions as dist
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pyrovae.distributions import (
    IndependentBernoulli,
    IndependentNormal,
    independent_bernoulli,
    independent_normal,
)


def test_independent_bernoulli_equals_pyros_bit_for_bit():
    logits = torch.randn(4, 3, 1, 5, 5) * 3
    x = torch.bernoulli(torch.full((3, 1, 5, 5), 0.4))  # broadcasts over the leading dim
    ours, pyros = independent_bernoulli(logits, 3), dist.Bernoulli(logits=logits).to_event(3)
    assert ours.batch_shape == pyros.batch_shape == (4, 3)
    assert ours.event_shape == pyros.event_shape == (1, 5, 5)
    assert torch.equal(ours.log_prob(x), pyros.log_prob(x))
    expanded = ours.expand((2, 4, 3))  # what a Pyro plate does to a site's distribution
    assert isinstance(expanded, IndependentBernoulli)
    assert torch.equal(expanded.log_prob(x), pyros.expand((2, 4, 3)).log_prob(x))
    assert ours.sample().shape == (4, 3, 1, 5, 5) and torch.equal(ours.mean, pyros.mean)


def test_independent_bernoulli_validates_values_when_asked():
    d = IndependentBernoulli(dist.Bernoulli(logits=torch.zeros(2, 3)), 1, validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.full((2, 3), 0.5))


@pytest.mark.parametrize(
    "loc_shape, scale, expand_to",
    [
        ((3, 4), "full", None),
        ((3, 4), "full", (5, 3)),  # a particle plate expands the batch
        ((3, 4), 2.5, (5, 3)),  # a number: one scale for every value
        ((4,), "full", (6,)),  # a learned prior expanded over data points
        ((2, 3, 1, 5, 5), "full", None),  # image events, three event dims
    ],
)
def test_independent_normal_matches_pyros_normal(loc_shape, scale, expand_to):
    torch.manual_seed(0)
    event_dim = 3 if len(loc_shape) == 5 else 1
    loc = torch.randn(loc_shape, dtype=torch.float64, requires_grad=True)
    raw = torch.randn(loc_shape, dtype=torch.float64, requires_grad=True)
    s = torch.nn.functional.softplus(raw) if scale == "full" else scale
    ours, pyros = independent_normal(loc, s, event_dim), dist.Normal(loc, s).to_event(event_dim)
    if expand_to is not None:
        ours, pyros = ours.expand(expand_to), pyros.expand(expand_to)
        assert isinstance(ours, IndependentNormal)
    assert (ours.batch_shape, ours.event_shape) == (pyros.batch_shape, pyros.event_shape)
    value = pyros.sample((2,))  # a sample dim in front of the batch
    got, want = ours.log_prob(value), pyros.log_prob(value)
    assert got.shape == want.shape == (2, *pyros.batch_shape)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    wrt = (loc, raw) if scale == "full" else (loc,)
    grads = torch.autograd.grad(got.sum(), wrt, retain_graph=True)
    want_grads = torch.autograd.grad(want.sum(), wrt)
    for g, w in zip(grads, want_grads):
        assert torch.allclose(g, w, rtol=1e-12, atol=1e-12)


def test_independent_normal_takes_one_log_per_distinct_scale():
    torch.manual_seed(0)
    scale = torch.rand(3, 4) + 0.5
    d = independent_normal(torch.zeros(3, 4), scale, 1).expand((1000, 3))
    logs = []

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten.log.default:
                logs.append(args[0].numel())
            return func(*args, **(kwargs or {}))

    with Count():
        d.log_prob(torch.zeros(1000, 3, 4))
    assert logs == [12]


def test_independent_normal_validates_when_asked():
    with pytest.raises(ValueError, match="scale"):
        IndependentNormal(dist.Normal(torch.zeros(2), -torch.ones(2), validate_args=True), 1)
