"""Checks that a dataset fits a model before any training or evaluation starts."""

from __future__ import annotations

import inspect

import torch
from pyro import poutine
from pyro.distributions import MaskedDistribution
from torch.distributions import constraints

from pyrovae.base.errors import ConfigError, DataError, ModelGuideError, PyrovaeError
from pyrovae.base.nn import buffers_kept, program_device
from pyrovae.data import dataset_options
from pyrovae.infer.batches import first_tensor, moved
from pyrovae.infer.sites import check_structure, observed_sites, sample_sites, site_log_prob
from pyrovae.registry import get_model


def _trace(model, *batch):
    """``model``'s trace on ``batch``, moved to the device of its parameters, leaving its
    buffers as they were (a check is not a training step)."""
    device = program_device(model)
    batch = batch if device is None else moved(batch, device)
    with torch.no_grad(), poutine.block(), buffers_kept(model):
        return poutine.trace(model).get_trace(*batch)


def observed_sites_on(model, *batch) -> dict:
    """The observed sample sites (name -> trace site,
    :func:`~pyrovae.infer.sites.observed_sites`) of ``model`` run on ``batch``."""
    return observed_sites(_trace(model, *batch))


def _log_densities(trace) -> None:
    """Compute the log-density of every sample site of ``trace``
    (:func:`~pyrovae.infer.sites.site_log_prob`); a failure names the site."""
    for name, site in sample_sites(trace).items():
        try:
            site_log_prob(site)
        except (ValueError, RuntimeError, IndexError) as e:
            raise ValueError(f"the log-density of site '{name}' fails: {e}") from e


def _takes_option(model_name: str, option: str) -> bool:
    """Whether the registered model ``model_name`` has the config option ``option``; False for
    a model from a user's file, whose factory is not looked up again (that would rerun it)."""
    if ".py:" in model_name:
        return False
    try:
        factory = get_model(model_name).factory
    except ConfigError:
        return False
    return option in inspect.signature(factory).parameters


def _support_advice(support, model_name: str, dataset: str | None) -> str:
    """How to make data fit a likelihood with ``support``: a data option only if ``dataset``
    accepts it, a model option only if model ``model_name`` takes it."""
    if _takes_option(model_name, "likelihood"):
        other = 'model.likelihood = "normal"'
    else:
        other = f"give model '{model_name}' a likelihood whose support holds them (e.g. a Normal)"
    if support is not constraints.boolean:
        return f"Transform the data into {support}, or {other}."
    if dataset is not None and "dynamic_binarize" in dataset_options(dataset):
        binarize = "binarize them afresh for every batch (data.dynamic_binarize = true)"
    else:
        binarize = ("binarize them where they are stored, e.g. save torch.bernoulli(x) or "
                    "(x > 0.5).float() in place of x")
    return f"Choose a likelihood for grayscale data ({other}), or {binarize}."


def _one_line(error: Exception) -> str:
    """``error``'s message on one line, without Pyro's table of trace shapes or a closing period
    (the sentence it goes into ends with its own)."""
    return " ".join(str(error).split("\nTrace Shapes:")[0].split()).rstrip(".")


def _failure(error: Exception, name: str, split: str, data) -> Exception:
    """What to raise for ``error``, raised while the model ran on ``data`` or its log-densities
    were computed: one of our own errors as it was raised (Pyro re-raises errors as copies with
    the trace's shapes appended, or inside a ValueError), else a :class:`DataError` on the
    data's shape."""
    cause = error.__cause__
    if isinstance(cause, PyrovaeError) and type(error) in (type(cause), ValueError):
        return cause
    if isinstance(error, PyrovaeError):
        return error
    what = (f"of shape {tuple(data.shape)} (one data point: {tuple(data.shape[1:])})"
            if isinstance(data, torch.Tensor) else f"batch (first argument a {type(data).__name__})")
    return DataError(
        f"model '{name}' cannot take the {split} data {what}: {_one_line(error)}. Use a "
        f"dataset of the shape the model was built for, or build the model for this data."
    )


def _same_for_every_point(support) -> bool:
    """Whether ``support``, as the model gave it for the first data points, holds for every
    point: an elementwise constraint (``event_dim`` 0) whose bounds are numbers. A support over
    whole events or with tensor bounds (a Multinomial's ``total_count``, often the longest
    document of the batch) depends on the batch's own parameters, so it is not checked here: the
    log-density of each batch checks it."""
    if getattr(support, "event_dim", 0) != 0:
        return False
    return not any(isinstance(v, torch.Tensor) for v in vars(support).values())


