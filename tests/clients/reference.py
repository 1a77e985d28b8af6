"""An independent per-particle importance-sampling estimate of log p(x), written from Pyro's own
primitives only (no pyrovae code), to check :func:`pyrovae.log_px` on the client programs.

For k = 1..K the guide runs once on the whole batch under ``poutine.trace`` and the model is
replayed on its values; the log weight of data point n is

    w_kn = sum over the model's sample sites of log p(site)[n]
           - sum over the guide's latent sites of log q(site)[n],

each site's ``fn.log_prob(value)`` unscaled (``poutine.scale`` and subsampling are ignored),
with its ``mask`` applied as Pyro applies it, summed over every dim but the data plate's. The
guide's observed sites (a ``pyro.factor`` such as scANVI's classification loss) are no part of
q and are left out. Then log p(x_n) ~ logsumexp_k w_kn - log K, with the delta-method standard
error sd(e^w) / (sqrt(K) mean(e^w)).
"""

from __future__ import annotations

import functools
import math

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample
from torch import nn


def _modules(programs, extra):
    """The nn.Modules behind ``programs`` (modules, bound methods, wrappers of either)."""
    found = list(extra)
    for fn in programs:
        while fn is not None:
            if isinstance(fn, nn.Module):
                found.append(fn)
                break
            owner = getattr(fn, "__self__", None)
            if isinstance(owner, nn.Module):
                found.append(owner)
                break
            if isinstance(fn, functools.partial):  # a Pyro handler: partial(wrap, handler, fn)
                fn = fn.args[1] if len(fn.args) >= 2 else fn.func
            else:
                fn = getattr(fn, "__wrapped__", None)
    return list(dict.fromkeys(found))


def _scored_sites(trace, observed: bool | None):
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if site["infer"].get("_deterministic", False):
            continue
        if "_enumerate_dim" in site["infer"]:
            raise AssertionError(f"site {name!r} was enumerated; the reference samples every site")
        if observed is None or site["is_observed"] == observed:
            yield name, site


def _per_point(site, data_plate: str, num_data: int) -> torch.Tensor:
    """The site's unscaled, masked log density summed over every dim but the data plate's: [N]."""
    log_prob = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
    mask = site["mask"]
    if mask is not None and mask is not True:
        if mask is False:
            log_prob = torch.zeros_like(log_prob)
        else:
            log_prob = torch.where(mask, log_prob, torch.zeros_like(log_prob))
    log_prob = log_prob.double()
    dims = [f.dim for f in site["cond_indep_stack"] if f.name == data_plate]
    if not dims:  # outside the data plate: counts for every data point
        return log_prob.sum().expand(num_data)
    dim = dims[0]
    if log_prob.dim() < -dim:
        raise AssertionError(f"site {site['name']!r} has no dim {dim} for its data plate")
    log_prob = log_prob.movedim(dim, 0)
    assert log_prob.shape[0] == num_data, (site["name"], log_prob.shape)
    return log_prob.reshape(num_data, -1).sum(-1)


@torch.no_grad()
def per_particle_log_px(model, guide, *args, num_samples: int, data_plate: str,
                        modules=(), **kwargs):
    """``(value [N], stderr [N], log_weights [K, N])``, float64: the per-particle estimate of
    log p(x_n) of ``model``/``guide`` on ``args`` (data first; N its first dim), modules in eval
    mode (given back afterwards).

    A guide wrapped in ``config_enumerate`` samples its sites here too: nothing enumerates
    them outside ``TraceEnum_ELBO`` (a site that was enumerated raises)."""
    num_data = args[0].shape[0]
    reached = _modules((model, guide), modules)
    modes = [(sub, sub.training) for m in reached for sub in m.modules()]
    for m in reached:
        m.eval()
    try:
        # argument validation changes no value; off, the loop runs faster
        with pyro.validation_enabled(False):
            rows = [_log_weight(model, guide, args, kwargs, data_plate, num_data)
                    for _ in range(num_samples)]
    finally:
        for sub, training in modes:
            sub.training = training
    log_w = torch.stack(rows)
    value = torch.logsumexp(log_w, 0) - math.log(num_samples)
    # delta method: se(log mean e^w) = sd(e^w) / (sqrt(K) mean e^w), on e^(w - max) for stability
    e = (log_w - log_w.max(0).values).exp()
    stderr = e.std(0, unbiased=True) / (math.sqrt(num_samples) * e.mean(0))
    return value, stderr, log_w


def _log_weight(model, guide, args, kwargs, data_plate, num_data):
    """One particle's log weight per data point: [N] float64."""
    guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
        *args, **kwargs)
    w = torch.zeros(num_data, dtype=torch.float64)
    for _, site in _scored_sites(model_trace, None):
        w = w + _per_point(site, data_plate, num_data)
    for _, site in _scored_sites(guide_trace, False):
        w = w - _per_point(site, data_plate, num_data)
    return w


def agree(result, value, stderr, slack: float = 0.02) -> torch.Tensor:
    """Per point: |log_px - reference| <= 4 sqrt(se1^2 + se2^2) + slack."""
    bound = 4 * (result.stderr ** 2 + stderr ** 2).sqrt() + slack
    return (result.value - value).abs() <= bound


def assert_trained(result) -> None:
    """A :func:`pyrovae.fit` result whose training objective is finite and moved."""
    objective = result.history["train_objective"]
    assert len(objective) >= 2 and objective.notna().all()
    assert all(math.isfinite(v) for v in objective)
    assert objective.iloc[-1] != objective.iloc[0]


def check_log_px(result, model, guide, *args, num_samples: int, data_plate: str, layout: str,
                 modules=(), seed: int = 1):
    """Assert that ``result`` (a :class:`LogPxResult`) is finite, ran in ``layout`` on plate
    ``data_plate``, and agrees point by point with :func:`per_particle_log_px` of
    ``num_samples`` particles (seeded with ``seed``); returns ``(value, stderr)`` of the
    reference."""
    assert torch.isfinite(result.value).all() and torch.isfinite(result.stderr).all()
    assert result.layout == layout, result.layout
    assert result.data_plate == data_plate, result.data_plate
    pyro.set_rng_seed(seed)
    value, stderr, _ = per_particle_log_px(model, guide, *args,
                                           num_samples=num_samples, data_plate=data_plate,
                                           modules=modules)
    close = agree(result, value, stderr)
    print(f"\nlayout={result.layout} log_px mean={result.value.mean():.3f} reference "
          f"mean={value.mean():.3f} max|diff|={(result.value - value).abs().max():.4f} "
          f"max se={result.stderr.max():.3f}/{stderr.max():.3f} K={result.num_samples}/"
          f"{num_samples} "
          f"N={len(value)} min ess={result.ess.min():.1f}")
    assert close.all(), (
        f"log_px disagrees with the per-particle reference at points "
        f"{close.logical_not().nonzero().flatten().tolist()}: log_px {result.value.tolist()}, "
        f"reference {value.tolist()}, stderr {result.stderr.tolist()} / {stderr.tolist()}")
    return value, stderr
