import pyro
import pytest
import pyro.distributions as dist
import torch

from pyrovae.distributions import IndependentBernoulli, independent_bernoulli


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
