"""Particle layouts: the vectorized layout is checked on the user's program, and a program
written for [batch, features] tensors falls back to a layout that computes what it means."""

import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyrovae import log_px
from pyrovae.infer import active_units, rate_distortion
from pyrovae.base.errors import ModelGuideError
from pyrovae.infer import particles


class SoftmaxModel(nn.Module):
    """z ~ N(0, I), x ~ Categorical(softmax(W z + b, dim=1)): written for z of shape [batch, 3];
    under a particle plate, dim 1 is the data points."""

    def __init__(self, normalize_dim=1):
        super().__init__()
        self.linear = nn.Linear(3, 5)
        self.normalize_dim = normalize_dim

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))
            probs = torch.softmax(self.linear(z), dim=self.normalize_dim)
            pyro.sample("x", dist.Categorical(probs=probs), obs=x)


class Guide(nn.Module):
    """q(z | x) = N(m(x), 1) with m(x) near zero: close to the prior, so that 4000 particles
    estimate log p(x) to about 0.02 nats."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Embedding(5, 3)
        nn.init.normal_(self.loc.weight, std=0.1)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.loc(x), 1.0).to_event(1))


class BatchNormModel(nn.Module):
    """A decoder with a BatchNorm1d (in eval mode) between its layers, as scANVI and ProdLDA
    write them: it takes [batch, features] only."""

    def __init__(self):
        super().__init__()
        self.decoder = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Tanh(),
                                     nn.Linear(8, 4))

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)


class BernoulliGuide(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(4, 6)

    def forward(self, x):
        loc, raw = self.net(x).split(3, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 0.1).to_event(1))


def _softmax_pair(seed=0):
    torch.manual_seed(seed)
    return SoftmaxModel(), Guide(), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])


def _score(model, guide, x, **kwargs):
    pyro.set_rng_seed(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = log_px(model, guide, x, num_samples=1000, **kwargs)
    notices = [str(w.message) for w in caught if "particles of log p(x)" in str(w.message)]
    return result, notices


def _close(a, b):
    """Within 5 standard errors of the difference of two independent estimates."""
    se = (a.stderr ** 2 + b.stderr ** 2).sqrt()
    return bool(((a.value - b.value).abs() <= 5 * se + 1e-6).all())


def test_softmax_over_dim_1_is_scored_as_written_not_over_the_batch():
    model, guide, x = _softmax_pair()
    checked, notices = _score(model, guide, x)
    loop, _ = _score(model, guide, x, particles="loop")
    vectorized, _ = _score(model, guide, x, particles="vectorized")
    assert checked.layout == "batch" and loop.layout == "loop"
    assert len(notices) == 1 and "\n" not in notices[0] and "batch layout" in notices[0]
    assert "differ from those of one particle at a time" in notices[0]
    assert _close(checked, loop)
    # the vectorized run normalizes over the data points: a wrong number, now refused
    assert not _close(vectorized, loop)


def test_a_model_written_for_particles_keeps_the_vectorized_layout_silently():
    torch.manual_seed(0)
    model, guide = SoftmaxModel(normalize_dim=-1), Guide()
    result, notices = _score(model, guide, torch.tensor([0, 1, 2, 3]))
    assert result.layout == "vectorized" and notices == []


def test_a_batchnorm_decoder_in_eval_mode_scores_in_the_batch_layout():
    torch.manual_seed(0)
    model, guide = BatchNormModel().eval(), BernoulliGuide()
    x = torch.bernoulli(torch.full((6, 4), 0.4))
    checked, notices = _score(model, guide, x)
    loop, _ = _score(model, guide, x, particles="loop")
    assert checked.layout == "batch" and "vectorized layout raised RuntimeError" in notices[0]
    assert torch.isfinite(checked.value).all() and _close(checked, loop)


@pytest.mark.parametrize("layout", particles.LAYOUTS)
def test_every_layout_gives_the_same_numbers_on_a_model_that_supports_all(layout):
    torch.manual_seed(0)
    model, guide = SoftmaxModel(normalize_dim=-1), Guide()
    x = torch.tensor([0, 1, 2, 3, 4])
    forced, notices = _score(model, guide, x, particles=layout)
    reference, _ = _score(model, guide, x, particles="loop")
    assert forced.layout == layout and notices == [] and _close(forced, reference)
    # exactly the same log weights where the guide draws nothing: a point mass
    def delta_guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Delta(guide.loc(x)).to_event(1))
    exact = log_px(model, delta_guide, x, num_samples=7, particles=layout).value
    torch.testing.assert_close(exact, log_px(model, delta_guide, x, num_samples=7,
                                             particles="loop").value)


def test_the_batch_layout_is_refused_with_a_latent_outside_the_data_plate():
    def model(x):
        scale = pyro.sample("scale", dist.LogNormal(0.0, 1.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(0.0, scale), obs=x)

    def guide(x):
        pyro.sample("scale", dist.LogNormal(0.0, 0.5))

    x = torch.randn(5)
    with pytest.raises(ModelGuideError, match="outside the data plate"):
        log_px(model, guide, x, num_samples=10, particles="batch")
    assert log_px(model, guide, x, num_samples=10).layout == "vectorized"


def test_a_layout_name_is_checked_before_any_work():
    model, guide, x = _softmax_pair()
    with pytest.raises(ValueError, match="particles must be one of"):
        log_px(model, guide, x, num_samples=10, particles="tiles")
    with pytest.raises(ValueError, match="AIS runs its chains vectorized"):
        log_px(model, guide, x.float(), num_samples=10, method="ais", particles="loop")


def test_evaluation_runs_modules_in_eval_mode_and_gives_their_modes_back():
    torch.manual_seed(0)

    class DropoutModel(SoftmaxModel):
        def __init__(self):
            super().__init__(normalize_dim=-1)
            self.dropout = nn.Dropout(0.5)
            self.norm = nn.BatchNorm1d(3)

        def forward(self, x):
            with pyro.plate("data", x.shape[0]):
                z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))
                logits = self.linear(self.dropout(self.norm(z.reshape(-1, 3)).reshape(z.shape)))
                pyro.sample("x", dist.Categorical(logits=logits), obs=x)

    model, guide, x = DropoutModel(), Guide(), torch.tensor([0, 1, 2, 3])
    running = model.norm.running_mean.clone()
    pyro.set_rng_seed(0)
    left_training = log_px(model, guide, x, num_samples=50).value
    assert model.training and model.dropout.training and guide.training  # given back
    assert torch.equal(model.norm.running_mean, running)  # batch statistics not written
    model.eval()
    pyro.set_rng_seed(0)
    torch.testing.assert_close(left_training, log_px(model, guide, x, num_samples=50).value)
    assert not model.training


def test_an_unsized_data_plate_scores_as_a_sized_one():
    """Pyro's SS-VAE and CVAE examples open ``pyro.plate("data")`` without a size."""
    torch.manual_seed(0)
    model, guide, x = SoftmaxModel(normalize_dim=-1), Guide(), torch.tensor([0, 1, 2, 3])

    def model_unsized(x):
        with pyro.plate("data"):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Categorical(logits=model.linear(z)), obs=x)

    def guide_unsized(x):
        with pyro.plate("data"):
            pyro.sample("z", dist.Normal(guide.loc(x), 1.0).to_event(1))

    pyro.set_rng_seed(0)
    ours = log_px(model_unsized, guide_unsized, x, num_samples=200)
    pyro.set_rng_seed(0)
    sized = log_px(model, guide, x, num_samples=200)
    assert ours.layout == "vectorized"
    torch.testing.assert_close(ours.value, sized.value)


