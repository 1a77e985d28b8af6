"""Posterior families of the spec_encoder guide: full covariance and IAF densities are exact."""

import pytest
import torch

import pyrovae
from pyrovae.data import DataInfo
from pyrovae.guides.spec_encoder import make_spec_encoder
from pyrovae.models.spec import build
from pyrovae.blocks.families import IAF

D, d, S = 5, 2, 0.5


def linear_gaussian():
    """A spec model that is PPCA, x = W z + b + S eps, and its full-covariance guide set to the
    exact posterior N(M^-1 W^T (x - b), S^2 M^-1), M = W^T W + S^2 I (float64)."""
    info = DataInfo((D,), binary=False)
    spec = {"latents": [{"name": "z", "dim": d}], "decoder": {"hidden": []},
            "likelihood": {"kind": "normal", "scale": S}}
    model = build(spec, info).double()
    guide = make_spec_encoder(model, info, family="full", hidden=[]).double()
    linear = model.decoder.net[0]
    W, b = linear.weight.detach(), linear.bias.detach()
    M = W.T @ W + S**2 * torch.eye(d, dtype=torch.float64)
    A = torch.linalg.solve(M, W.T)
    L = torch.linalg.cholesky(S**2 * torch.linalg.inv(M))
    head = guide.encoders["z"].head
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.weight[:d] = A
        head.linear.bias[:d] = -A @ b
        head.linear.bias[d:] = torch.log(torch.expm1(L.diagonal() - 1e-5))
        head.tril.weight.zero_()
        head.tril.bias.copy_(L[head.rows, head.cols])
    marginal = torch.distributions.MultivariateNormal(b, W @ W.T + S**2 * torch.eye(D, dtype=torch.float64))
    return model, guide, A, b, L, marginal


def test_full_covariance_guide_has_the_exact_posterior_density():
    model, guide, A, b, L, marginal = linear_gaussian()
    x = marginal.sample((7,))
    q = guide.encoders["z"](x)
    z = q.rsample()
    exact = torch.distributions.MultivariateNormal((x - b) @ A.T, scale_tril=L)
    torch.testing.assert_close(q.log_prob(z), exact.log_prob(z))
    # with the exact posterior every importance weight is p(x): no variance, the exact log p(x)
    result = pyrovae.log_px(model, guide, x, num_samples=16)
    torch.testing.assert_close(result.value, marginal.log_prob(x))
    assert (result.ess > 16 - 1e-6).all()


def _chain(q, eps):
    """The IAF's map from base noise to z: z0 = mu + sigma eps, then every flow step."""
    base = q.base_dist.base_dist  # Independent(Normal)
    z = base.loc + base.scale * eps
    for step in q.transforms:
        z = step(z)
    return z


@pytest.mark.parametrize("steps", [1, 3])
def test_iaf_log_density_matches_the_autograd_jacobian(steps):
    torch.manual_seed(1)
    iaf = IAF(in_dim=4, dim=3, steps=steps, hidden=[8], context=5).double()
    with torch.no_grad():  # make the flow far from the identity
        for p in iaf.parameters():
            p.normal_(0, 0.5)
    h = torch.randn(1, 4, dtype=torch.float64)
    q = iaf(h)
    eps = torch.randn(3, dtype=torch.float64)
    z = _chain(q, eps[None])
    jacobian = torch.autograd.functional.jacobian(lambda e: _chain(q, e[None])[0], eps)
    expected = (torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum()
                - torch.linalg.slogdet(jacobian)[1])
    torch.testing.assert_close(q.log_prob(z)[0], expected)  # value cached by the forward pass
    fresh = iaf(h)  # no cache: log_prob inverts the flow
    torch.testing.assert_close(fresh.log_prob(z.detach())[0], expected)
    assert jacobian.tril(-1).abs().sum() + jacobian.triu(1).abs().sum() > 0  # not elementwise


def test_iaf_samples_are_reparameterized():
    iaf = IAF(in_dim=4, dim=3, steps=2)
    h = torch.randn(6, 4, requires_grad=True)
    q = iaf(h)
    z = q.rsample()
    assert z.shape == (6, 3) and q.has_rsample
    (z.sum() + q.log_prob(z).sum()).backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0


def test_the_exp_scale_reads_a_log_variance_clipped_where_asked():
    torch.manual_seed(0)
    info = DataInfo((D,), binary=False)
    spec = {"latents": [{"name": "z", "dim": d}], "decoder": {"hidden": []},
            "likelihood": {"kind": "normal", "scale": S}}
    model = build(spec, info)
    h = torch.randn(7, D) * 20
    for clip in (None, [-6, 2]):
        guide = make_spec_encoder(model, info, hidden=[], scale="exp", logvar_clip=clip)
        head = guide.encoders["z"].head
        loc, logvar = head.linear(h).split(d, dim=-1)
        if clip is not None:
            logvar = logvar.clamp(*clip)
        q = head(h)
        torch.testing.assert_close(q.base_dist.loc, loc)
        torch.testing.assert_close(q.base_dist.scale, torch.exp(logvar / 2))
    assert q.base_dist.scale.min() >= torch.exp(torch.tensor(-3.0)) - 1e-6
    assert q.base_dist.scale.max() <= torch.exp(torch.tensor(1.0)) + 1e-6


@pytest.mark.parametrize("options, message", [
    ({"logvar_clip": [-6, 2]}, 'only guide.scale = "exp" has'),
    ({"scale": "exp", "logvar_clip": [2, -6]}, "two increasing numbers"),
    ({"scale": "exp", "logvar_clip": [1]}, "two increasing numbers"),
    ({"scale": "sqrt"}, "must be one of"),
    ({"family": "iaf", "scale": "exp"}, "apply to family 'diag', not 'iaf'"),
])
def test_scale_options_that_do_not_fit_are_refused(options, message):
    info = DataInfo((D,), binary=True)
    model = build({"latents": [{"name": "z", "dim": d}]}, info)
    with pytest.raises(pyrovae.ConfigError, match=message):
        make_spec_encoder(model, info, **options)


def test_the_mlp_normal_guide_takes_the_same_scale_options():
    from pyrovae.guides.mlp_normal import make_mlp_normal

    info = DataInfo((D,), binary=True)
    guide = make_mlp_normal(None, info, hidden=[3], latent_dim=d, scale="exp", logvar_clip=[-6, 2])
    head = guide.encoder.head
    assert (head.scale, head.logvar_clip) == ("exp", (-6.0, 2.0))
    with pytest.raises(pyrovae.ConfigError, match='only guide.scale = "exp" has'):
        make_mlp_normal(None, info, latent_dim=d, logvar_clip=[-6, 2])
