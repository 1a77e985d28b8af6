"""Disentanglement metrics of a trained run: the guide's posterior means on a split scored
against the dataset's known factors (:mod:`pyrovae.metrics`), as tidy rows (one per metric)
with the columns of ``pyrovae evaluate``."""

from __future__ import annotations

import dataclasses
import math
import pickle
import time
import zipfile
from pathlib import Path

import pandas as pd
import torch
from pyro import poutine

from pyrovae import run
from pyrovae.base.errors import ConfigError
from pyrovae.base.options import PositiveInt, Seed, check, suggest
from pyrovae.base.versions import versions
from pyrovae.data.factors import FACTOR_DATASETS, WITH_FACTORS
from pyrovae.infer import rng
from pyrovae.infer.sites import latent_sites
from pyrovae.metrics import METRIC_NAMES, disentanglement
from pyrovae.results import SUMMARY_COLUMNS

#: Name -> the metrics (row estimators) it stands for, as ``--metrics`` and a sweep's
#: ``evaluate.metrics`` take them.
METRIC_SETS = {"disentanglement": METRIC_NAMES}
#: A unit is active when its posterior means vary more than this (Burda et al.).
ACTIVE_VARIANCE = 0.01


def check_metrics(names, option: str = "--metrics") -> tuple[str, ...]:
    """``names`` as a tuple of distinct metric sets, after checking each is one of
    :data:`METRIC_SETS`.

    :raises ConfigError: naming the unknown set and the valid ones.
    """
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{option} must be a list of metric sets, e.g. [\"disentanglement\"]; "
                          f"got {names!r}.")
    for name in names:
        if name not in METRIC_SETS:
            raise ConfigError(f"{option}: unknown metric set '{name}'.{suggest(name, METRIC_SETS)}"
                              f" Valid: {', '.join(METRIC_SETS)}.")
    return tuple(dict.fromkeys(names))


def estimators(names) -> list[str]:
    """The row estimators the metric sets ``names`` write, in order."""
    return [metric for name in names for metric in METRIC_SETS[name]]


@torch.no_grad()
def posterior_means(guide, *tensors, batch_size: int = 500,
                    seed: int = 0) -> tuple[str, torch.Tensor]:
    """The guide's first continuous latent site (a discrete one, such as M2's label, is no
    code) and the means of :math:`q(z \\mid x_n)` at that site,
    flattened to ``[N, D]`` (the site's draw where its distribution has no mean).

    Tracing the guide draws from the global random streams; the draws run under
    :func:`pyrovae.infer.rng.seeded` with ``seed``, so the caller's streams are left as they
    were and the draws repeat.

    :param tensors: the guide's per-data-point arguments (data first), ``N`` rows each.
    :raises ConfigError: the guide samples no latent site.
    """
    with rng.seeded(seed, tensors[0].device):
        return _posterior_means(guide, tensors, batch_size)


def _posterior_means(guide, tensors, batch_size: int) -> tuple[str, torch.Tensor]:
    name, means = None, []
    for lo in range(0, tensors[0].shape[0], batch_size):
        batch = tuple(t[lo:lo + batch_size] for t in tensors)
        trace = poutine.trace(guide).get_trace(*batch)
        sites = latent_sites(trace)
        if not sites:
            raise ConfigError(f"the guide {type(guide).__name__} samples no latent site, so "
                              f"it has no posterior means to score; give a guide that samples "
                              f"the model's latents.")
        continuous = [n for n, site in sites.items() if not site["fn"].support.is_discrete]
        if not continuous:
            raise ConfigError(f"the guide {type(guide).__name__} samples only discrete latent "
                              f"sites ({', '.join(sites)}), so it has no continuous code to "
                              f"score; the metrics score a continuous latent site.")
        name = name or continuous[0]
        fn = sites[name]["fn"]
        try:
            mean = fn.mean
        except NotImplementedError:
            mean = sites[name]["value"]
        means.append(mean.reshape(batch[0].shape[0], -1))
    return name, torch.cat(means)


