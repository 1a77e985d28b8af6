"""One sweep point's work, in whichever process runs it: train (or reuse), evaluate each split
that lacks rows, and return the rows, or the :class:`Failure` that stopped it; only the parent
process writes the CSV."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from pyrovae import evaluation, factor_scores, run
from pyrovae.base import io
from pyrovae.sweep.plan import SweepEvaluation
from pyrovae.sweep.points import Point, column_value
from pyrovae.sweep.training import train_or_reuse


@dataclass(frozen=True)
class Failure:
    """Why a point has no rows: the type name of what it raised and the first line of its
    message (a plain value: it crosses from a worker process to the parent)."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def failure(error: BaseException) -> Failure:
    """The :class:`Failure` of a point that raised ``error``."""
    lines = str(error).strip().splitlines()
    return Failure(type(error).__name__, lines[0] if lines else "(no message)")


def died(exitcode: int | None) -> Failure:
    """The :class:`Failure` of a point whose process ended with ``exitcode`` without a result."""
    killed = exitcode is not None and exitcode < 0
    how = f"was killed by {signal.Signals(-exitcode).name}" if killed else \
        f"exited with code {exitcode}"
    return Failure("WorkerDied", f"the process running this point {how} before it returned "
                                 f"rows (out of memory, a crash in native code, or an exit in "
                                 f"the model)")


@dataclass
class Task:
    """What a worker needs to run one point (plain, picklable values)."""

    point: Point
    splits: tuple[str, ...]
    evaluate: SweepEvaluation
    tags: dict
    columns: list[str]
    data_dir: str | None = None
    device: str | None = None


def evaluate_split(built, run_name: str, split: str, ev: SweepEvaluation,
                   run_dir: Path) -> pd.DataFrame:
    """Summary rows of ``split`` (``ev.scoring.limit`` points spread over it), then the rows of
    ``ev.metrics`` (every point of the split); writes ``RUN_DIR/points_<split>.csv`` when
    ``ev.per_datapoint``."""
    summary, per_point = evaluation.evaluate(
        built, run_name, split=split, settings=ev.scoring, quiet=True)
    if ev.per_datapoint:
        io.write_csv(per_point, run_dir / f"points_{split}.csv")
    if ev.metrics:
        scores = factor_scores.disentanglement_rows(built, run_name, split=split,
                                                    seed=ev.scoring.seed,
                                                    batch_size=ev.scoring.batch_size)
        summary = pd.concat([summary, scores], ignore_index=True)
    return summary


def run_task(task: Task) -> tuple[pd.DataFrame, dict]:
    """Train or reuse the point's run, evaluate ``task.splits``; returns (rows in
    ``task.columns`` order, the training summary of :func:`train_or_reuse`)."""
    point = task.point
    trained = train_or_reuse(point.cfg, point.run_dir, data_dir=task.data_dir, device=task.device)
    built = run.load(point.run_dir, data_dir=task.data_dir, device=task.device)
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


def run_in_worker(task: Task, results, threads: int) -> None:
    """Entry point of the process that runs ``task`` alone: run it with ``threads`` torch threads
    (so that the workers share the cores) and send ``(rows, trained)`` or its :class:`Failure`
    through the connection ``results``.

    The worker dies with the parent (on Linux) and ignores Ctrl-C, which the parent handles by
    ending its workers.
    """
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    try:
        result = run_task(task)
    except Exception as e:  # any error of a user's model: the parent reports it and goes on
        result = failure(e)
    results.send(result)
    results.close()