def test_per_point_arguments_may_come_as_one_tuple_as_fit_takes_them():
    model, guide, x = _softmax_pair()
    pyro.set_rng_seed(0)
    apart = log_px(model, guide, x, num_samples=20, particles="loop").value
    pyro.set_rng_seed(0)
    together = log_px(model, guide, (x,), num_samples=20, particles="loop").value
    torch.testing.assert_close(apart, together)


class SoftmaxGuide(nn.Module):
    """q(z1 | x) = N(e(x), 1), q(z2 | z1) = N(softmax(W z1, dim=1), 0.1): the mean of z2
    written for z1 of shape [batch, 3]."""

    def __init__(self):
        super().__init__()
        self.embed, self.linear = nn.Embedding(5, 3), nn.Linear(3, 3)
        nn.init.normal_(self.embed.weight, std=2.0)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z1 = pyro.sample("z1", dist.Normal(self.embed(x), 1.0).to_event(1))
            pyro.sample("z2", dist.Normal(torch.softmax(self.linear(z1), dim=1), 0.1)
                        .to_event(1))


def test_estimators_that_need_vectorized_particles_refuse_a_program_that_mixes_them():
    """AIS and the analytic KL read one vectorized run: a softmax over dim 1 is refused with
    one line instead of scored over the batch."""
    model, guide, x = _softmax_pair()
    pyro.set_rng_seed(0)
    with pytest.raises(ModelGuideError, match=r"^AIS \(and BDMC\) runs its chains in one "
                                             r"vectorized run, but the vectorized layout's log"):
        log_px(model, guide, x, method="ais", num_samples=4, steps=3)
    with pytest.raises(ModelGuideError, match="^analytic_kl reads the distributions of one"):
        rate_distortion(model, guide, x, num_samples=4, analytic_kl=True)
    well_written = SoftmaxModel(normalize_dim=-1)
    assert log_px(well_written, guide, x, method="ais", num_samples=4, steps=3).value.shape == (8,)


def test_active_units_checks_the_guides_layout_and_finds_its_data_plate():
    """E[z2 | x] = E[softmax(W z1, dim=1)] under a particle plate would normalize over the data
    points; the checked layout gives the variance of the true means (here by 20000 draws of z1
    per point, written out)."""
    torch.manual_seed(0)
    guide, x = SoftmaxGuide(), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2, 3])
    with torch.no_grad():
        z1 = guide.embed(x) + torch.randn(20000, len(x), 3)
        exact = torch.softmax(guide.linear(z1), dim=-1).mean(0).double().var(0)
    pyro.set_rng_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        units = active_units(guide, x, num_samples=400)  # no data_plate: found by its size
    assert units.layout == "batch"
    assert [str(w.message) for w in caught] == [
        "pyrovae: the particles of active_units run in the batch layout: the vectorized "
        "layout's log weights differ from those of one particle at a time."]
    assert torch.allclose(units.variance["z2"], exact, atol=2e-3)
    looped = active_units(guide, x, num_samples=400, particles="loop")
    assert torch.allclose(looped.variance["z2"], exact, atol=2e-3)
    forced = active_units(guide, x, num_samples=400, particles="vectorized")
    assert not torch.allclose(forced.variance["z2"], exact, atol=2e-2)
