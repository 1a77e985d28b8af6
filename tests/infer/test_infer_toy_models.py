"""log_px beyond PPCA: a latent hierarchy, a discrete latent, extra model arguments."""

import pyro
import pyro.distributions as dist
import torch
from infer_toys import (
    Chain,
    ChainGuide,
    ChainPosterior,
    LabeledGuide,
    LabeledPPCA,
    Mixture,
    MixtureGuide,
    mean_error_bound,
)

from pyrovae.infer import log_px, log_weights
from pyrovae.infer.tiles import iter_tiles


def _check_estimate(result, exact):
    error = result.value - exact
    assert (error.abs() <= 4 * result.stderr).double().mean() >= 0.95
    assert error.mean().abs() <= mean_error_bound(result.stderr, len(exact)) + 1e-3


def test_hierarchical_chain_with_mean_field_guide():
    """The mean-field guide (marginal posteriors, std x 1.5) has finite weight variance here."""
    model = Chain()
    with torch.no_grad():
        x = model(batch_size=200)
    exact = model.exact_log_px(x)
    result = log_px(model, ChainGuide(model), x, num_samples=500, ks=(1, 10))
    _check_estimate(result, exact)
    assert result.elbo.mean() < result.iwae[10].mean() < result.value.mean()
    assert (result.ess < 500).all()


def test_hierarchical_chain_with_its_exact_posterior():
    model = Chain()
    with torch.no_grad():
        x = model(batch_size=40)
    result = log_px(model, ChainPosterior(model), x, num_samples=50, particle_chunk=20)
    torch.testing.assert_close(result.value, model.exact_log_px(x), atol=1e-10, rtol=0)


def test_discrete_latent_sampled_by_the_guide():
    model = Mixture()
    with torch.no_grad():
        x = model(batch_size=200)
    exact = model.exact_log_px(x)
    result = log_px(model, MixtureGuide(model, mix=0.5), x, num_samples=400)
    _check_estimate(result, exact)
    exact_guide = log_px(model, MixtureGuide(model, mix=0.0), x, num_samples=20)
    torch.testing.assert_close(exact_guide.value, exact, atol=1e-10, rtol=0)


def test_extra_model_arguments_are_batched_with_the_data():
    model = LabeledPPCA()
    y = torch.randint(0, 3, (60,))
    with torch.no_grad():
        x = model(None, y, batch_size=60)
    exact = model.exact_log_px(x, y)
    guide = LabeledGuide(model)
    result = log_px(model, guide, x, y, num_samples=300, batch_size=7)
    _check_estimate(result, exact)
    exact_guide = LabeledGuide(model, std_factor=1.0)
    by_keyword = log_px(model, exact_guide, x, y=y, num_samples=5, batch_size=11)
    torch.testing.assert_close(by_keyword.value, exact, atol=1e-10, rtol=0)


def test_global_latent_counts_for_every_data_point():
    """A latent outside the data plate adds log p(theta) - log q(theta) to every point."""

    def model(x):
        theta = pyro.sample("theta", dist.Normal(torch.tensor(0.0, dtype=x.dtype), 1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(theta, 1.0), obs=x)

    def guide(x):
        pyro.sample("theta", dist.Normal(torch.tensor(0.5, dtype=x.dtype), 0.1))

    x = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    pyro.set_rng_seed(0)
    w = log_weights(model, guide, x, num_samples=4)
    pyro.set_rng_seed(0)
    (tile,) = iter_tiles(model, guide, (x,), {}, num_samples=4, keep_traces=True)
    theta = tile.guide_trace.nodes["theta"]["value"].reshape(4, 1)
    expected = (
        dist.Normal(theta, 1.0).log_prob(x)
        + dist.Normal(torch.tensor(0.0, dtype=x.dtype), 1.0).log_prob(theta)
        - dist.Normal(torch.tensor(0.5, dtype=x.dtype), 0.1).log_prob(theta)
    )
    torch.testing.assert_close(w, expected, atol=1e-12, rtol=0)


def test_nested_plates_inside_the_data_plate():
    """z_n ~ N(0, 1), x_np ~ N(z_n, 1) in a plate of P values inside the data plate (dim -2)."""

    def model(x):
        with pyro.plate("data", x.shape[0], dim=-2):
            z = pyro.sample("z", dist.Normal(torch.zeros(1, dtype=x.dtype), 1.0))
            with pyro.plate("values", x.shape[1], dim=-1):
                pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        num_values = x.shape[1]
        with pyro.plate("data", x.shape[0], dim=-2):
            mean = x.sum(-1, keepdim=True) / (num_values + 1)
            pyro.sample("z", dist.Normal(mean, (num_values + 1) ** -0.5))

    x = torch.randn(20, 4, dtype=torch.float64) + torch.randn(20, 1, dtype=torch.float64)
    cov = torch.eye(4, dtype=torch.float64) + 1
    exact = dist.MultivariateNormal(torch.zeros(4, dtype=torch.float64), cov).log_prob(x)
    result = log_px(model, guide, x, num_samples=30, batch_size=6, particle_chunk=7)
    torch.testing.assert_close(result.value, exact, atol=1e-10, rtol=0)


def test_particles_of_a_two_layer_spec_model_match_one_by_one_computation():
    """Vectorized particles of z2 -> z1 -> x with the guide q(z1 | x) q(z2 | z1): each particle's
    weight equals the model and guide scored on that particle's values alone."""
    from pyrovae.data import DataInfo
    from pyrovae.guides.spec_encoder import make_spec_encoder
    from pyrovae.models.spec import build

    info = DataInfo((1, 4, 4), binary=True)
    latents = [{"name": "z2", "dim": 3}, {"name": "z1", "dim": 5, "given": "z2", "hidden": [8]}]
    pyro.set_rng_seed(0)
    model = build({"latents": latents, "decoder": {"kind": "mlp", "hidden": [8]}}, info)
    guide = make_spec_encoder(model, info, hidden=[8])
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.3))
    (tile,) = iter_tiles(model, guide, (x,), {}, num_samples=4, keep_traces=True)
    sites = ("z1", "z2")
    for k in range(4):
        values = {name: tile.guide_trace.nodes[name]["value"][k] for name in sites}
        scored = []
        for fn in (model, guide):
            trace = pyro.poutine.trace(pyro.poutine.condition(fn, data=values)).get_trace(x)
            trace.compute_log_prob()
            scored.append(sum(trace.nodes[name]["log_prob"] for name in (*sites, "x")
                              if name in trace.nodes))
        # the tile and the one-particle runs sum the same float32 terms in other orders
        torch.testing.assert_close(tile.log_weight[k], (scored[0] - scored[1]).double(),
                                   rtol=1e-5, atol=1e-4)
