"""Pyro's VAE tutorial, trained by pyrovae.fit and scored by pyrovae.log_px."""

import warnings

import pyro
import torch
from reference import assert_trained, check_log_px
from vae import VAE, binary_images

import pyrovae

K = 1000


def test_the_tutorial_vae_trains_and_scores_like_the_per_particle_reference():
    torch.manual_seed(0)
    vae = VAE(z_dim=2, hidden_dim=32)
    data = binary_images(76, seed=0)
    train, test = data[:64], data[64:]
    # a few steps only: the guide stays close enough to the posterior for 1000 particles to
    # give an effective sample size near 100 (trained longer, it drops to a few)
    result = pyrovae.fit(vae.model, vae.guide, train, epochs=2, batch_size=16, lr=1e-3, seed=0)
    assert_trained(result)

    pyro.set_rng_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the vectorized layout holds: no fallback notice
        scored = pyrovae.log_px(vae.model, vae.guide, test, num_samples=K)
    check_log_px(scored, vae.model, vae.guide, test, num_samples=K, data_plate="data",
                 layout="vectorized")
    assert (scored.value < 0).all() and (scored.ess > 20).all()
