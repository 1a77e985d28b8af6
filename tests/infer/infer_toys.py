"""Toy models with a closed-form log p(x), and guides for them, for the tests of pyrovae.infer."""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from pyrovae.guides.ppca import PPCAPosterior
from pyrovae.models.ppca import PPCA

D = torch.float64


def ppca(num_data=200, data_dim=6, latent_dim=2):
    """A float64 PPCA model and data drawn from it."""
    model = PPCA(data_dim, latent_dim, init_scale=1.0, noise_scale=0.7).double()
    with torch.no_grad():
        model.b.normal_()
        x = model(batch_size=num_data)
    return model, x


def exact_ppca(model, x):
    with torch.no_grad():
        return model.exact_log_px(x)


class Chain(PyroModule):
    """z2 ~ N(0, I), z1 | z2 ~ N(A z2 + a, s1^2 I), x | z1 ~ N(B z1 + c, s^2 I)."""

    def __init__(self, d2=2, d1=3, data_dim=4, a_scale=0.5, s1=1.0):
        super().__init__()
        self.A = a_scale * torch.randn(d1, d2, dtype=D)
        self.a = torch.randn(d1, dtype=D)
        self.s1 = s1
        self.B = torch.randn(data_dim, d1, dtype=D)
        self.c = torch.randn(data_dim, dtype=D)
        self.s = 0.5

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        n = x.shape[0] if x is not None else batch_size
        with pyro.plate("data", n):
            prior = dist.Normal(torch.zeros(self.A.shape[1], dtype=D), 1.0).to_event(1)
            z2 = pyro.sample("z2", prior)
            z1 = pyro.sample("z1", dist.Normal(z2 @ self.A.T + self.a, self.s1).to_event(1))
            return pyro.sample("x", dist.Normal(z1 @ self.B.T + self.c, self.s).to_event(1), obs=x)

    def joint(self):
        """Mean and covariance of u = (z2, z1) under the prior, and H with x = H u + c + noise."""
        d1, d2 = self.A.shape
        mean = torch.cat([torch.zeros(d2, dtype=D), self.a])
        cov = torch.zeros(d1 + d2, d1 + d2, dtype=D)
        cov[:d2, :d2] = torch.eye(d2, dtype=D)
        cov[:d2, d2:] = self.A.T
        cov[d2:, :d2] = self.A
        cov[d2:, d2:] = self.A @ self.A.T + self.s1**2 * torch.eye(d1, dtype=D)
        H = torch.cat([torch.zeros(self.B.shape[0], d2, dtype=D), self.B], dim=1)
        return mean, cov, H

    def exact_log_px(self, x):
        mean, cov, H = self.joint()
        cov_x = H @ cov @ H.T + self.s**2 * torch.eye(H.shape[0], dtype=D)
        return dist.MultivariateNormal(H @ mean + self.c, cov_x).log_prob(x)

    def posterior(self, x):
        """Mean [N, d2 + d1] and covariance of p(z2, z1 | x)."""
        mean, cov, H = self.joint()
        precision = torch.linalg.inv(cov) + H.T @ H / self.s**2
        post_cov = torch.linalg.inv(precision)
        post_mean = (torch.linalg.solve(cov, mean) + (x - self.c) @ H / self.s**2) @ post_cov
        return post_mean, post_cov


class ChainGuide(PyroModule):
    """Mean-field guide: the exact posterior marginals of z1 and z2, std times ``std_factor``."""

    def __init__(self, model, std_factor=1.5, sites=("z1", "z2")):
        super().__init__()
        object.__setattr__(self, "model", model)
        self.std_factor = std_factor
        self.sites = sites

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        mean, cov = self.model.posterior(x)
        std = cov.diagonal().sqrt() * self.std_factor
        d2 = self.model.A.shape[1]
        parts = {"z2": slice(0, d2), "z1": slice(d2, None)}
        with pyro.plate("data", x.shape[0]):
            for name in self.sites:
                pyro.sample(name, dist.Normal(mean[:, parts[name]], std[parts[name]]).to_event(1))


