import pytest
import pyro.distributions as dist
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import pyrovae.base.distributions as pyrovae_dist
from pyrovae.base.distributions import (
    DiagonalNormalMixture,
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


def _mixture(components, dim, log_var_range, dtype=torch.float64, seed=0):
    """Logits, means and scales of a random mixture whose variances span ``log_var_range``."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = log_var_range
    logits = torch.randn(components, generator=g, dtype=dtype)
    locs = 3 * torch.randn(components, dim, generator=g, dtype=dtype)
    log_var = lo + (hi - lo) * torch.rand(components, dim, generator=g, dtype=dtype)
    return logits, locs, (0.5 * log_var).exp()


def _points(locs, scales, shape, seed=1):
    """Values of ``shape + [D]``: half drawn near the components (the cancelling case), half
    spread widely."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.Size(shape).numel())
    k = torch.randint(len(locs), (n,), generator=g)
    near = locs[k] + scales[k] * torch.randn(n, locs.shape[1], generator=g, dtype=locs.dtype)
    far = 5 * torch.randn(n, locs.shape[1], generator=g, dtype=locs.dtype)
    keep = torch.arange(n) % 2 == 0
    return torch.where(keep[:, None], near, far).reshape(*shape, locs.shape[1])


def _pyro_mixture(logits, locs, scales):
    return dist.MixtureSameFamily(dist.Categorical(logits=logits),
                                  dist.Normal(locs, scales).to_event(1))


LN10 = 2.302585092994046


@pytest.mark.parametrize("shape,components,dim", [
    ((5,), 1, 1), ((3, 4), 7, 3), ((2, 3, 5), 50, 40), ((400, 3), 300, 8),
])
@pytest.mark.parametrize("log_var_range", [(-1.0, 1.0), (-6 * LN10, 6 * LN10),
                                           (-6 * LN10, -6 * LN10), (6 * LN10, 6 * LN10)],
                         ids=["moderate", "1e-6_to_1e6", "all_1e-6", "all_1e6"])
def test_diagonal_normal_mixture_equals_pyros_mixture_in_value_and_gradient(
        shape, components, dim, log_var_range):
    # float64: the reformulation itself, with nothing lost to rounding
    logits, locs, scales = (t.requires_grad_() for t in _mixture(components, dim, log_var_range))
    z = _points(locs.detach(), scales.detach(), shape).requires_grad_()
    ours = DiagonalNormalMixture(logits, locs, scales).expand(shape[-1:]).log_prob(z)
    reference = _pyro_mixture(logits, locs, scales).expand(shape[-1:]).log_prob(z)
    assert ours.shape == reference.shape == shape
    torch.testing.assert_close(ours, reference, rtol=1e-8, atol=1e-8)
    weights = torch.randn(shape, dtype=torch.float64)
    grads = torch.autograd.grad((ours * weights).sum(), (logits, locs, scales, z))
    expected = torch.autograd.grad((reference * weights).sum(), (logits, locs, scales, z))
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-7, atol=1e-7 * float(e.abs().max()) + 1e-12)


@pytest.mark.parametrize("log_var_range", [(-1.0, 1.0), (-6 * LN10, 6 * LN10),
                                           (-6 * LN10, -6 * LN10)],
                         ids=["moderate", "1e-6_to_1e6", "all_1e-6"])
@pytest.mark.parametrize("rows", [100, 4000])  # float64 throughout, and float32 with the check
def test_diagonal_normal_mixture_in_float32_is_as_accurate_as_pyros(rows, log_var_range):
    logits, locs, scales = _mixture(200, 40, log_var_range)
    single = [t.float() for t in (logits, locs, scales, _points(locs, scales, (rows,)))]
    exact = _pyro_mixture(*(t.double() for t in single[:3])).log_prob(single[3].double())
    ours = DiagonalNormalMixture(*single[:3]).log_prob(single[3]).double()
    # the row check's tolerance plus the float32 rounding of the value itself
    ulp = torch.finfo(torch.float32).eps * exact.abs()
    assert ((ours - exact).abs() <= pyrovae_dist.MIXTURE_TOLERANCE + 8 * ulp).all()


def test_diagonal_normal_mixture_recomputes_the_rows_that_cancel(monkeypatch):
    # components far from the centre and narrow: (z - c)^2 / sigma^2 ~ 1e10 cancels to ~1
    locs = torch.tensor([[100.0, -100.0], [-100.0, 100.0]], dtype=torch.float64).repeat(300, 1)
    locs = locs + torch.linspace(0, 1, 600, dtype=torch.float64)[:, None]
    scales = torch.full_like(locs, 1e-3)
    logits = torch.zeros(600, dtype=torch.float64)
    z = locs[:500] + 1e-3 * torch.randn(500, 2, dtype=torch.float64,
                                             generator=torch.Generator().manual_seed(0))
    single = [t.float() for t in (logits, locs, scales, z)]
    exact = _pyro_mixture(*(t.double() for t in single[:3])).log_prob(single[3].double())
    ours = DiagonalNormalMixture(*single[:3]).log_prob(single[3]).double()
    assert (ours - exact).abs().max() < 1e-3
    monkeypatch.setattr(pyrovae_dist, "MIXTURE_TOLERANCE", float("inf"))  # no recomputation
    unchecked = DiagonalNormalMixture(*single[:3]).log_prob(single[3]).double()
    assert (unchecked - exact).abs().max() > 1.0  # the check is what keeps the rows exact


def test_diagonal_normal_mixture_shapes_samples_and_validation():
    torch.manual_seed(0)
    logits, locs, scales = _mixture(4, 3, (-1.0, 1.0), dtype=torch.float32)
    mixture = DiagonalNormalMixture(logits, locs, scales).expand([6])
    assert mixture.batch_shape == (6,) and mixture.event_shape == (3,)
    assert mixture.sample().shape == (6, 3) and mixture.sample((5,)).shape == (5, 6, 3)
    assert mixture.log_prob(torch.randn(2, 1, 3)).shape == (2, 6)
    draws = DiagonalNormalMixture(logits, locs, scales).sample((20000,))
    pyros = _pyro_mixture(logits, locs, scales)
    torch.testing.assert_close(draws.mean(0), pyros.mean, atol=0.05, rtol=0)
    torch.testing.assert_close(draws.var(0), pyros.variance, atol=0.1, rtol=0.05)
    checked = DiagonalNormalMixture(logits, locs, scales, validate_args=True)
    with pytest.raises(ValueError):
        checked.log_prob(torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(ValueError):
        DiagonalNormalMixture(logits, locs, -scales, validate_args=True)
