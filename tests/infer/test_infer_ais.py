"""AIS and BDMC on models whose log p(x) is exact: PPCA, a two-layer Gaussian chain, a
Gamma-precision model (a constrained latent), a Dirichlet latent and a model with a global latent.

Statistical checks allow a few standard errors (over the data points, or over all chains of one
repeated point) so that they hold whatever the seed, not only under the tests' seed 0."""

import functools
import math

import numpy as np

import pyro
import pyro.distributions as dist
import pytest
import torch
from infer_toys import Chain, ChainGuide, ChainPosterior, Mixture, MixtureGuide, exact_ppca, ppca

from pyrovae import bdmc
from pyrovae.base.errors import ModelGuideError
from pyrovae.guides.ppca import PPCAPosterior
from pyrovae.infer import LogPxResult, log_px
from pyrovae.infer.ais import evaluations, sigmoid_schedule

D = torch.float64


class GammaPrecision(torch.nn.Module):
    """tau ~ Gamma(a, b), x | tau ~ N(0, tau^-1 I_d): a constrained (positive) latent."""

    a, b = 2.0, 1.5

    def forward(self, x=None, *, batch_size=None):
        n = x.shape[0] if x is not None else batch_size
        with pyro.plate("data", n):
            tau = pyro.sample("tau", dist.Gamma(torch.tensor(self.a, dtype=D), self.b))
            scale = tau.rsqrt()[..., None].expand(tau.shape + (3,))
            return pyro.sample("x", dist.Normal(0.0, scale).to_event(1), obs=x)

    def posterior(self, x):
        return self.a + x.shape[-1] / 2, self.b + x.pow(2).sum(-1) / 2

    def exact_log_px(self, x):
        shape, rate = self.posterior(x)
        return (self.a * math.log(self.b) - math.lgamma(self.a) - x.shape[-1] / 2
                * math.log(2 * math.pi) + torch.lgamma(torch.as_tensor(shape, dtype=D))
                - shape * rate.log())


class GammaGuide(torch.nn.Module):
    """The exact posterior Gamma(a + d/2, b + |x|^2/2), its shape times ``factor``."""

    def __init__(self, model, factor=1.0):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x=None, *, batch_size=None):
        shape, rate = self.model.posterior(x)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("tau", dist.Gamma(self.factor * shape * torch.ones_like(rate),
                                          self.factor * rate))


def global_model(x=None, *, batch_size=None):
    """theta ~ N(0, 1) shared, x_n | theta ~ N(theta, 1): alone, x_n ~ N(0, 2)."""
    theta = pyro.sample("theta", dist.Normal(torch.zeros(1, dtype=D), 1.0).to_event(1))
    with pyro.plate("data", x.shape[0] if x is not None else batch_size):
        return pyro.sample("x", dist.Normal(theta, 1.0).to_event(1), obs=x)


def global_guide(x=None, *, batch_size=None, scale=1.0):
    """p(theta | x) for one point x: N(x / 2, 1/2) (its std times ``scale``)."""
    pyro.sample("theta", dist.Normal(x.mean(0) / 2, scale * math.sqrt(0.5)).to_event(1))


class DirichletCounts(torch.nn.Module):
    """p ~ Dirichlet(alpha), x | p ~ Multinomial(m, p): a simplex latent (K coordinates, K - 1
    unconstrained)."""

    alpha = torch.tensor([1.5, 2.0, 0.8], dtype=D)

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0] if x is not None else batch_size):
            p = pyro.sample("p", dist.Dirichlet(self.alpha))
            return pyro.sample("x", dist.Multinomial(10, p), obs=x)

    def exact_log_px(self, x):
        return dist.DirichletMultinomial(self.alpha, total_count=10).log_prob(x)


class DirichletGuide(torch.nn.Module):
    """Dirichlet(factor * (alpha + x)): the exact posterior for ``factor = 1``."""

    def __init__(self, model, factor=1.0):
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x=None, *, batch_size=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("p", dist.Dirichlet(self.factor * (self.model.alpha + x)))