class ChainPosterior(PyroModule):
    """The exact posterior: z2 ~ p(z2 | x), then z1 ~ p(z1 | z2, x)."""

    def __init__(self, model):
        super().__init__()
        object.__setattr__(self, "model", model)

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        mean, cov = self.model.posterior(x)
        d2 = self.model.A.shape[1]
        gain = torch.linalg.solve(cov[:d2, :d2], cov[:d2, d2:])
        cond_cov = cov[d2:, d2:] - cov[d2:, :d2] @ gain
        with pyro.plate("data", x.shape[0]):
            z2 = pyro.sample("z2", dist.MultivariateNormal(mean[:, :d2], cov[:d2, :d2]))
            cond_mean = mean[:, d2:] + (z2 - mean[:, :d2]) @ gain
            pyro.sample("z1", dist.MultivariateNormal(cond_mean, cond_cov))


class Mixture(PyroModule):
    """c ~ Categorical(pi), x | c ~ N(mu_c, sigma^2 I)."""

    def __init__(self, data_dim=2):
        super().__init__()
        self.logits = torch.tensor([0.3, -0.3], dtype=D)
        self.mu = torch.stack([-torch.ones(data_dim, dtype=D), torch.ones(data_dim, dtype=D)])
        self.sigma = 1.0

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        n = x.shape[0] if x is not None else batch_size
        with pyro.plate("data", n):
            c = pyro.sample("c", dist.Categorical(logits=self.logits))
            return pyro.sample("x", dist.Normal(self.mu[c], self.sigma).to_event(1), obs=x)

    def joint_log_prob(self, x):
        """[N, 2]: log p(c) + log p(x | c)."""
        log_pi = self.logits.log_softmax(-1)
        return log_pi + dist.Normal(self.mu, self.sigma).to_event(1).log_prob(x[:, None])

    def exact_log_px(self, x):
        return self.joint_log_prob(x).logsumexp(-1)


class MixtureGuide(PyroModule):
    """c ~ (1 - mix) p(c | x) + mix * uniform."""

    def __init__(self, model, mix=0.5):
        super().__init__()
        object.__setattr__(self, "model", model)
        self.mix = mix

    def forward(self, x=None, *args, batch_size=None, **kwargs):
        posterior = self.model.joint_log_prob(x).softmax(-1)
        probs = (1 - self.mix) * posterior + self.mix / 2
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Categorical(probs=probs))


class LabeledPPCA(PyroModule):
    """PPCA whose mean depends on a label: x | z, y ~ N(W z + b + E_y, s^2 I)."""

    def __init__(self, num_classes=3, data_dim=5, latent_dim=2):
        super().__init__()
        self.ppca = PPCA(data_dim, latent_dim, init_scale=1.0, noise_scale=0.7).double()
        self.E = 2 * torch.randn(num_classes, data_dim, dtype=D)

    def forward(self, x=None, y=None, *args, batch_size=None, **kwargs):
        n = x.shape[0] if x is not None else batch_size
        with pyro.plate("data", n):
            z = pyro.sample("z", self.ppca.prior_dist())
            loc = z @ self.ppca.W.T + self.ppca.b + self.E[y]
            return pyro.sample("x", dist.Normal(loc, self.ppca.log_s.exp()).to_event(1), obs=x)

    def exact_log_px(self, x, y):
        with torch.no_grad():
            return self.ppca.marginal_dist().log_prob(x - self.E[y])


class LabeledGuide(PyroModule):
    def __init__(self, model, std_factor=1.3):
        super().__init__()
        object.__setattr__(self, "model", model)
        self.inner = PPCAPosterior(model.ppca, std_factor=std_factor)

    def forward(self, x=None, y=None, *args, batch_size=None, **kwargs):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", self.inner.posterior_dist(x - self.model.E[y]))


def mean_error_bound(stderr, num_data):
    """Bound on the mean error of ``num_data`` independent estimates with these stderrs: 3
    standard deviations of the mean, plus the delta method's bias ``E[stderr^2] / 2`` of the log
    of a mean."""
    variance = (stderr**2).mean().item()
    return 3 * math.sqrt(variance / num_data) + variance / 2
