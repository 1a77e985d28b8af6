"""site_log_prob: a site's log-density as Pyro scores it, the one place that computes it; the
data plate found by its size."""

import contextlib

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyrovae.base.errors import ModelGuideError
from pyrovae.infer.sites import (
    find_data_plate,
    observed_sites,
    per_datapoint_log_prob,
    sample_sites,
    site_log_prob,
)

MASK = torch.tensor([True, False, True, True])


def model(x):
    with pyro.plate("data", 4, dim=-2):
        with pyro.plate("pixels", 3, dim=-1), poutine.scale(scale=0.25):
            z = pyro.sample("z", dist.Normal(torch.zeros(4, 3), 1.0))
        pyro.deterministic("twice", 2 * z)
        with poutine.mask(mask=MASK.unsqueeze(-1)):
            pyro.sample("x", dist.Normal(z, 0.5).to_event(1), obs=x)


def trace():
    return poutine.trace(model).get_trace(torch.randn(4, 3))


def test_scaled_and_masked_as_pyro_scores_it_bit_for_bit():
    tr = trace()
    sites = sample_sites(tr)
    ours = {name: site_log_prob(site) for name, site in sites.items()}
    tr.compute_log_prob()
    for name in sites:
        assert torch.equal(ours[name], tr.nodes[name]["log_prob"]), name
        assert torch.equal(site_log_prob(sites[name], sum_dims=None),
                           tr.nodes[name]["log_prob_sum"]), name


def test_unscaled_keeps_the_mask_and_drops_the_scale():
    tr = trace()
    z, x = tr.nodes["z"], tr.nodes["x"]
    assert torch.equal(site_log_prob(z, scaled=False), z["fn"].log_prob(z["value"]))
    unmasked = x["fn"].log_prob(x["value"])
    assert torch.equal(site_log_prob(x, scaled=False), torch.where(MASK[:, None], unmasked, 0.0))


def test_sum_dims_skips_dims_the_log_density_lacks():
    tr = trace()
    z, x = tr.nodes["z"], tr.nodes["x"]
    assert site_log_prob(z, (-1,)).shape == (4,)
    assert torch.equal(site_log_prob(x, (-3, -1)), site_log_prob(x).sum(-1))  # x: batch (4, 1)
    assert site_log_prob(z, sum_dims=None).shape == ()


def test_a_traced_log_prob_is_read_not_recomputed():
    tr = trace()
    tr.compute_log_prob()
    z = tr.nodes["z"]
    z["log_prob"] = torch.full((4, 3), 7.0)  # what the trace holds is what is summed
    assert site_log_prob(z, sum_dims=None).item() == 84.0
    assert not torch.equal(site_log_prob(z, scaled=False), z["log_prob"])


def test_per_datapoint_log_prob_is_float64_particles_by_data_points():
    tr = trace()
    z, x = tr.nodes["z"], tr.nodes["x"]
    lp = per_datapoint_log_prob(z, particle_dim=-3, data_plate="data")
    assert lp.dtype == torch.float64 and lp.shape == (1, 4)
    assert torch.equal(lp, z["fn"].log_prob(z["value"]).double().sum(-1)[None])
    assert per_datapoint_log_prob(x, -3, "data")[0, 1] == 0.0  # masked out


def test_observed_sites_leave_out_deterministic_ones():
    assert list(observed_sites(trace())) == ["x"]


@pytest.mark.parametrize("args", [(), (torch.tensor(2.0),)])
def test_the_sample_statements_arguments_reach_log_prob(args):
    class Tempered(dist.Normal):
        def log_prob(self, value, temperature=1.0):
            return super().log_prob(value) / temperature

    def program():
        pyro.sample("y", Tempered(0.0, 1.0), *args, obs=torch.tensor(0.5))

    tr = poutine.trace(program).get_trace()
    ours = site_log_prob(tr.nodes["y"])
    tr.compute_log_prob()
    assert torch.equal(ours, tr.nodes["y"]["log_prob"])


def _observing(plates, shape=(4, 3)):
    """A model observing x of ``shape`` inside ``plates``: ``(name, size, dim)``."""

    def model(x):
        with contextlib.ExitStack() as stack:
            for name, size, dim in plates:
                stack.enter_context(pyro.plate(name, size, dim=dim))
            pyro.sample("x", dist.Normal(torch.zeros(shape), 1.0), obs=x)

    return poutine.trace(model).get_trace(torch.zeros(shape))


def test_the_data_plate_is_found_by_its_size_whatever_its_name():
    assert find_data_plate(_observing([("documents", 4, -2), ("words", 3, -1)]), 4) == \
        "documents"
    assert find_data_plate(_observing([("data", None, -2)]), 4) == "data"  # unsized
    with pytest.raises(ModelGuideError, match="several plates .*'a', 'b'.*data_plate="):
        find_data_plate(_observing([("a", 4, -2), ("b", 4, -1)], (4, 4)), 4)
    # the only plate there, though of the wrong size: check_structure says what is wrong
    assert find_data_plate(_observing([("documents", 4, -2)]), 5) == "documents"
    with pytest.raises(ModelGuideError, match="no plate over its 5 data points"):
        find_data_plate(_observing([("documents", 4, -2), ("words", 3, -1)]), 5)
