import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrovae.base.errors import ConfigError, DataError
from pyrovae.checks import check_fits, observed_sites_on
from pyrovae.data import DataInfo
from pyrovae.registry import get_model


def vae(likelihood="bernoulli", width=6):
    return get_model("vae").factory(DataInfo((width,), binary=True), latent_dim=2, hidden=[4],
                                    likelihood=likelihood)


def grayscale(n=10, width=6):
    return torch.rand(n, width, generator=torch.Generator().manual_seed(0))


def refusal(model, data, name="vae", **dataset) -> str:
    with pytest.raises(DataError) as info:
        check_fits(model, name, "train", data, **dataset)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bernoulli_refusal_for_a_file_names_no_option_the_file_dataset_lacks():
    message = refusal(vae(), grayscale(), dataset="file")
    assert "outside the support" in message and "Bernoulli" in message
    assert "dynamic_binarize" not in message
    assert 'model.likelihood = "normal"' in message and "torch.bernoulli(x)" in message


def test_bernoulli_refusal_for_mnist_names_dynamic_binarization():
    message = refusal(vae(), grayscale(), dataset="mnist")
    assert "data.dynamic_binarize = true" in message and 'model.likelihood = "normal"' in message


def test_bernoulli_refusal_without_a_dataset_names_no_data_option():
    message = refusal(vae(), grayscale())
    assert "data." not in message and 'model.likelihood = "normal"' in message


class Fixed(torch.nn.Module):
    """A user's model of fixed width whose Bernoulli validates its values; counts its calls."""

    def __init__(self, width, family=dist.Bernoulli, error=None):
        super().__init__()
        self.width, self.family, self.error, self.calls = width, family, error, 0

    def forward(self, x):
        self.calls += 1
        if self.error is not None:
            raise self.error
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            logits = z.sum(-1, keepdim=True).expand(-1, self.width)
            d = self.family(logits=logits, validate_args=True).to_event(1)
            return pyro.sample("x", d, obs=x)


def test_validating_likelihood_reports_the_support_not_the_shape():
    model = Fixed(6)
    message = refusal(model, grayscale(), name="my_model.py:build", dataset="file")
    assert "outside the support" in message and "cannot take" not in message
    assert "model.likelihood" not in message and "give model 'my_model.py:build'" in message
    assert model.calls == 1


def test_shape_mismatch_is_one_line_and_names_both_shapes():
    message = refusal(Fixed(10), grayscale().round(), dataset="file")
    assert "cannot take the train data of shape (10, 6)" in message
    assert "torch.Size([2, 6]) vs torch.Size([2, 10])" in message and "Trace Shapes" not in message
    assert "log-density of site 'x'" in message and ".." not in message


def test_our_own_errors_from_the_model_pass_unchanged():
    error = ConfigError("model.thing = 3 is not valid. Choose one of: 1, 2.")
    with pytest.raises(ConfigError) as info:
        check_fits(Fixed(6, error=error), "m", "train", grayscale().round())
    assert info.value is error and "\n" not in str(info.value)


class Refusing(dist.Normal):
    def log_prob(self, value):
        raise DataError("refused by the likelihood. Fix it.")


def test_our_own_errors_from_a_log_density_pass_unchanged():
    def model(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", Refusing(0.0, 1.0).expand(x.shape).to_event(1), obs=x)

    with pytest.raises(DataError) as info:
        check_fits(model, "m", "train", grayscale())
    assert str(info.value) == "refused by the likelihood. Fix it."


def test_values_outside_an_interval_are_not_told_to_binarize():
    model = Fixed(6, family=dist.ContinuousBernoulli)
    message = refusal(model, 255 * grayscale(), name="m.py:build", dataset="mnist")
    assert "ContinuousBernoulli" in message and "Transform the data into" in message
    assert "binarize" not in message


def test_data_that_fit_pass():
    check_fits(vae(), "vae", "train", grayscale().round(), dataset="file")
    check_fits(vae("normal"), "vae", "train", grayscale(), dataset="file")


def test_observed_sites_on_a_batch_leave_out_deterministic_sites():
    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.deterministic("code", z.sum(-1), event_dim=0)
            pyro.sample("x", dist.Normal(z.sum(-1, keepdim=True), 1.0).to_event(1), obs=x)

    assert list(observed_sites_on(model, grayscale()[:, :1])) == ["x"]


def test_a_prodlda_style_multinomial_with_documents_of_different_lengths_trains():
    """ProdLDA as Pyro's tutorial writes it: the Multinomial's total_count is the longest
    document of the batch, so the first two documents' support says nothing of the others."""
    import pyro
    import pyro.distributions as dist
    from torch import nn

    import pyrovae

    torch.manual_seed(0)
    vocab, topics = 12, 3
    decoder, encoder = nn.Linear(topics, vocab), nn.Linear(vocab, 2 * topics)

    def model(docs):
        pyro.module("decoder", decoder)
        with pyro.plate("documents", docs.shape[0]):
            theta = pyro.sample("theta", dist.Normal(torch.zeros(docs.shape[0], topics), 1.0)
                                .to_event(1))
            probs = torch.softmax(decoder(theta), -1)
            total = int(docs.sum(-1).max())
            pyro.sample("obs", dist.Multinomial(total, probs, validate_args=False), obs=docs)

    def guide(docs):
        pyro.module("encoder", encoder)
        with pyro.plate("documents", docs.shape[0]):
            loc, raw = encoder(docs).split(topics, -1)
            pyro.sample("theta", dist.Normal(loc, nn.functional.softplus(raw)).to_event(1))

    lengths = torch.tensor([3, 4] + [20] * 18)  # the first two documents are the shortest
    docs = torch.stack([torch.bincount(torch.randint(vocab, (int(n),)), minlength=vocab)
                        for n in lengths]).float()
    result = pyrovae.fit(model, guide, docs, epochs=1, batch_size=10)
    assert len(result.history) == 1


class Conditional(torch.nn.Module):
    """p(y | x): a Bernoulli over y whose logits read a real-valued input x of y's width, the
    pixels where ``y == -1`` masked out when ``masked``, as Pyro's CVAE does."""

    def __init__(self, masked=False):
        super().__init__()
        self.masked = masked

    def forward(self, x, y):
        with pyro.plate("data", x.shape[0]):
            likelihood = dist.Bernoulli(logits=x)
            if self.masked:
                likelihood = likelihood.mask(y != -1)
            return pyro.sample("y", likelihood.to_event(1), obs=y)


def test_the_support_is_checked_on_the_argument_a_site_observes_and_not_where_masked():
    x = grayscale()  # the input: real values, not the observed site's
    y = (grayscale() > 0.5).float()
    check_fits(Conditional(), "cvae", "train", x, y)
    masked = y.clone()
    masked[3, :2] = -1
    check_fits(Conditional(masked=True), "cvae", "train", x, masked)
    y_bad = y.clone()
    y_bad[4, 1] = 0.5
    with pytest.raises(DataError, match=r"the train data's argument 2 have values outside the "
                                        r"support .* 1 of 10 data points, e.g. point 4 holds 0.5"):
        check_fits(Conditional(), "cvae", "train", x, y_bad)
