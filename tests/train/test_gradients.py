"""Gradient estimators on pPCA, whose exact posterior is a guide of the family: STL and DReG
encoder gradients vanish there on every draw (IWAE's do not), and away from it their
expectations are the reparameterized ones; the IWAE bound under a subsampling data plate is the
minibatch estimate of the full-data bound; the options are checked before training."""

import math
import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import config_enumerate
from torch import nn

import pyrovae
from pyrovae.base.errors import ConfigError
from pyrovae.train.gradients import DReGIWAE, StickingTheLandingELBO
from pyrovae.train.objective import DifferentiableRenyiELBO

D64 = torch.float64


class PPCA(nn.Module):
    """x ~ N(W z + b, s^2 I), z ~ N(0, I), observed in a data plate that subsamples
    ``subsample`` of ``size`` points when they are set, or draws ``subsample_size``."""

    size = subsample = subsample_size = None

    def __init__(self, data_dim=5, latent_dim=2):
        super().__init__()
        self.W = nn.Parameter(torch.randn(data_dim, latent_dim, dtype=D64))
        self.b = nn.Parameter(torch.randn(data_dim, dtype=D64))
        self.log_s = nn.Parameter(torch.tensor(-0.3, dtype=D64))

    def forward(self, x):
        with pyro.plate("data", self.size or x.shape[0], subsample=self.subsample,
                        subsample_size=self.subsample_size) as idx:
            batch = x[idx]
            z = pyro.sample("z", dist.Normal(torch.zeros(len(batch), self.W.shape[1],
                                                         dtype=D64), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ self.W.T + self.b, self.log_s.exp()).to_event(1),
                        obs=batch)

    def posterior(self):
        """``(A, c, L)`` of the exact posterior N(A x + c, L L^T)."""
        with torch.no_grad():
            s2 = self.log_s.exp() ** 2
            m_inv = torch.linalg.inv(self.W.T @ self.W + s2 * torch.eye(self.W.shape[1],
                                                                        dtype=D64))
            a = m_inv @ self.W.T
            return a, -(a @ self.b), torch.linalg.cholesky(s2 * m_inv)


class Encoder(nn.Module):
    """q(z | x) = N(A x + c, L L^T), its own parameters."""

    def __init__(self, model: PPCA, shift=0.0, stretch=1.0):
        super().__init__()
        a, c, cholesky = model.posterior()
        self.A, self.c = nn.Parameter(a.clone()), nn.Parameter(c + shift)
        self.L = nn.Parameter(cholesky * stretch)
        self.model = model

    def forward(self, x):
        model = self.model
        with pyro.plate("data", model.size or x.shape[0], subsample=model.subsample,
                        subsample_size=model.subsample_size) as idx:
            batch = x[idx]
            pyro.sample("z", dist.MultivariateNormal(batch @ self.A.T + self.c,
                                                     scale_tril=self.L.tril()))


def _setup(seed=0, **guide):
    torch.manual_seed(seed)
    model = PPCA()
    return model, Encoder(model, **guide), torch.randn(6, 5, dtype=D64)


def _grads(elbo, model, encoder, x):
    for p in [*model.parameters(), *encoder.parameters()]:
        p.grad = None
    loss = elbo.differentiable_loss(model, encoder, x)
    loss.backward()
    encoder_grad = [encoder.A.grad.flatten(), encoder.c.grad, encoder.L.grad.flatten()]
    model_grad = [model.W.grad.flatten(), model.b.grad, model.log_s.grad.reshape(1)]
    return float(loss.detach()), torch.cat(encoder_grad), torch.cat(model_grad)


