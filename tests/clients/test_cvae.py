"""Pyro's conditional VAE, trained by pyrovae.fit on (input, target) pairs and scored by
pyrovae.log_px as log p(target | input), the input's own pixels left out of the likelihood."""

import warnings

import pyro
import pytest
import torch
from cvae import CVAE, BaselineNet, quadrant_data, train_baseline
from reference import assert_trained, check_log_px
from vae import binary_images

import pyrovae

K = 1000

@pytest.mark.parametrize("masked, layout", [
    # fit's data check leaves the masked pixels (-1) out, and checks the target, not the input
    pytest.param(True, "vectorized", id="mask"),
    # the example's boolean indexing picks the pixels out of a [N, 784] loc: under a particle
    # plate the [N, 784] index does not fit [particles, N, 784], so the batch layout runs
    pytest.param(False, "batch", id="boolean_index"),
])
def test_the_cvae_trains_on_quadrants_and_scores_like_the_reference(masked, layout):
    torch.manual_seed(0)
    inputs, targets = quadrant_data(binary_images(76, seed=0))
    baseline = train_baseline(BaselineNet(32, 32), inputs[:64], targets[:64])
    before = {name: p.clone() for name, p in baseline.state_dict().items()}
    cvae = CVAE(2, 32, 32, baseline, masked=masked)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the boolean index: no recorded steps to replay
        result = pyrovae.fit(cvae.model, cvae.guide, (inputs[:64], targets[:64]), epochs=2,
                             batch_size=16, lr=1e-3, seed=0)
    assert_trained(result)
    # the model runs the baseline under torch.no_grad(): training leaves it as it was
    assert all(torch.equal(p, before[name]) for name, p in baseline.state_dict().items())

    xs, ys = inputs[64:], targets[64:]
    pyro.set_rng_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = pyrovae.log_px(cvae.model, cvae.guide, xs, ys, num_samples=K)
    notices = [str(w.message) for w in caught if "particles of log p(x)" in str(w.message)]
    assert len(notices) == (layout != "vectorized")
    check_log_px(scored, cvae.model, cvae.guide, xs, ys, num_samples=K, data_plate="data",
                 layout=layout)
    # three quadrants (588 pixels) are scored, the input's quadrant not
    assert (scored.value < 0).all() and (scored.value > -588 * 2).all()


def test_the_masked_likelihood_is_scored_as_the_boolean_index_scores_it():
    """Past fit's check, log_px takes the masked form: trained in the example's form, the same
    weights score log p(ys | xs) vectorized with the mask, as the reference does."""
    torch.manual_seed(0)
    inputs, targets = quadrant_data(binary_images(76, seed=0))
    cvae = CVAE(2, 32, 32, train_baseline(BaselineNet(32, 32), inputs[:64], targets[:64]),
                masked=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyrovae.fit(cvae.model, cvae.guide, (inputs[:64], targets[:64]), epochs=2,
                    batch_size=16, lr=1e-3, seed=0)
    xs, ys = inputs[64:], targets[64:]
    pyro.set_rng_seed(0)
    indexed = pyrovae.log_px(cvae.model, cvae.guide, xs, ys, num_samples=50, particles="loop")
    cvae.masked = True
    pyro.set_rng_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masked = pyrovae.log_px(cvae.model, cvae.guide, xs, ys, num_samples=K)
    assert masked.layout == "vectorized"
    check_log_px(masked, cvae.model, cvae.guide, xs, ys, num_samples=K, data_plate="data",
                 layout="vectorized")
    # the same draws, one particle at a time: both forms give the same log weights
    pyro.set_rng_seed(0)
    looped = pyrovae.log_px(cvae.model, cvae.guide, xs, ys, num_samples=50, particles="loop")
    torch.testing.assert_close(looped.value, indexed.value)