def mean_error(result, exact):
    """The mean of ``result.value - exact`` over the points and its standard error."""
    error = result.value - exact
    return float(error.mean()), float(error.std() / math.sqrt(error.numel()))


def pooled(result):
    """``log mean exp`` of the final log weights of all chains of all (identical) points, and
    its delta-method standard error; ``result.value`` holds each point's log mean over its
    ``K`` chains, so the mean of their exponentials is the mean over all chains."""
    weight = (result.value - result.value.max()).exp()
    mean = weight.mean()
    return (float(result.value.max() + mean.log()),
            float(weight.std() / mean / math.sqrt(weight.numel())))


def test_sigmoid_schedule_runs_from_0_to_1():
    betas = sigmoid_schedule(10)
    assert betas[0] == 0 and betas[-1] == 1 and len(betas) == 11
    assert all(a < b for a, b in zip(betas, betas[1:]))
    assert sigmoid_schedule(1) == [0.0, 1.0]


@pytest.mark.parametrize("steps", [1, 3, 30])
def test_exact_posterior_gives_exact_log_px_for_any_steps(steps):
    """Plumbing: with the exact posterior as initial distribution every weight is log p(x)
    whatever the transitions do, so this cannot detect broken transitions (see
    :func:`test_ais_is_unbiased_on_one_point_repeated`)."""
    model, x = ppca(num_data=20)
    result = log_px(model, PPCAPosterior(model), x, method="ais", num_samples=4, steps=steps,
                    leapfrog=2, ks=(2,))
    assert isinstance(result, LogPxResult) and result.method == "ais" and result.steps == steps
    torch.testing.assert_close(result.value, exact_ppca(model, x), atol=1e-9, rtol=0)
    torch.testing.assert_close(result.ess, torch.full((20,), 4.0, dtype=D))
    assert result.acceptance.shape == (20,) and result.num_samples == 4
    assert result.acceptance.isnan().all() if steps == 1 else result.acceptance.mean() > 0.3
    assert list(result.to_frame().columns) == ["log_px", "stderr", "ess", "elbo", "iwae_2",
                                               "khat", "acceptance"]


def test_exact_posterior_of_dependent_sites_gives_exact_log_px():
    """Two latent sites, the guide's z1 depending on z2: the guide is run at every step.
    Plumbing only, as the test above: the weights do not depend on the transitions."""
    model = Chain()
    with torch.no_grad():
        x = model(batch_size=15)
    result = log_px(model, ChainPosterior(model), x, method="ais", num_samples=3, steps=5,
                    leapfrog=2)
    torch.testing.assert_close(result.value, model.exact_log_px(x), atol=1e-9, rtol=0)
    assert result.acceptance.mean() > 0.3


#: Copies of the one point of the unbiasedness checks: enough that a bias of a few tenths of a
#: nat per weight is many standard errors.
REPEATS = 65536


def repeated_point_error(target_accept, step_size) -> tuple[float, float]:
    """The pooled AIS estimate of one point repeated :data:`REPEATS` times (4 chains each, a
    guide three times too wide, 10 steps) minus the exact value, and its standard error."""
    model = GammaPrecision()
    x = torch.tensor([[0.8, -1.5, 1.1]], dtype=D).expand(REPEATS, 3)
    result = log_px(model, GammaGuide(model, factor=0.3), x, method="ais", num_samples=4,
                    steps=10, leapfrog=2, step_size=step_size, target_accept=target_accept)
    estimate, stderr = pooled(result)
    return estimate - float(model.exact_log_px(x[:1])), stderr