def check_dataset(name: str, where: str = "", options: dict | None = None) -> None:
    """Refuse, before any work, metrics on a dataset that carries no factors: one never does,
    and a ``file`` (given its data ``options``, e.g. a config's ``data`` table) does only with
    a ``train_factors`` array (looked up by name, without reading the arrays).

    :param where: what names the dataset, for the message (e.g. a sweep point).
    """
    if name not in FACTOR_DATASETS:
        raise ConfigError(f"{where}dataset '{name}' carries no ground-truth factors, so the "
                          f"disentanglement metrics cannot score it. Datasets with factors: "
                          f"{WITH_FACTORS}.")
    path = (options or {}).get("path") if name == "file" else None
    if isinstance(path, (str, Path)):
        names = array_names(Path(path).expanduser())
        if names is not None and "train_factors" not in names:
            raise ConfigError(f"{where}data file '{path}' holds no train_factors array (it "
                              f"holds {', '.join(sorted(names)) or 'nothing'}), so the "
                              f"disentanglement metrics cannot score it. Save train_factors, "
                              f"valid_factors and test_factors with the data.")


def array_names(path: Path) -> set[str] | None:
    """The names of the arrays in the data file ``path`` (a lone ``.npy`` array: ``data``),
    from the ``.npz`` directory or a memory-mapped ``.pt``; None when it cannot be read (the
    data loader then says why)."""
    try:
        if path.suffix == ".npy":
            return {"data"} if path.is_file() else None
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                return {n.removesuffix(".npy") for n in archive.namelist()}
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, ValueError, zipfile.BadZipFile, EOFError,
            pickle.UnpicklingError):
        return None
    return set(content) if isinstance(content, dict) else {"data"}


def check_factors(built: run.Built) -> None:
    """Refuse a run whose dataset carries no factor table, in one line."""
    if not built.data.factor_table:
        raise ConfigError(f"dataset '{built.data.name}' carries no ground-truth factors, so the "
                          f"disentanglement metrics cannot score it. Datasets with factors: "
                          f"{WITH_FACTORS}.")


def disentanglement_rows(built: run.Built, run_name: str, *, split: str = "test", seed: int = 0,
                         limit: int | None = None, batch_size: int = 500) -> pd.DataFrame:
    """One row per metric of :data:`~pyrovae.metrics.METRIC_NAMES` (``estimator`` = its
    name, ``mean`` = its value, ``K`` = 1, no standard error) of the guide's posterior means
    on ``split`` against the split's factor classes (:meth:`~pyrovae.data.Dataset
    .factor_classes`), in the columns of :data:`~pyrovae.results.SUMMARY_COLUMNS`.

    ``active_units`` counts the code dimensions whose posterior means vary by more than
    :data:`ACTIVE_VARIANCE` over the points; ``kl``, ``reconstruction`` and any other
    estimator-specific column are empty. A run
    trained with dynamic binarization is encoded on one Bernoulli draw seeded with ``seed``.

    :param built: a run with its trained weights (:func:`pyrovae.run.load`).
    :param run_name: the ``run`` column.
    :param seed: seed of the metrics' random votes and splits.
    :param limit: use only ``limit`` points spread evenly over the split.
    :param batch_size: data points per guide call.
    :raises ConfigError: the dataset has no factors, or a setting is out of range.
    """
    check("seed", seed, Seed)
    check("limit", limit, PositiveInt | None)
    check("batch_size", batch_size, PositiveInt)
    check_factors(built)
    start = time.perf_counter()
    data, _ = built.data.subset(split, limit)
    factors = data.factor_classes(split)
    tensors = dataclasses.replace(built, data=data).tensors(split)
    if data.dynamic_binarize:
        tensors = (run.binarized_once(tensors[0], seed), *tensors[1:])
    _, codes = posterior_means(built.guide, *tensors, batch_size=batch_size, seed=seed)
    scores = disentanglement(codes, factors, seed=seed)
    common = {
        "run": run_name, "model": built.cfg.model["name"], "guide": built.cfg.guide["name"],
        "dataset": built.cfg.data["name"], "split": split, "weights": built.weights,
        "K": 1, "seed": seed, "n": codes.shape[0], "stderr_of_mean": math.nan, "kl": math.nan,
        "reconstruction": math.nan, "device": str(codes.device),
        "active_units": int((codes.double().var(0) > ACTIVE_VARIANCE).sum()),
        "seconds": time.perf_counter() - start, **versions(),
    }
    rows = [{**common, "estimator": name, "mean": value} for name, value in scores.items()]
    return pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)  # other columns empty