@pytest.mark.parametrize("num_particles", [1, 5])
def test_at_the_exact_posterior_stl_and_dreg_encoder_gradients_vanish_on_every_draw(
        num_particles):
    model, encoder, x = _setup()
    with torch.no_grad():
        exact = float(-dist.MultivariateNormal(
            model.b, model.W @ model.W.T + model.log_s.exp() ** 2 * torch.eye(5, dtype=D64))
            .log_prob(x).sum())
    estimators = [StickingTheLandingELBO, DReGIWAE, DifferentiableRenyiELBO]
    for seed in range(3):
        for cls in estimators:
            pyro.set_rng_seed(seed)
            elbo = cls(alpha=0.0, num_particles=num_particles,
                       vectorize_particles=num_particles > 1)
            loss, encoder_grad, model_grad = _grads(elbo, model, encoder, x)
            assert math.isclose(loss, exact, rel_tol=1e-12)  # log w = log p(x) for every z
            assert model_grad.abs().max() > 1e-3
            if cls is DifferentiableRenyiELBO:  # the score term does not vanish: the test can fail
                assert encoder_grad.abs().max() > 1e-2
            else:
                assert encoder_grad.abs().max() < 1e-10


@pytest.mark.parametrize("cls, num_particles", [(StickingTheLandingELBO, 1), (DReGIWAE, 4)])
def test_the_score_is_taken_out_on_the_data_points_a_subsampling_plate_drew(cls, num_particles):
    """The score term comes from replaying the guide, which must see the points the plate drew
    (``subsample_size``): at the exact posterior the encoder gradients still vanish."""
    model, encoder, x = _setup()
    model.subsample_size = 3
    try:
        for seed in range(3):
            pyro.set_rng_seed(seed)
            elbo = cls(alpha=0.0, num_particles=num_particles,
                       vectorize_particles=num_particles > 1)
            _, encoder_grad, model_grad = _grads(elbo, model, encoder, x)
            assert model_grad.abs().max() > 1e-3
            assert encoder_grad.abs().max() < 1e-10
    finally:
        model.subsample_size = None


def _mean_and_stderr(cls, num_particles, groups=40, copies=50):
    """The mean gradient over ``groups * copies`` draws of each of 6 points (the points repeated
    ``copies`` times in one batch: independent draws), and its standard error over groups."""
    model, encoder, x = _setup(shift=0.4, stretch=1.6)
    batch = x.repeat(copies, 1)
    rows = []
    pyro.set_rng_seed(1)
    for _ in range(groups):
        elbo = cls(alpha=0.0, num_particles=num_particles, vectorize_particles=True)
        _, encoder_grad, model_grad = _grads(elbo, model, encoder, batch)
        rows.append(torch.cat([encoder_grad, model_grad]) / copies)
    rows = torch.stack(rows)
    return rows.mean(0), rows.std(0) / math.sqrt(groups), encoder_grad.numel()


@pytest.mark.parametrize("cls, reference, num_particles", [
    (DReGIWAE, DifferentiableRenyiELBO, 5),
    (StickingTheLandingELBO, DifferentiableRenyiELBO, 1),
])
def test_away_from_the_posterior_the_expected_gradients_are_the_reparameterized_ones(
        cls, reference, num_particles):
    """Over 2000 draws per point the means agree within 4 standard errors, encoder and model."""
    mean, se, _ = _mean_and_stderr(cls, num_particles)
    ref_mean, ref_se, _ = _mean_and_stderr(reference, num_particles)
    bound = 4 * (se ** 2 + ref_se ** 2).sqrt() + 1e-9
    assert ((mean - ref_mean).abs() <= bound).all(), (mean - ref_mean) / bound


def test_dreg_encoder_gradients_vary_less_than_iwaes():
    _, se, encoder_size = _mean_and_stderr(DReGIWAE, 5)
    _, ref_se, _ = _mean_and_stderr(DifferentiableRenyiELBO, 5)
    assert (se[:encoder_size] < ref_se[:encoder_size]).float().mean() > 0.9


def test_iwae_under_a_subsampling_plate_is_the_minibatch_estimate_of_the_full_bound():
    """A plate of N = 60 points that subsamples 6: the bound of the 6 times N / 6, each
    point's weights unscaled inside the logsumexp (the scale inside made it a hard maximum)."""
    model, encoder, x = _setup(shift=0.4, stretch=1.6)
    full = x.repeat(10, 1)
    index = torch.tensor([3, 17, 22, 41, 50, 59])
    elbo = DifferentiableRenyiELBO(alpha=0.0, num_particles=8, vectorize_particles=True)
    pyro.set_rng_seed(2)
    plain = float(elbo.differentiable_loss(model, encoder, full[index]))
    model.size, model.subsample = 60, index
    try:
        for cls in (DifferentiableRenyiELBO, DReGIWAE):
            pyro.set_rng_seed(2)
            loss = float(cls(alpha=0.0, num_particles=8, vectorize_particles=True)
                         .differentiable_loss(model, encoder, full))
            assert math.isclose(loss, plain * 60 / 6, rel_tol=1e-12)
    finally:
        model.size = model.subsample = None


