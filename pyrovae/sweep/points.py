"""The points of a sweep: each swept combination and seed resolved into a config, hashed,
and given the run directory a later sweep finds again."""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyrovae import config
from pyrovae.base.errors import ConfigError


@dataclass
class Point:
    """One point of a sweep: its swept values, its resolved config and where it runs.

    :param overrides: swept key -> value (grid and zip keys only).
    :param cfg: the resolved config (base, ``[set]``, the swept values, the seed).
    :param config_hash: :func:`pyrovae.config.config_hash` of ``cfg``.
    :param run_dir: the run directory, named after the hash so that a sweep finds it again.
    """

    overrides: dict[str, Any]
    cfg: config.Config
    config_hash: str
    run_dir: Path

    @property
    def label(self) -> str:
        """``key=value`` pairs and the seed, for messages."""
        parts = [f"{k}={column_value(v)}" for k, v in self.overrides.items()]
        return " ".join([*parts, f"seed={self.cfg.seed}"])


def column_value(value):
    """A swept value as it appears in a CSV cell: lists as JSON text (``[32, 32]``)."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def set_dotted(raw: dict, key: str, value, where: str) -> None:
    """Set ``raw[a][b] = value`` for ``key = "a.b"``."""
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: '{key}' sets a key inside '{part}', which is not a table.")
    node[leaf] = copy.deepcopy(value)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).name)[:40].strip("-.") or "model"


def resolve(base_raw: dict, overrides: dict[str, Any], seed: int, where: str) -> config.Config:
    """The config of one point: ``base_raw`` with ``overrides`` set and ``seed``, validated and
    :func:`~pyrovae.config.resolved` as :func:`pyrovae.run.build` resolves it (no data loaded)."""
    raw = copy.deepcopy(base_raw)
    for key, value in overrides.items():
        set_dotted(raw, key, value, where)
    raw["seed"] = seed
    try:
        config.require_data(raw, "the base config")
        cfg = config.resolved(config.from_dict(raw))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    return cfg


def expand(base_raw: dict, fixed: dict, grid: dict, zipped: dict, seeds, runs_dir: Path,
           source: str) -> list[Point]:
    """Every point of a sweep (grid combinations x zip steps x seeds, seeds innermost), each
    config resolved once; points whose resolved configs are equal are kept once.

    :param base_raw: the base config as parsed TOML.
    :param fixed: overrides of every point.
    :param grid: key -> values, combined as a cartesian product.
    :param zipped: key -> values of equal length, advanced together.
    :param runs_dir: where the run directories go.
    :param source: the sweep's name, for messages.
    """
    grid_steps = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    num_zip = len(next(iter(zipped.values()))) if zipped else 1
    zip_steps = [{k: v[i] for k, v in zipped.items()} for i in range(num_zip)]
    points, seen = [], set()
    for g, z, seed in itertools.product(grid_steps, zip_steps, seeds):
        overrides = {**g, **z}
        label = " ".join(f"{k}={column_value(v)}" for k, v in overrides.items())
        cfg = resolve(base_raw, {**fixed, **overrides}, seed,
                      f"{source} (point {label or 'base'}, seed {seed})")
        digest = config.config_hash(cfg)
        if digest in seen:
            continue
        seen.add(digest)
        name = f"{_slug(cfg.model['name'])}-s{seed}-{digest}"
        points.append(Point(overrides, cfg, digest, runs_dir / name))
    return points


