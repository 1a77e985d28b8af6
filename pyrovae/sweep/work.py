"""One sweep point's work, in whichever process runs it: train (or reuse), evaluate each split
that lacks rows, and return the rows; only the parent process writes the CSV."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from pyrovae import evaluate, io
from pyrovae.sweep.points import Point, column_value
from pyrovae.sweep.spec import EvalSpec
from pyrovae.sweep.subset import spread
from pyrovae.sweep.training import train_or_reuse


@dataclass
class Task:
    """What a worker needs to run one point (plain, picklable values)."""

    point: Point
    splits: tuple[str, ...]
    evaluate: EvalSpec
    tags: dict
    columns: list[str]
    data_dir: str | None = None
    device: str | None = None


def evaluate_split(built, run_name: str, split: str, ev: EvalSpec, run_dir: Path) -> pd.DataFrame:
    """Summary rows of ``split`` (``ev.limit`` points spread over it); writes
    ``RUN_DIR/points_<split>.csv`` when ``ev.per_datapoint``."""
    part, index = spread(built, split, ev.limit)
    summary, per_point = evaluate.evaluate(
        part, run_name, split=split, num_samples=ev.num_samples, ks=ev.ks, seed=ev.seed,
        batch_size=ev.batch_size, quiet=True)
    if ev.per_datapoint:
        if index is not None:
            per_point["index"] = index.numpy()
        io.write_csv(per_point, run_dir / f"points_{split}.csv")
    return summary


def run_task(task: Task) -> tuple[pd.DataFrame, dict]:
    """Train or reuse the point's run, evaluate ``task.splits``; returns (rows in
    ``task.columns`` order, the training summary of :func:`train_or_reuse`)."""
    point = task.point
    trained = train_or_reuse(point.cfg, point.run_dir, data_dir=task.data_dir, device=task.device)
    built = evaluate.load_run(point.run_dir, data_dir=task.data_dir, device=task.device)
    run_name = str(point.run_dir)
    rows = pd.concat([evaluate_split(built, run_name, split, task.evaluate, point.run_dir)
                      for split in task.splits], ignore_index=True)
    rows["train_seed"] = point.cfg.seed
    rows["config_hash"] = point.config_hash
    for key in ("epochs", "best_epoch", "train_seconds"):
        rows[key] = trained[key]
    for key, value in {**task.tags, **point.overrides}.items():
        rows[key] = column_value(value)
    return rows[task.columns], trained


def _die_with_parent() -> None:
    # On Linux, a worker is killed with the sweep: an orphan left training would share its run
    # directory with the re-run's worker.
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


def init_worker(threads: int) -> None:
    """Per-process setup of a pool worker: ``threads`` torch threads, so that the workers share
    the cores, and (on Linux) death with the parent process."""
    _die_with_parent()
    torch.set_num_threads(threads)