def test_the_estimators_are_checked_against_the_loss_and_the_guide():
    model, encoder, x = _setup()
    with pytest.raises(ConfigError, match='gradient = "dreg" estimates the gradient of loss = '
                                          '"iwae", not of "trace_elbo"'):
        pyrovae.fit(model, encoder, x, gradient="dreg", epochs=1)
    with pytest.raises(ConfigError, match='"stl" estimates the gradient of loss = "trace_elbo", '
                                          'not of "meanfield_elbo"'):
        pyrovae.fit(model, encoder, x, gradient="stl", loss="meanfield_elbo", epochs=1)

    def discrete_model(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Bernoulli(torch.full((x.shape[0],), 0.5, dtype=D64)))
            pyro.sample("x", dist.Normal(c[:, None].expand(-1, 5), 1.0).to_event(1), obs=x)

    def discrete_guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Bernoulli(torch.sigmoid(x.sum(-1))))

    for guide, what in ((discrete_guide, "not"), (config_enumerate(discrete_guide), "enumerated")):
        with pytest.raises(ConfigError, match=f"site 'c'.* {what}"):
            DReGIWAE(alpha=0.0, num_particles=2).differentiable_loss(discrete_model, guide, x)


@pytest.mark.parametrize("loss, gradient, notices",
                         [("iwae", "dreg", 0), ("trace_elbo", "stl", 1)])
