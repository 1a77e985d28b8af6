"""Sweep files: a base config, overrides swept as a grid (cartesian product) and a zip (in
step), seeds, and how to evaluate each point.

.. code-block:: toml

    base = "configs/binarized_mnist_vae.toml"
    out = "results/vae-sweep.csv"           # default results/<sweep file name>.csv
    runs_dir = "runs/vae-sweep"             # default runs/<sweep file name>
    seeds = [0, 1]                          # default: the base config's seed

    [set]                                   # fixed overrides of every point
    "train.epochs" = 10
    [grid]                                  # every combination of these values
    "model.latent_dim" = [10, 50]
    [zip]                                   # these lists advance together
    "train.loss" = ["trace_elbo", "iwae"]
    "train.num_particles" = [1, 5]
    [tags]                                  # constant columns added to every row
    study = "latent size"
    [evaluate]
    split = "test"                          # or a list of splits
    num_samples = 5000
    ks = [1, 10, 100, 1000, 5000]
    limit = 1000                            # N points spread evenly over the split
    metrics = ["disentanglement"]           # also MIG, DCI, ... (needs a dataset with factors)
    [executor]                              # jobs' resources under --executor local|slurm
    partition = "gpu"
    time = 240                              # minutes
    gpus_per_node = 1

Keys may be quoted (``"model.latent_dim"``) or plain TOML dotted keys; both mean the same.
Relative paths are taken from the working directory.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrovae.base.errors import ConfigError
from pyrovae.base.options import NonNegativeInt, PositiveFloat, PositiveInt, Seed, check, suggest
from pyrovae.config import read_toml
from pyrovae.evaluation import EvalSettings
from pyrovae.factor_scores import check_dataset, check_metrics
from pyrovae.factor_scores import estimators as metric_estimators
from pyrovae.results import RUN_COLUMNS, SUMMARY_COLUMNS
from pyrovae.sweep.points import Point, expand

TOP_KEYS = ("base", "out", "runs_dir", "seeds", "set", "grid", "zip", "tags", "evaluate",
            "executor")
EVAL_KEYS = ("split", "num_samples", "ks", "limit", "seed", "batch_size", "per_datapoint",
             "metrics", "estimator", "chains", "steps", "leapfrog", "step_size")
#: The ``[evaluate]`` keys that are :class:`~pyrovae.evaluation.EvalSettings` fields.
SCORING_KEYS = ("num_samples", "ks", "limit", "seed", "batch_size", "estimator", "chains",
                "steps", "leapfrog", "step_size")


@dataclass(frozen=True)
class SweepEvaluation:
    """How each point of a sweep is evaluated: the ``[evaluate]`` table.

    :param splits: data splits to evaluate.
    :param scoring: how the points of a split are scored (the options of ``pyrovae evaluate``,
        AIS and BDMC included: :class:`pyrovae.evaluation.EvalSettings`).
    :param per_datapoint: also write ``RUN_DIR/points_<split>.csv``.
    :param metrics: metric sets of :data:`pyrovae.factor_scores.METRIC_SETS` to add (rows
        with K = 1, computed on every point of the split: ``scoring.limit`` is for log p(x)
        alone).
    """

    splits: tuple[str, ...] = ("test",)
    scoring: EvalSettings = EvalSettings()
    per_datapoint: bool = False
    metrics: tuple[str, ...] = ()

    def estimators(self) -> list[tuple[str, int]]:
        """The (estimator, K) pairs one evaluation of one split writes, in row order."""
        return [*self.scoring.estimators(), *((name, 1) for name in metric_estimators(self.metrics))]


@dataclass(frozen=True)
class ExecutorSettings:
    """The ``[executor]`` table of a sweep file: the resources of each point's job under
    ``--executor local|slurm`` (:mod:`pyrovae.sweep.cluster`)."""

    partition: str | None = None
    time: int | None = None
    gpus_per_node: int | None = None
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    max_parallel: int | None = None
    folder: str | None = None


@dataclass
class SweepPlan:
    """A parsed sweep file: see the module docstring for the format."""

    source: str
    base: Path
    out: Path
    runs_dir: Path
    seeds: tuple[int, ...]
    fixed: dict[str, Any]
    grid: dict[str, list]
    zipped: dict[str, list]
    tags: dict[str, Any]
    evaluate: SweepEvaluation
    points: list[Point] = field(default_factory=list)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)

    @property
    def swept_keys(self) -> list[str]:
        return [*self.grid, *self.zipped]

    @property
    def columns(self) -> list[str]:
        """Columns of the sweep's CSV, in order."""
        return [*SUMMARY_COLUMNS, *RUN_COLUMNS, *self.tags, *self.swept_keys]


def flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"latent_dim": v}}`` -> ``{"model.latent_dim": v}`` (TOML dotted keys).

    >>> flatten({"model": {"latent_dim": 10, "decoder": {"hidden": [200]}}, "seed": 0})
    {'model.latent_dim': 10, 'model.decoder.hidden': [200], 'seed': 0}
    """
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _table(raw: dict, key: str, source: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: '{key}' must be a table ([{key}]), got {value!r}.")
    return flatten(value)


def _check_keys(keys, valid, where: str, source: str) -> None:
    for key in keys:
        if key not in valid:
            raise ConfigError(f"{source}: unknown key '{key}' in {where}.{suggest(key, valid)} "
                              f"Valid keys: {', '.join(valid)}.")


def parse_evaluate(raw: dict, source: str) -> SweepEvaluation:
    """The ``[evaluate]`` table as a :class:`SweepEvaluation`, checked."""
    _check_keys(raw, EVAL_KEYS, "[evaluate]", source)
    split = raw.get("split", "test")
    splits = [split] if isinstance(split, str) else split
    if not isinstance(splits, list) or not splits or not all(isinstance(s, str) for s in splits):
        raise ConfigError(f"{source}: evaluate.split must be a split name or a list of them, "
                          f"e.g. \"test\" or [\"valid\", \"test\"]; got {split!r}.")
    ks = raw.get("ks")
    if ks is not None and not isinstance(ks, list):
        raise ConfigError(f"{source}: evaluate.ks must be a list of whole numbers, got {ks!r}.")
    per_datapoint = raw.get("per_datapoint", False)
    if not isinstance(per_datapoint, bool):
        raise ConfigError(f"{source}: evaluate.per_datapoint must be true or false.")
    try:
        metrics = check_metrics(raw.get("metrics", []), "evaluate.metrics")
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        scoring = EvalSettings.checked(lambda name: f"evaluate.{name}",
                                       **{key: raw[key] for key in SCORING_KEYS if key in raw})
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return SweepEvaluation(splits=tuple(dict.fromkeys(splits)), scoring=scoring,
                           per_datapoint=per_datapoint, metrics=metrics)


def parse_executor(raw, source: str) -> ExecutorSettings:
    """The ``[executor]`` table as :class:`~pyrovae.sweep.cluster.ExecutorSettings`, checked."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'executor' must be a table ([executor]), got {raw!r}.")
    fields = typing.get_type_hints(ExecutorSettings)
    _check_keys(raw, list(fields), "[executor]", source)
    kinds = {"time": PositiveInt, "gpus_per_node": NonNegativeInt, "cpus_per_task": PositiveInt,
             "mem_gb": PositiveFloat, "max_parallel": PositiveInt, "partition": str,
             "folder": str}
    try:
        return ExecutorSettings(**{k: check(f"executor.{k}", v, kinds[k]) for k, v in raw.items()})
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _check_swept(grid: dict, zipped: dict, fixed: dict, source: str) -> None:
    for name, table in (("grid", grid), ("zip", zipped)):
        for key, values in table.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{source}: [{name}] '{key}' must be a non-empty list of values, "
                                  f"got {values!r}.")
    lengths = {key: len(values) for key, values in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise ConfigError(f"{source}: the [zip] lists advance together, so they need equal "
                          f"lengths; got {lengths}. Make them equal, or move a key to [grid].")
    tables = {"set": fixed, "grid": grid, "zip": zipped}
    for key in {k for t in tables.values() for k in t}:
        where = [name for name, t in tables.items() if key in t]
        if key == "seed":
            raise ConfigError(f"{source}: set seeds with the top-level 'seeds = [...]', not in "
                              f"[{where[0]}].")
        if len(where) > 1:
            raise ConfigError(f"{source}: '{key}' appears in [{'] and ['.join(where)}]; keep it "
                              f"in one table.")


def _read_base(path: Path, source: str) -> dict:
    return read_toml(path, f"{source}: base config", "configs/binarized_mnist_vae.toml "
                     "(relative paths are taken from the working directory)")


def make_plan(raw: dict, *, source: str = "sweep", out=None, runs_dir=None) -> SweepPlan:
    """Check a parsed sweep document and resolve every point's config (no data is loaded).

    :param raw: the sweep as a dict (see the module docstring).
    :param source: name used in messages (the sweep file).
    :param out: CSV path that replaces the document's ``out``.
    :param runs_dir: directory that replaces the document's ``runs_dir``.
    """
    _check_keys(raw, TOP_KEYS, "the sweep", source)
    if not isinstance(raw.get("base"), str):
        raise ConfigError(f"{source}: needs 'base = \"path/to/config.toml\"', the config every "
                          f"point starts from.")
    stem = Path(source).stem
    base = Path(raw["base"])
    base_raw = _read_base(base, source)
    fixed, grid, zipped = (_table(raw, k, source) for k in ("set", "grid", "zip"))
    tags = _table(raw, "tags", source)
    _check_swept(grid, zipped, fixed, source)
    clash = [t for t in tags if t in SUMMARY_COLUMNS + RUN_COLUMNS or "." in t]
    if clash or not all(isinstance(v, (str, int, float, bool)) for v in tags.values()):
        raise ConfigError(f"{source}: [tags] must map new column names (no dots, none of the "
                          f"result columns; clashing: {clash}) to single values.")
    seeds = raw.get("seeds", [base_raw.get("seed", 0)])
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(f"{source}: seeds must be a non-empty list of whole numbers, got {seeds!r}.")
    try:
        seeds = check("seeds", seeds, list[Seed])
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{source}: seeds {seeds} repeat a seed; list each once.")
    for key in ("out", "runs_dir"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{source}: '{key}' must be a path (a string), got {raw[key]!r}.")
    plan = SweepPlan(
        source=source, base=base,
        out=Path(out or raw.get("out", f"results/{stem}.csv")),
        runs_dir=Path(runs_dir or raw.get("runs_dir", f"runs/{stem}")),
        seeds=tuple(seeds), fixed=fixed, grid=grid, zipped=zipped, tags=tags,
        evaluate=parse_evaluate(raw.get("evaluate", {}), source),
        executor=parse_executor(raw.get("executor", {}), source))
    plan.points = expand(base_raw, plan.fixed, plan.grid, plan.zipped, plan.seeds,
                         plan.runs_dir, source)
    if plan.evaluate.metrics:
        for point in plan.points:
            check_dataset(point.cfg.data["name"], f"{source}: evaluate.metrics: ",
                          point.cfg.data)
    return plan


def load_plan(path, *, out=None, runs_dir=None) -> SweepPlan:
    """Read and check the sweep file ``path`` (see :func:`make_plan`)."""
    raw = read_toml(path, "sweep file", "configs/sweeps/sprites_latent.toml")
    return make_plan(raw, source=str(path), out=out, runs_dir=runs_dir)
