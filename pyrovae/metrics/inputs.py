"""Checking the codes and factors every metric takes, before any work."""

from __future__ import annotations

import torch

from pyrovae.base.errors import ConfigError, DataError


def check_inputs(codes: torch.Tensor, factors: torch.Tensor, *, min_codes: int = 1,
                 min_points: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``codes`` as float64 ``[N, D]`` and ``factors`` as int64 ``[N, K]`` on the CPU, checked.

    :param codes: one code (e.g. a posterior mean) per data point, ``[N, D]``.
    :param factors: the data points' ground-truth factors as class indices ``>= 0``, ``[N, K]``.
    :param min_codes: the fewest code dimensions the metric needs.
    :param min_points: the fewest data points the metric needs.
    :raises DataError: shapes, types or values that do not fit (one line, naming which).
    """
    if not isinstance(codes, torch.Tensor) or codes.dim() != 2:
        raise DataError(f"codes must be a 2-D tensor [N, D], got "
                        f"{getattr(codes, 'shape', type(codes).__name__)}.")
    if not isinstance(factors, torch.Tensor) or factors.dim() != 2:
        raise DataError(f"factors must be a 2-D tensor [N, K] of class indices, got "
                        f"{getattr(factors, 'shape', type(factors).__name__)}.")
    if factors.is_floating_point() or factors.is_complex() or factors.dtype == torch.bool:
        raise DataError(f"factors must hold integer class indices, got {factors.dtype}; "
                        f"discretize continuous factors first.")
    if codes.shape[0] != factors.shape[0]:
        raise DataError(f"codes ({codes.shape[0]} rows) and factors ({factors.shape[0]} rows) "
                        f"must have one row per data point each.")
    if codes.shape[0] < min_points or codes.shape[1] < min_codes or factors.shape[1] < 1:
        raise DataError(f"the metric needs at least {min_points} data points, {min_codes} code "
                        f"dimensions and one factor; got codes {tuple(codes.shape)}, factors "
                        f"{tuple(factors.shape)}.")
    codes = codes.detach().to("cpu", torch.float64)
    if not torch.isfinite(codes).all():
        raise DataError("codes hold NaN or infinite values; the metrics need finite codes.")
    factors = factors.detach().to("cpu", torch.int64)
    if int(factors.min()) < 0:
        raise DataError("factors must be class indices >= 0, got a negative value.")
    return codes, factors


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` if it is a whole number ``>= minimum``, else a one-line :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return value


def check_share(name: str, value) -> float:
    """``value`` if it is a number strictly between 0 and 1, else a one-line
    :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


def check_positive(name: str, value) -> float:
    """``value`` if it is a finite number ``> 0``, else a one-line :class:`ConfigError`."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 < value < float("inf")):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


def varying(factors: torch.Tensor) -> torch.Tensor:
    """Indices of the columns of ``factors`` that take more than one value (a constant factor,
    such as dSprites' colour, carries nothing to capture)."""
    spread = factors.max(0).values != factors.min(0).values
    index = torch.nonzero(spread).flatten()
    if index.numel() == 0:
        raise DataError("every factor is constant on these data points; the metrics need a "
                        "factor that varies.")
    return index


def generator(seed: int) -> torch.Generator:
    """A local CPU generator seeded with ``seed`` (the global random streams are not touched)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed must be a whole number >= 0, got {seed!r}.")
    return torch.Generator().manual_seed(seed)


def split_halves(n: int, gen: torch.Generator, train_share: float = 0.5):
    """A random split of ``range(n)`` into (train, eval) index tensors, both non-empty."""
    order = torch.randperm(n, generator=gen)
    cut = min(max(1, round(n * train_share)), n - 1)
    return order[:cut], order[cut:]