def test_fit_trains_with_each_estimator(loss, gradient, notices):
    model, encoder, x = _setup(shift=0.4, stretch=1.6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pyrovae.fit(model, encoder, x.repeat(5, 1), loss=loss, gradient=gradient,
                             num_particles=3 if loss == "iwae" else 1, epochs=3, batch_size=10,
                             lr=1e-2)
    lines = [str(w.message) for w in caught if "fast path" in str(w.message)]
    assert len(lines) == notices
    objective = result.history["train_objective"]
    assert objective.notna().all() and objective.iloc[-1] > objective.iloc[0]


class Hierarchy(nn.Module):
    """z2 ~ N(e, I), z1 ~ N(A z2 + a, 0.7^2 I), x ~ N(W z1 + b, s^2 I); the guide
    q(z1 | x) = N(C x + c, diag s1^2), q(z2 | z1) = N(D z1 + e, diag s2^2): hierarchical, and
    ``e`` is both the prior's mean and a parameter of the guide."""

    def __init__(self, dx=4, d1=3, d2=2):
        super().__init__()
        shapes = {"A": (d1, d2), "a": (d1,), "W": (dx, d1), "b": (dx,), "log_s": (),
                  "C": (d1, dx), "c": (d1,), "log_s1": (d1,), "D": (d2, d1), "log_s2": (d2,),
                  "e": (d2,)}
        for name, shape in shapes.items():
            setattr(self, name, nn.Parameter(0.5 * torch.randn(shape, dtype=D64)))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z2 = pyro.sample("z2", dist.Normal(self.e.expand(x.shape[0], -1), 1.0).to_event(1))
            z1 = pyro.sample("z1", dist.Normal(z2 @ self.A.T + self.a, 0.7).to_event(1))
            pyro.sample("x", dist.Normal(z1 @ self.W.T + self.b, self.log_s.exp()).to_event(1),
                        obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            z1 = pyro.sample("z1", dist.Normal(x @ self.C.T + self.c, self.log_s1.exp())
                             .to_event(1))
            pyro.sample("z2", dist.Normal(z1 @ self.D.T + self.e, self.log_s2.exp()).to_event(1))


def _dreg_by_hand(h, x, draws):
    """The IWAE bound and its DReG gradient with autograd, written out (Tucker et al. 2019): the
    noise of ``draws`` (the guide's z1, z2), log q at stopped guide parameters, the model's
    parameters (``e`` in the prior) given the gradient of sum w log w, the guide's (``e`` in
    q(z2 | z1)) that of sum w^2 log w."""
    def normal(v, loc, scale):
        return dist.Normal(loc, scale).log_prob(v).sum(-1)

    with torch.no_grad():
        eps1 = (draws["z1"] - x @ h.C.T - h.c) / h.log_s1.exp()
        eps2 = (draws["z2"] - draws["z1"] @ h.D.T - h.e) / h.log_s2.exp()
    e_model = h.e.detach().clone().requires_grad_()
    z1 = x @ h.C.T + h.c + h.log_s1.exp() * eps1
    z2 = z1 @ h.D.T + h.e + h.log_s2.exp() * eps2
    sg = {name: p.detach() for name, p in h.named_parameters()}
    log_p = normal(z2, e_model, 1.0) + normal(z1, z2 @ h.A.T + h.a, 0.7) \
        + normal(x, z1 @ h.W.T + h.b, h.log_s.exp())
    log_q = normal(z1, x @ sg["C"].T + sg["c"], sg["log_s1"].exp()) \
        + normal(z2, z1 @ sg["D"].T + sg["e"], sg["log_s2"].exp())
    log_w = log_p - log_q
    w = torch.softmax(log_w.detach(), 0)
    model_side = {name: getattr(h, name) for name in ("A", "a", "W", "b", "log_s")}
    model_side["e"] = e_model
    guide_side = {name: getattr(h, name) for name in ("C", "c", "log_s1", "D", "log_s2", "e")}
    grads, e_parts = dict.fromkeys(sg, 0.0), []
    for side, weight in ((model_side, w), (guide_side, w ** 2)):
        for name, g in zip(side, torch.autograd.grad((weight * log_w).sum(), list(side.values()),
                                                     retain_graph=True)):
            grads[name] = grads[name] + g
        e_parts.append(grads["e"] - sum(e_parts))
    bound = (log_w.logsumexp(0) - math.log(log_w.shape[0])).sum()
    return float(bound.detach()), grads, e_parts


@pytest.mark.parametrize("vectorize", [True, False])
def test_dreg_on_a_hierarchical_guide_with_a_shared_parameter_is_the_hand_written_gradient(
        vectorize):
    """One backward pass gives the guide's parameters w^2 along the draws' paths (through
    q(z2 | z1) too) and w to the model's, the shared ``e`` the sum of both, as the two
    gradients written out by hand; the draws taken from the same random stream."""
    torch.manual_seed(3)
    h, x, particles = Hierarchy(), torch.randn(5, 4, dtype=D64), 4
    pyro.set_rng_seed(7)
    if vectorize:
        with pyro.plate("num_particles_vectorized", particles, dim=-2):
            trace = pyro.poutine.trace(h.guide).get_trace(x)
        draws = {name: trace.nodes[name]["value"].detach() for name in ("z1", "z2")}
    else:
        traces = [pyro.poutine.trace(h.guide).get_trace(x) for _ in range(particles)]
        draws = {name: torch.stack([t.nodes[name]["value"].detach() for t in traces])
                 for name in ("z1", "z2")}
    bound, expected, e_parts = _dreg_by_hand(h, x, draws)
    pyro.set_rng_seed(7)
    elbo = DReGIWAE(alpha=0.0, num_particles=particles, vectorize_particles=vectorize,
                    max_plate_nesting=2 if vectorize else 1)
    loss = elbo.differentiable_loss(h.model, h.guide, x)
    loss.backward()
    assert math.isclose(float(loss.detach()), -bound, rel_tol=1e-12)
    for name, p in h.named_parameters():
        torch.testing.assert_close(p.grad, -expected[name], rtol=1e-10, atol=1e-12, msg=name)
    # both parts of e's gradient count: e taken as the guide's alone (w^2 on its prior term too)
    # or the model's alone would fail the comparison above
    assert all(part.abs().max() > 1e-2 for part in e_parts)
