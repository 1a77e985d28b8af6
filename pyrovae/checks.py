"""Checks that a dataset fits a model before any training or evaluation starts."""

from __future__ import annotations

import torch
from pyro import poutine

from pyrovae.errors import DataError


def observed_sites(model, *batch, log_prob: bool = False) -> dict:
    """The model's observed sample sites (name -> trace site) on ``batch``; with ``log_prob``
    their log-densities are computed too (which is where shape mismatches surface)."""
    with torch.no_grad(), poutine.block():
        trace = poutine.trace(model).get_trace(*batch)
        if log_prob:
            trace.compute_log_prob()
    return {name: site for name, site in trace.nodes.items()
            if site["type"] == "sample" and site["is_observed"]}


def check_fits(model, name: str, split: str, data: torch.Tensor, *extra: torch.Tensor) -> None:
    """Raise :class:`DataError` unless ``model`` accepts ``data`` and every value of ``data`` lies
    in the support of the model's likelihood.

    :param name: model name, used in messages.
    :param split: dataset split name, used in messages.
    :param extra: further per-data-point arguments of the model (labels).
    """
    probe = (data[:2], *(e[:2] for e in extra))
    try:
        sites = observed_sites(model, *probe, log_prob=True)
    except (ValueError, RuntimeError, IndexError) as e:
        raise DataError(
            f"model '{name}' cannot take the {split} data of shape {tuple(data.shape)} "
            f"(one data point: {tuple(data.shape[1:])}): {e}. Use a dataset of the shape the model "
            f"was built for, or build the model for this data."
        ) from None
    for site_name, site in sites.items():
        value = site["value"]
        if value.dim() == 0 or value[0].numel() != data[0].numel():
            continue
        values = data.reshape(data.shape[0], *value.shape[1:])
        fn = site["fn"]
        base = getattr(fn.support, "base_constraint", fn.support)
        inside = base.check(values).reshape(data.shape[0], -1)
        bad = ~inside.all(1)
        if bad.any():
            i = int(bad.nonzero()[0, 0])
            example = values[i].flatten()[~inside[i]][0]
            family = type(getattr(fn, "base_dist", fn)).__name__
            raise DataError(
                f"the {split} data have values outside the support of model '{name}''s "
                f"likelihood at site '{site_name}' ({family}, support {base}): "
                f"{int(bad.sum())} of {data.shape[0]} data points, e.g. point {i} holds "
                f"{float(example):g}. Choose a likelihood for this kind of data (e.g. "
                f"model.likelihood = \"normal\" for grayscale) or binarize the data "
                f"(data.dynamic_binarize = true)."
            )
