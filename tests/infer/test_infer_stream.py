"""The streaming summaries do not depend on how the particles are chunked; k-hat is Pyro's."""

import math
import warnings

import pyro.infer.importance
import pytest
import torch

from pyrovae.infer.psis import pareto_khat
from pyrovae.infer.stream import LogWeightStream

KS = (1, 3, 10, 64, 100, 250)


def _summaries(log_w, chunks):
    stream = LogWeightStream(log_w.shape[0], log_w.shape[1], KS)
    start = 0
    for size in chunks:
        stream.update(log_w[start : start + size])
        start += size
    return stream.result()


CHUNKINGS = [[250], [1] * 250, [7] * 35 + [5], [100, 3, 64, 83], [64] * 3 + [58]]


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_any_chunking_gives_the_same_summaries(chunks):
    log_w = 3 * torch.randn(250, 6, dtype=torch.float64).pow(3).clamp(max=20)
    whole = _summaries(log_w, [250])
    part = _summaries(log_w, chunks)
    for key in ("value", "stderr", "ess", "elbo", "khat"):
        torch.testing.assert_close(part[key], whole[key], atol=1e-12, rtol=0, equal_nan=True)
    for k in KS:
        groups = log_w[: (250 // k) * k].reshape(250 // k, k, -1)
        expected = (groups.logsumexp(1) - math.log(k)).mean(0)
        torch.testing.assert_close(part["iwae"][k], expected, atol=1e-12, rtol=0)
    assert torch.equal(part["iwae"][1], part["elbo"])
    torch.testing.assert_close(whole["value"], log_w.logsumexp(0) - math.log(250))


def test_stream_checks_the_particle_count():
    stream = LogWeightStream(5, 2)
    stream.update(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="saw 3 of 5"):
        stream.result()
    with pytest.raises(ValueError, match="takes 5"):
        stream.update(torch.zeros(3, 2))


@pytest.mark.parametrize("num_samples", [100, 2000])
def test_khat_is_pyros_psis_diagnostic(monkeypatch, num_samples):
    log_w = torch.randn(num_samples, 5, dtype=torch.float64) * torch.tensor([0.1, 1, 2, 4, 4])
    log_w[:, 4] = log_w[:, 4].mul(2).round()  # ties: tails of different lengths
    expected = []
    for j in range(5):
        monkeypatch.setattr(
            pyro.infer.importance,
            "vectorized_importance_weights",
            lambda *args, _w=log_w[:, j], **kwargs: (_w.clone(), None, None),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k = pyro.infer.importance.psis_diagnostic(None, None, num_particles=num_samples)
        expected.append(math.nan if math.isinf(k) else k)
    top = log_w.topk(min(200, num_samples), dim=0).values
    expected = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(pareto_khat(top, num_samples), expected, equal_nan=True)


def test_khat_is_nan_without_a_tail():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        khat = pareto_khat(torch.zeros(20, 3, dtype=torch.float64), 20)
    assert khat.isnan().all()
    assert pareto_khat(torch.full((5, 1), -math.inf), 5).isnan().all()
