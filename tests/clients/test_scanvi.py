"""Pyro's scANVI (with its labels given), trained by pyrovae.fit and scored by pyrovae.log_px."""

import warnings

import pyro
import torch
from reference import assert_trained, check_log_px
from scanvi import SCANVI, synthetic_counts

import pyrovae

GENES, LABELS = 10, 4


def test_scanvi_with_labels_trains_and_scores_like_the_reference():
    torch.manual_seed(0)
    # few counts per cell, over a wide range of library sizes: a posterior that 40 short epochs
    # approach well enough for importance sampling (effective sample sizes above 100 of 1000)
    x, y, l_loc, l_scale = synthetic_counts(76, num_genes=GENES, num_labels=LABELS, seed=0,
                                            log_library_mean=1.0, log_library_std=1.0)
    scanvi = SCANVI(num_genes=GENES, num_labels=LABELS, l_loc=l_loc, l_scale=l_scale,
                    latent_dim=2, scale_factor=1.0 / (16 * GENES), hidden=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the guide's factor: Pyro's Trace_ELBO, said once
        result = pyrovae.fit(scanvi.model, scanvi.guide, (x[:64], y[:64]), epochs=40,
                             batch_size=16, lr=3e-2, seed=0)
    assert_trained(result)

    xs, ys = x[64:], y[64:]
    pyro.set_rng_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = pyrovae.log_px(scanvi.model, scanvi.guide, xs, ys, num_samples=1000)
    # the classifier and the count decoder put BatchNorm1d on z2 as it comes: [particles, N,
    # hidden] is not a [batch, features] tensor, and the vectorized layout raises
    notices = [str(w.message) for w in caught if "particles of log p(x)" in str(w.message)]
    assert len(notices) == 1 and "vectorized layout raised RuntimeError" in notices[0], notices
    check_log_px(scored, scanvi.model, scanvi.guide, xs, ys, num_samples=500, data_plate="batch",
                 layout="batch")
