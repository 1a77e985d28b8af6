"""Running a sweep: skip the points whose rows the CSV already holds, run the others (in this
process, or in ``jobs`` spawned processes), and append each point's rows as it finishes.

Only this (the parent) process writes the CSV, one atomic rewrite per point, so a crash or kill
leaves it whole, and a re-run finds exactly the points that still lack rows.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from pyrovae.errors import ConfigError, PyrovaeError
from pyrovae.sweep import table
from pyrovae.sweep.spec import SweepSpec
from pyrovae.sweep.work import Task, init_worker, run_task


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _has(done: set, run: str, split: str, estimator: str, k: int) -> bool:
    # a conditional model's rows are named e.g. is_log_px_given_y (see pyrovae.evaluate)
    return (run, split, estimator, k) in done or (run, split, f"{estimator}_given_y", k) in done


def plan(spec: SweepSpec, data_dir=None, device=None) -> tuple[list[Task], int]:
    """The tasks still to run (each point with the splits it lacks rows of) and how many points
    are complete in the CSV."""
    done = table.existing_keys(spec.out)
    tasks, complete = [], 0
    for point in spec.points:
        run = str(point.run_dir)
        missing = tuple(split for split in spec.evaluate.splits
                        if not all(_has(done, run, split, e, k) for e, k in spec.evaluate.estimators()))
        if not missing:
            complete += 1
            continue
        tasks.append(Task(point, missing, spec.evaluate, spec.tags, spec.columns,
                          None if data_dir is None else str(data_dir), device))
    return tasks, complete


def _execute(tasks: list[Task], jobs: int):
    """Yield (task, (rows, trained) or None, error or None) as tasks finish."""
    if jobs <= 1:
        for task in tasks:
            try:
                yield task, run_task(task), None
            except PyrovaeError as e:
                yield task, None, e
        return
    threads = max(1, available_cores() // jobs)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(threads,))
    try:
        futures = {pool.submit(run_task, task): task for task in tasks}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None and not isinstance(error, PyrovaeError):
                raise error
            yield futures[future], None if error else future.result(), error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_sweep(spec: SweepSpec, *, jobs: int = 1, data_dir=None, device=None,
              dry_run: bool = False, log=print) -> dict:
    """Run every point of ``spec`` that lacks rows in ``spec.out``, appending its rows.

    :param jobs: points run at once, each in its own spawned process with ``cores // jobs``
        torch threads; 1 runs them in this process.
    :param dry_run: only report what would run.
    :param log: where progress lines go.
    :returns: ``{"points", "complete", "ran", "rows", "failed": [(label, message)]}``.
    :raises ConfigError: the CSV exists with other columns (nothing runs).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a whole number >= 1, got {jobs!r}.")
    table.check_columns(spec.out, spec.columns)
    tasks, complete = plan(spec, data_dir, device)
    where = f" in {min(jobs, len(tasks))} processes" if jobs > 1 and len(tasks) > 1 else ""
    log(f"sweep {spec.source}: {len(spec.points)} points, {complete} already in {spec.out}, "
        f"{len(tasks)} to run{where}")
    report = {"points": len(spec.points), "complete": complete, "ran": 0, "rows": 0, "failed": []}
    if dry_run:
        for task in tasks:
            log(f"  would run {task.point.run_dir} ({task.point.label}; {', '.join(task.splits)})")
        return report
    start = time.perf_counter()
    for i, (task, result, error) in enumerate(_execute(tasks, min(jobs, len(tasks))), 1):
        point = task.point
        if error is not None:
            report["failed"].append((point.label, str(error)))
            log(f"[{i}/{len(tasks)}] FAILED {point.run_dir} ({point.label}): {error}")
            continue
        rows, trained = result
        done = table.existing_keys(spec.out)
        rows = rows[[key not in done for key in table.row_keys_in_order(rows)]]
        table.append(spec.out, rows, spec.columns)
        report["ran"] += 1
        report["rows"] += len(rows)
        log(f"[{i}/{len(tasks)}] {trained['how']} {point.run_dir} ({point.label}; "
            f"{trained['epochs']} epochs): {len(rows)} rows "
            f"({time.perf_counter() - start:.1f}s)")
    return report