def _observed_argument(site, probe: tuple) -> int | None:
    """The position of the per-point argument that ``site`` observes as it is (its value holds
    that argument's rows of the probe, reshaped), None when it observes something computed
    from them."""
    value = site["value"]
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return None
    for i, given in enumerate(probe):
        if isinstance(given, torch.Tensor) and given.dim() > 0 and \
                given.shape[0] == value.shape[0] and given.numel() == value.numel() and \
                torch.equal(given.reshape(value.shape).to(value.dtype), value):
            return i
    return None


def _masked(site) -> bool:
    """Whether the site's log-density leaves some values out (``poutine.mask``, a
    distribution's ``.mask(...)``): a masked value need not lie in the support."""
    mask = site.get("mask")
    if mask is not None and mask is not True:
        return True
    fn = site["fn"]
    while fn is not None:
        if isinstance(fn, MaskedDistribution):
            return True
        fn = getattr(fn, "base_dist", None)
    return False


def check_fits(model, name: str, split: str, data, *extra, dataset: str | None = None,
               whole: bool = False) -> None:
    """Raise :class:`DataError` unless ``model`` accepts ``data`` and every value its
    likelihoods observe lies in their support.

    The model runs once, on the first two data points. A likelihood that observes one of the
    per-point arguments as it is (:func:`_observed_argument`) has its support checked on every
    point of that argument, where the support does not depend on the batch
    (:func:`_same_for_every_point`) and nothing is masked (:func:`_masked`). A distribution
    built with ``validate_args=False`` is checked too: a Bernoulli of grayscale values is no
    density, whatever its validation says.

    :param name: model name (as configs give it), used in messages.
    :param split: dataset split name, used in messages.
    :param extra: further per-data-point arguments of the model (labels).
    :param dataset: name of the dataset the data come from; the advice names only options it
        accepts (none when not given).
    :param whole: the arguments are one batch of a streamed ``DataLoader``, which need not be
        tensors that can be cut by rows: the model runs on all of it, and the support is
        checked on it where ``data`` is a tensor.
    """
    probe = (data, *extra) if whole else (data[:2], *(e[:2] for e in extra))
    try:
        trace = _trace(model, *probe)
    except (ValueError, RuntimeError, IndexError) as e:
        raise _failure(e, name, split, data) from None
    # Before log_prob: a distribution that validates its values would report data outside its
    # support as a failure to compute log_prob.
    full = (data, *extra)
    for site_name, site in observed_sites(trace).items():
        fn = site["fn"]
        which = _observed_argument(site, probe)
        if which is None or _masked(site):
            continue
        given = full[which]
        values = given.reshape(given.shape[0], *site["value"].shape[1:])
        base = getattr(fn.support, "base_constraint", fn.support)
        if not _same_for_every_point(base):
            continue
        inside = base.check(values).reshape(given.shape[0], -1)
        bad = ~inside.all(1)
        if bad.any():
            i = int(bad.nonzero()[0, 0])
            example = values[i].flatten()[~inside[i]][0]
            family = type(getattr(fn, "base_dist", fn)).__name__
            what = f"{split} data" if which == 0 else f"{split} data's argument {which + 1}"
            raise DataError(
                f"the {what} have values outside the support of model '{name}''s "
                f"likelihood at site '{site_name}' ({family}, support {base}): "
                f"{int(bad.sum())} of {given.shape[0]} data points, e.g. point {i} holds "
                f"{float(example):g}. {_support_advice(base, name, dataset)}"
            )
    try:
        with torch.no_grad():
            _log_densities(trace)
    except (ValueError, RuntimeError, IndexError) as e:
        raise _failure(e, name, split, data) from None


def check_pair(model, guide, *batch, data_plate: str | None = None, whole: bool = False) -> None:
    """Raise :class:`~pyrovae.base.errors.ModelGuideError` unless ``model`` and ``guide`` follow the
    protocol on ``batch`` (:func:`~pyrovae.infer.sites.check_structure`: the same check
    :func:`~pyrovae.infer.log_px` makes, so that a pair it would refuse is refused before
    training). The pair runs once, on the first two data points, leaving buffers as they were.
    Training needs no plate name: by default the data plate is the one the data size
    (:func:`~pyrovae.infer.sites.find_data_plate`), whatever its name. ``whole``: ``batch`` is
    a streamed batch (see :func:`check_fits`), run as it is.
    """
    device = program_device(model) or program_device(guide)
    probe = batch if device is None else moved(batch, device)
    probe = probe if whole else tuple(t[:2] for t in probe)
    try:
        with torch.no_grad(), poutine.block(), buffers_kept(model, guide):
            guide_trace = poutine.trace(guide).get_trace(*probe)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
                *probe)
    except (ValueError, RuntimeError, IndexError, TypeError, KeyError) as e:
        raise ModelGuideError(f"the guide and the model could not run together on the first "
                             f"data points: {type(e).__name__}: {_one_line(e)}") from None
    check_structure(model_trace, guide_trace, data_plate, first_tensor(probe).shape[0])
