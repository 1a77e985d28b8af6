"""Pyro's semi-supervised VAE (M2), trained by pyrovae.fit and scored by pyrovae.log_px: with
the labels given, and with the label summed out by TraceEnum_ELBO in training (and sampled from
q(y | x) by the importance sampler)."""

import warnings

import pyro
import torch
from pyro.infer import config_enumerate
from reference import assert_trained, check_log_px
from ss_vae import SSVAE, labelled_images

import pyrovae

K = 1000


def _data():
    xs, ys = labelled_images(76, seed=0)
    return (xs[:64], ys[:64]), (xs[64:], ys[64:])


def test_with_labels_scores_log_p_of_x_and_y_like_the_reference():
    torch.manual_seed(0)
    ss_vae = SSVAE(z_dim=2, hidden_layers=(32,))
    train, (xs, ys) = _data()
    result = pyrovae.fit(ss_vae.model, ss_vae.guide, train, epochs=2, batch_size=16, lr=1e-3,
                         seed=0)
    assert_trained(result)

    pyro.set_rng_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = pyrovae.log_px(ss_vae.model, ss_vae.guide, xs, ys, num_samples=K)
    # the decoder concatenates z [particles, N, z_dim] with the given ys [N, 10]: the example's
    # MLP broadcasts only for enumeration, so the vectorized layout raises and the batch one runs
    notices = [str(w.message) for w in caught if "particles of log p(x)" in str(w.message)]
    assert len(notices) == 1 and "vectorized layout raised RuntimeError" in notices[0]
    check_log_px(scored, ss_vae.model, ss_vae.guide, xs, ys, num_samples=K, data_plate="data",
                 layout="batch")


def test_with_the_label_enumerated_in_training_and_sampled_when_scoring():
    torch.manual_seed(0)
    ss_vae = SSVAE(z_dim=2, hidden_layers=(32,), config_enum="parallel")
    guide = config_enumerate(ss_vae.guide, "parallel", expand=True)
    (xs_train, _), (xs, _) = _data()
    with warnings.catch_warnings():
        # Pyro warns "If you want to enumerate sites, you need to use TraceEnum_ELBO" when an
        # enumerated guide meets another ELBO: that would fail here
        warnings.simplefilter("error")
        result = pyrovae.fit(ss_vae.model, guide, xs_train, epochs=2, batch_size=16, lr=1e-3,
                             loss="trace_enum_elbo", seed=0)
    assert_trained(result)

    pyro.set_rng_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # broadcasting MLPs: the vectorized layout holds
        scored = pyrovae.log_px(ss_vae.model, guide, xs, num_samples=K)
    # the reference runs the same enumerated guide: outside TraceEnum_ELBO nothing enumerates
    # its label, so every particle samples y ~ q(y | x) (the reference raises otherwise)
    check_log_px(scored, ss_vae.model, guide, xs, num_samples=K, data_plate="data",
                 layout="vectorized")