@pytest.mark.parametrize("target_accept, step_size", [(None, 0.5), (0.65, 0.05)])
def test_ais_is_unbiased_on_one_point_repeated(target_accept, step_size):
    """:math:`\\mathbb E[e^w] = p(x)`: the log mean of all chains' :math:`e^w`
    (:func:`repeated_point_error`) lies within 4 standard errors of the exact value, with a
    fixed step size or with step sizes tuned by the pilot and frozen. Weights taken after the
    transition instead of before, a missing Jacobian term, a missing accept/reject step or step
    sizes adapted inside the run are all off by 5 or more standard errors here (the last:
    :func:`test_the_unbiasedness_check_sees_step_sizes_adapted_inside_the_run`)."""
    error, stderr = repeated_point_error(target_accept, step_size)
    assert abs(error) <= 4 * stderr
    assert 0 < stderr < 0.005


def test_the_unbiasedness_check_sees_step_sizes_adapted_inside_the_run(monkeypatch):
    """The power of the check above: AIS whose step sizes keep adapting to the acceptance of
    the chains they move (biased: they depend on those chains, as :func:`ais.anneal` warns) is
    more than 4 standard errors off. With the 1024 repeats the check once had, it was about 1.5
    standard errors off, and passed."""
    from pyrovae.infer import ais
    from pyrovae.infer.hmc import adapt_step_size, hmc_step

    def adapting(potential, u, betas, step_size, *, leapfrog, bar=None):
        state = potential(u, grad=True)
        log_w = torch.zeros(u.shape[:2], dtype=D)
        accepted, eps = torch.zeros(u.shape[1], dtype=D), step_size(betas[1])
        for t in range(1, len(betas)):
            log_w = log_w + (betas[t] - betas[t - 1]) * state.log_ratio
            if t < len(betas) - 1:
                state, prob = hmc_step(potential, state, betas[t], eps, leapfrog)
                eps = adapt_step_size(eps, prob, 0.65)
                accepted = accepted + prob.mean(0)
        return log_w, accepted / (len(betas) - 2)

    monkeypatch.setattr(ais, "anneal", adapting)
    error, stderr = repeated_point_error(0.65, 0.05)
    assert abs(error) > 4 * stderr


def test_poor_guide_beats_is_at_equal_evaluations():
    """AIS within a few standard errors of the exact value (it may fall below: a stochastic
    lower bound) and closer than importance sampling with as many evaluations, an AIS
    evaluation with its gradient (pilot included) counted like a forward-only IS one."""
    with torch.random.fork_rng():  # one model and data set; the estimators' draws vary
        torch.manual_seed(0)
        model, x = ppca(num_data=40)
    guide = PPCAPosterior(model, std_factor=0.5, mean_shift=0.3)
    exact = exact_ppca(model, x)
    chains, steps, leapfrog = 16, 100, 3
    annealed = log_px(model, guide, x, method="ais", num_samples=chains, steps=steps,
                      leapfrog=leapfrog)
    sampled = log_px(model, guide, x, num_samples=chains * evaluations(steps, leapfrog))
    error, stderr = mean_error(annealed, exact)
    assert -0.1 - 4 * stderr < error < 4 * stderr and annealed.stderr.min() > 0
    # paired over the points: how much closer each point's AIS estimate is than its IS one
    closer = (sampled.value - exact).abs() - (annealed.value - exact).abs()
    assert float(closer.mean()) > 4 * float(closer.std() / math.sqrt(closer.numel()))
    assert 0.5 < annealed.acceptance.mean() < 0.85  # the pilot tunes toward 0.65


def test_mean_field_guide_on_two_sites_and_the_prior_proposal_converge():
    model = Chain()
    with torch.no_grad():
        x = model(batch_size=20)
    exact = model.exact_log_px(x)
    for guide, proposal, steps in ((ChainGuide(model, std_factor=0.6), "guide", 60),
                                   (None, "prior", 200)):
        result = log_px(model, guide, x, method="ais", num_samples=8, steps=steps, leapfrog=3,
                        proposal=proposal)
        error, stderr = mean_error(result, exact)
        assert -0.3 - 4 * stderr < error < 4 * stderr


