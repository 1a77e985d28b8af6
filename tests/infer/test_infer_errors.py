"""ModelGuideError messages name the plate or site at fault."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from infer_toys import Chain, ChainGuide, ppca

from pyrovae.guides.ppca import PPCAPosterior
from pyrovae.base.errors import ConfigError, DataError, ModelGuideError
from pyrovae.infer import active_units, log_px, rate_distortion


def test_the_data_plate_is_found_or_named():
    def model(x):
        with pyro.plate("batch", x.shape[0]):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("batch", x.shape[0]):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    found = log_px(model, guide, torch.zeros(4), num_samples=3)
    assert found.data_plate == "batch" and found.value.shape == (4,)
    with pytest.raises(ModelGuideError, match="no plate named 'data'.*'batch'"):
        log_px(model, guide, torch.zeros(4), num_samples=3, data_plate="data")

    def unplated(x):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0).expand([4]).to_event(1), obs=x)

    with pytest.raises(ModelGuideError, match="no plate over its 4 data points"):
        log_px(unplated, lambda x: pyro.sample("z", dist.Normal(0.0, 1.0)), torch.zeros(4),
               num_samples=3)


def test_guide_misses_a_latent_site():
    model = Chain()
    x = torch.zeros(5, 4, dtype=torch.float64)
    with pytest.raises(ModelGuideError, match="does not sample latent site.*'z2'"):
        log_px(model, ChainGuide(model, sites=("z1",)), x, num_samples=3)


def test_guide_samples_a_site_the_model_lacks():
    model, x = ppca(num_data=5)
    exact = PPCAPosterior(model)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", exact.posterior_dist(x))
            pyro.sample("extra", dist.Normal(torch.zeros(x.shape[0], dtype=x.dtype), 1.0))

    with pytest.raises(ModelGuideError, match="'extra'.*model does not have"):
        rate_distortion(model, guide, x, num_samples=3)


def test_observed_data_do_not_match_the_plate():
    def model(x):
        with pyro.plate("data", 7):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z.unsqueeze(-1), 1.0).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("data", 7):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(ModelGuideError, match=r"'x' has 10 entries.*plate has size 7"):
        log_px(model, guide, torch.zeros(10, 1), num_samples=3)


def test_plate_size_differs_from_the_number_of_rows():
    def model(x):
        with pyro.plate("data", 7):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=x[:7])

    with pytest.raises(ModelGuideError, match="size 7 .*10 rows"):
        log_px(model, None, torch.zeros(10), num_samples=3, proposal="prior")


def test_latent_site_outside_the_plate_in_the_guide_only():
    model, x = ppca(num_data=5)

    def guide(x):
        pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2, dtype=x.dtype), 1.0).to_event(2))

    with pytest.raises(ModelGuideError, match="'z' is inside plate 'data' in the model but outside"):
        log_px(model, guide, x, num_samples=3)


def test_active_units_need_the_guide_data_plate():
    model, x = ppca(num_data=5)
    with pytest.raises(ModelGuideError, match="guide has no plate named 'batch'.*'data'"):
        active_units(PPCAPosterior(model), x, data_plate="batch")


class Tiny(torch.nn.Module):
    """z ~ N(0, I_2), x ~ N(W z, I_3): a model that says what it takes."""

    event_shape = (3,)

    def __init__(self):
        super().__init__()
        self.decode = torch.nn.Linear(2, 3)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(self.decode.weight.new_zeros(x.shape[0], 2), 1.0)
                            .to_event(1))
            pyro.sample("x", dist.Normal(self.decode(z), 1.0).to_event(1), obs=x)


class TinyGuide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encode = torch.nn.Linear(3, 2)

    def forward(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.encode(x), 1.0).to_event(1))


def test_a_model_that_observes_nothing_has_no_log_px():
    def model(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))

    for proposal, guide in (("guide", model), ("prior", None)):
        with pytest.raises(ModelGuideError, match="the model observes nothing, so there is no "
                                                 "log p\\(x\\): observe the data with `pyro"):
            log_px(model, guide, torch.zeros(4), num_samples=3, proposal=proposal)


@pytest.mark.parametrize("x, given", [
    (torch.zeros(4, 5), r"x of shape \(4, 5\) and dtype torch.float32"),
    (torch.zeros(4, 3, dtype=torch.float64), r"x of shape \(4, 3\) and dtype torch.float64"),
    (torch.zeros(4, 3, dtype=torch.int64), r"x of shape \(4, 3\) and dtype torch.int64"),
])
def test_data_the_model_cannot_take_are_named_with_what_it_takes(x, given):
    expected = (r" \(the model takes data points of shape \(3,\) and has torch.float32 "
                r"parameters; the guide has torch.float32 parameters\): RuntimeError: mat1")
    with pytest.raises(DataError, match=f"^the model and guide cannot run on {given}{expected}") \
            as error:
        log_px(Tiny(), TinyGuide(), x, num_samples=3)
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match=f"^the guide cannot run on {given} \\(the guide has"):
        active_units(TinyGuide(), x)


def test_a_shape_only_the_densities_reveal_is_found_before_the_tiles_run():
    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 3), 1.0).to_event(1))

    with pytest.raises(DataError, match=r"^the model and guide cannot run on x of shape \(4, 5\) "
                                        r"and dtype torch.float32: ValueError: Value is not") \
            as error:
        log_px(model, guide, torch.zeros(4, 5), num_samples=3)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_data_holding_nan_or_inf_are_refused(bad):
    x = torch.zeros(4, 3)
    x[2, 1] = bad
    with pytest.raises(DataError, match=r"^x holds NaN or Inf in 1 of 4 data points \(the first "
                                        r"is row 2\)\. Remove those points"):
        log_px(Tiny(), TinyGuide(), x, num_samples=3)


@pytest.mark.parametrize("settings", [
    dict(num_samples=0), dict(batch_size=-1), dict(method="mcmc"), dict(ks=[0]),
    dict(method="ais", step_size=0.0), dict(method="ais", target_accept=1.5),
])
def test_bad_settings_of_log_px_are_config_errors_as_in_evaluate(settings):
    model, x = ppca(num_data=3)
    with pytest.raises(ConfigError):
        log_px(model, PPCAPosterior(model), x, **settings)
