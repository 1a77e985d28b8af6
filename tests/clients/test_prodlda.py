"""Pyro's ProdLDA, trained by pyrovae.fit on documents of different lengths and scored by
pyrovae.log_px; and the check that the comparison with the reference can fail."""

import warnings

import pyro
import torch
from prodlda import ProdLDA, synthetic_documents
from reference import agree, assert_trained, check_log_px, per_particle_log_px

import pyrovae

VOCAB, TOPICS = 30, 3


def _scored(model, guide, docs, **kwargs):
    pyro.set_rng_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pyrovae.log_px(model, guide, docs, **kwargs)
    return result, [str(w.message) for w in caught if "particles of log p(x)" in str(w.message)]


def test_prodlda_trains_and_scores_like_the_reference():
    torch.manual_seed(0)
    docs = synthetic_documents(76, vocab_size=VOCAB, num_topics=TOPICS, seed=0)
    assert len(set(docs.sum(-1).tolist())) > 20  # documents of many lengths
    lda = ProdLDA(VOCAB, TOPICS, hidden=16, dropout=0.2)
    result = pyrovae.fit(lda.model, lda.guide, docs[:64], epochs=40, batch_size=16, lr=1e-2,
                         seed=0)
    assert_trained(result)

    test = docs[64:]
    scored, notices = _scored(lda.model, lda.guide, test, num_samples=1000)
    # BatchNorm1d(vocab) on [particles, N, vocab] raises: the batch layout runs
    assert len(notices) == 1 and "vectorized layout raised RuntimeError" in notices[0], notices
    check_log_px(scored, lda.model, lda.guide, test, num_samples=1000, data_plate="documents",
                 layout="batch")


def test_the_reference_refuses_the_vectorized_layout_of_a_softmax_over_dim_1():
    """Without its BatchNorm1d the decoder runs under a particle plate, its softmax(dim=1) then
    normalizing over the documents: forced, the vectorized layout gives numbers that the
    reference refuses; checked, log_px passes it over and agrees."""
    torch.manual_seed(0)
    docs = synthetic_documents(12, vocab_size=VOCAB, num_topics=TOPICS, seed=0)
    lda = ProdLDA(VOCAB, TOPICS, hidden=16, dropout=0.2, batch_norm=False)
    forced, _ = _scored(lda.model, lda.guide, docs, num_samples=300, particles="vectorized")
    checked, notices = _scored(lda.model, lda.guide, docs, num_samples=300)
    assert len(notices) == 1 and "differ from those of one particle at a time" in notices[0]
    assert checked.layout == "batch"

    pyro.set_rng_seed(1)
    value, stderr, _ = per_particle_log_px(lda.model, lda.guide, docs, num_samples=300,
                                           data_plate="documents")
    assert agree(checked, value, stderr).all()
    wrong = ~agree(forced, value, stderr)
    assert wrong.sum() >= len(docs) // 2, (forced.value - value).tolist()