def test_constrained_latent_is_annealed_in_unconstrained_space():
    model = GammaPrecision()
    with torch.no_grad():
        x = model(batch_size=25)
    exact = model.exact_log_px(x)
    result = log_px(model, GammaGuide(model), x, method="ais", num_samples=4, steps=4, leapfrog=2)
    torch.testing.assert_close(result.value, exact, atol=1e-9, rtol=0)
    poor = GammaGuide(model, factor=4.0)  # right mean, half the spread
    one = log_px(model, poor, x, method="ais", num_samples=8, steps=1)
    annealed = log_px(model, poor, x, method="ais", num_samples=8, steps=100, leapfrog=3)
    error, stderr = mean_error(annealed, exact)
    assert -0.1 - 4 * stderr < error < 4 * stderr
    assert mean_error(annealed, one.value)[0] > 0  # closer than importance sampling


def test_simplex_latent_is_annealed_through_stick_breaking():
    """A Dirichlet site: ``K`` constrained coordinates, ``K - 1`` unconstrained ones."""
    model = DirichletCounts()
    with torch.no_grad():
        x = model(batch_size=12)
    exact = model.exact_log_px(x)
    result = log_px(model, DirichletGuide(model), x, method="ais", num_samples=3, steps=4,
                    leapfrog=2)
    torch.testing.assert_close(result.value, exact, atol=1e-9, rtol=0)
    poor = DirichletGuide(model, factor=0.3)
    annealed = log_px(model, poor, x, method="ais", num_samples=8, steps=50, leapfrog=3)
    error, stderr = mean_error(annealed, exact)
    assert -0.1 - 4 * stderr < error < 4 * stderr


def test_global_latent_is_annealed_one_data_point_at_a_time():
    x = torch.randn(12, 1, dtype=D) * math.sqrt(2)
    exact = dist.Normal(torch.zeros((), dtype=D), math.sqrt(2)).log_prob(x[:, 0])
    result = log_px(global_model, global_guide, x, method="ais", num_samples=4, steps=3,
                    leapfrog=2)
    torch.testing.assert_close(result.value, exact, atol=1e-9, rtol=0)
    poor = functools.partial(global_guide, scale=0.3)
    annealed = log_px(global_model, poor, x, method="ais", num_samples=8, steps=30, leapfrog=3)
    error, stderr = mean_error(annealed, exact)
    assert -0.1 - 4 * stderr < error < 4 * stderr


def test_bdmc_gap_shrinks_with_steps_and_the_bounds_bracket_the_exact_value():
    """The bounds are stochastic: their means over the points bracket the exact values up to
    4 standard errors; the gap shrinks with the steps."""
    model, _ = ppca(num_data=1)
    guide = PPCAPosterior(model, std_factor=0.5, mean_shift=0.3)
    gaps = []
    for steps in (3, 30, 100):
        result = bdmc(model, guide, 24, num_chains=4, steps=steps, leapfrog=3)
        exact = exact_ppca(model, result.x)
        assert result.x.shape == (24, 6)
        lower, lower_stderr = mean_error(result.forward, exact)
        upper, upper_stderr = mean_error(LogPxResult(**{**vars(result.reverse),
                                                        "value": result.upper}), exact)
        assert lower < 4 * lower_stderr and upper > -4 * upper_stderr
        gaps.append((result.mean_gap, float(result.gap.std() / math.sqrt(24))))
    (first, _), (middle, middle_stderr), (last, last_stderr) = gaps
    assert first > middle + 4 * middle_stderr
    assert last < middle + 4 * math.hypot(middle_stderr, last_stderr)
    assert abs(last) < 0.1 + 4 * last_stderr
    assert list(result.to_frame().columns)[:3] == ["lower", "upper", "gap"]


def test_bdmc_with_the_exact_posterior_has_no_gap():
    """Plumbing: with the exact posterior both directions' weights are exact whatever the
    transitions do, so this cannot detect broken transitions."""
    model, _ = ppca(num_data=1)
    result = bdmc(model, PPCAPosterior(model), 10, num_chains=2, steps=3, leapfrog=1)
    torch.testing.assert_close(result.lower, exact_ppca(model, result.x), atol=1e-9, rtol=0)
    torch.testing.assert_close(result.upper, result.lower, atol=1e-9, rtol=0)


def test_discrete_latent_is_refused_clearly():
    model = Mixture()
    x = torch.randn(5, 2, dtype=D)
    with pytest.raises(ModelGuideError, match="latent site 'c' is discrete .*method='is'"):
        log_px(model, MixtureGuide(model), x, method="ais", steps=2)
    with pytest.raises(ModelGuideError, match="latent site 'c' is discrete"):
        bdmc(model, MixtureGuide(model), 5, steps=2)


def _never(*args, **kwargs):
    raise AssertionError("the program ran before the settings were checked")


@pytest.mark.parametrize("setting, message", [
    (dict(method="mcmc"), "method must be one of"),
    (dict(method="ais", steps=0), "steps must be a positive integer"),
    (dict(method="ais", leapfrog=1.5), "leapfrog must be a positive integer"),
    (dict(method="ais", step_size=-0.1), "step_size must be a positive number"),
    (dict(method="ais", step_size=float("inf")), "step_size must be a positive number"),
    (dict(method="ais", step_size="0.1"), "step_size must be a positive number"),
    (dict(method="ais", target_accept="0.6"), r"target_accept must lie in \(0, 1\)"),
    (dict(method="ais", target_accept=1.0), r"target_accept must lie in \(0, 1\)"),
])
def test_bad_settings_are_refused_before_any_work(setting, message):
    with pytest.raises(ValueError, match=message):
        log_px(_never, _never, torch.zeros(3, 2), **setting)
    if setting.get("method") == "ais":
        setting.pop("method")
        with pytest.raises(ValueError, match=message):
            bdmc(_never, _never, 3, **setting)


def test_numpy_and_tensor_scalars_are_accepted_as_settings():
    model, x = ppca(num_data=3)
    guide = PPCAPosterior(model)
    for step_size, target_accept in ((np.float32(0.1), np.float64(0.6)),
                                     (torch.tensor(0.1), torch.tensor(0.6))):
        result = log_px(model, guide, x, method="ais", num_samples=2, steps=3, leapfrog=1,
                        step_size=step_size, target_accept=target_accept)
        torch.testing.assert_close(result.value, exact_ppca(model, x), atol=1e-9, rtol=0)


def test_same_seed_same_result_and_one_global_draw():
    model, x = ppca(num_data=6)
    guide = PPCAPosterior(model, std_factor=0.7)
    runs = []
    for _ in range(2):
        pyro.set_rng_seed(4)
        runs.append((log_px(model, guide, x, method="ais", num_samples=3, steps=5,
                            particle_chunk=2, batch_size=4).value,
                     bdmc(model, guide, 5, num_chains=2, steps=4).upper, torch.rand(2)))
    for first, second in zip(*runs):
        assert torch.equal(first, second)
    pyro.set_rng_seed(4)
    torch.randint(0, 1 << 62, ())
    torch.randint(0, 1 << 62, ())
    assert torch.equal(torch.rand(2), runs[0][2])


def tutorial_model(x):
    """The README tutorial's shape of model: it observes x and cannot simulate it."""
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2, dtype=D), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)


def tutorial_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(x / 2, 0.7).to_event(1))


def test_bdmc_refuses_a_model_that_cannot_simulate_in_one_line():
    with pytest.raises(ModelGuideError, match=r"bdmc simulates data with model\(batch_size=4\), "
                                             r"but tutorial_model\(x\) cannot be called so") as info:
        bdmc(tutorial_model, tutorial_guide, 4, steps=2)
    assert "\n" not in str(info.value)
