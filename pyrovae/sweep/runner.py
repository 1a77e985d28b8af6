"""Running a sweep: skip the points whose rows the CSV already holds, run the others (in this
process, or in ``jobs`` spawned processes), and append each point's rows as it finishes.

Only this (the parent) process writes the CSV, one atomic rewrite per point, so a crash or kill
leaves it whole, and a re-run finds exactly the points that still lack rows: those not run yet
and those that failed.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from contextlib import closing
from multiprocessing.connection import wait
from pathlib import Path

from pyrovae.base import io
from pyrovae.base.errors import ConfigError, Interrupted
from pyrovae.results import check_appendable
from pyrovae.sweep import table
from pyrovae.sweep.cluster import check_executor, in_submitit, parallel
from pyrovae.sweep.plan import SweepPlan
from pyrovae.sweep.work import Failure, Task, died, failure, run_in_worker, run_task


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _has(done: set, run: str, split: str, estimator: str, k: int) -> bool:
    # a conditional model's rows are named e.g. is_log_px_given_y (see pyrovae.evaluation)
    return (run, split, estimator, k) in done or (run, split, f"{estimator}_given_y", k) in done


def pending(plan: SweepPlan, data_dir=None, device=None) -> tuple[list[Task], int]:
    """The tasks still to run (each point with the splits it lacks rows of) and how many points
    are complete in the CSV."""
    done = table.existing_keys(plan.out)
    tasks, complete = [], 0
    for point in plan.points:
        run = str(point.run_dir)
        missing = tuple(split for split in plan.evaluate.splits
                        if not all(_has(done, run, split, e, k)
                                   for e, k in plan.evaluate.estimators()))
        if not missing:
            complete += 1
            continue
        tasks.append(Task(point, missing, plan.evaluate, plan.tags, plan.columns,
                          None if data_dir is None else str(data_dir), device))
    return tasks, complete


def _in_this_process(tasks: list[Task]):
    for task in tasks:
        try:
            result = run_task(task)
        except Interrupted:
            raise
        except Exception as e:  # any error of a user's model: report it, run the other points
            result = failure(e)
        yield task, result


def _in_processes(tasks: list[Task], jobs: int):
    # One spawned process per point, not a pool: a point whose process dies (out of memory, a
    # crash in native code) then fails alone, and is known by its process.
    context = multiprocessing.get_context("spawn")
    threads = max(1, available_cores() // jobs)
    waiting, running = list(tasks), {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                task = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=run_in_worker, args=(task, send, threads))
                process.start()
                send.close()  # the worker holds the only write end: its death reads as EOF
                running[receive] = (process, task)
            for receive in wait(list(running)):
                process, task = running.pop(receive)
                try:
                    result = receive.recv()
                except EOFError:
                    result = None
                receive.close()
                process.join()
                yield task, died(process.exitcode) if result is None else result
    finally:  # interrupted, or the caller stopped: end the points still running
        for process, _ in running.values():
            process.terminate()
        for receive, (process, _) in running.items():
            process.join()
            receive.close()


def _execute(tasks: list[Task], jobs: int, plan: SweepPlan, executor: str | None):
    """Yield ``(task, (rows, trained) or Failure)`` as tasks finish: as submitit jobs of
    ``executor``, in this process (``jobs <= 1``) or in up to ``jobs`` spawned processes."""
    if executor is not None:
        folder = Path(plan.executor.folder or plan.runs_dir / "submitit")
        at_once = parallel(executor, plan.executor, jobs) or 1
        threads = max(1, available_cores() // at_once) if executor == "local" else None
        return in_submitit(tasks, executor, plan.executor, folder, jobs, threads)
    return _in_this_process(tasks) if jobs <= 1 else _in_processes(tasks, jobs)


def run_sweep(plan: SweepPlan, *, jobs: int = 1, data_dir=None, device=None,
              dry_run: bool = False, log=print, executor: str | None = None) -> dict:
    """Run every point of ``plan`` that lacks rows in ``plan.out``, appending its rows.

    :param jobs: points run at once, each in its own spawned process with ``cores // jobs``
        torch threads; 1 runs them in this process.
    :param executor: ``local`` or ``slurm``: run each point as a submitit job
        (:mod:`pyrovae.sweep.cluster`, resources from the sweep file's ``[executor]``); the rows
        come back to the one CSV as with ``jobs``.
    :param dry_run: only report what would run.
    :param log: where progress lines go.

    A point that fails (any exception, or its worker process dies) is logged in one line and
    gets no rows; the other points run on, and a re-run runs it again.

    :returns: ``{"points", "complete", "ran", "rows", "failed": [(label, "Type: message")]}``.
    :raises ConfigError: the output policy refuses the CSV (e.g. it has other columns) or
        the runs directory (nothing runs).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a whole number >= 1, got {jobs!r}.")
    check_executor(executor)
    check_appendable(plan.out, plan.columns, "the sweep's out")
    io.check_output(plan.runs_dir, "the sweep's runs_dir", directory=True)
    tasks, complete = pending(plan, data_dir, device)
    where = f" in {min(jobs, len(tasks))} processes" if jobs > 1 and len(tasks) > 1 else ""
    where = f" as {executor} submitit jobs" if executor else where
    log(f"sweep {plan.source}: {len(plan.points)} points, {complete} already in {plan.out}, "
        f"{len(tasks)} to run{where}")
    report = {"points": len(plan.points), "complete": complete, "ran": 0, "rows": 0, "failed": []}
    if dry_run:
        for task in tasks:
            log(f"  would run {task.point.run_dir} ({task.point.label}; {', '.join(task.splits)})")
        return report
    start = time.perf_counter()
    with closing(_execute(tasks, min(jobs, len(tasks)), plan, executor)) as finished:
        for i, (task, result) in enumerate(finished, 1):
            point = task.point
            if isinstance(result, Failure):
                report["failed"].append((point.label, str(result)))
                log(f"[{i}/{len(tasks)}] FAILED {point.run_dir} ({point.label}): {result}")
                continue
            rows, trained = result
            appended = table.append(plan.out, rows, plan.columns)
            report["ran"] += 1
            report["rows"] += appended
            log(f"[{i}/{len(tasks)}] {trained['how']} {point.run_dir} ({point.label}; "
                f"{trained['epochs']} epochs): {appended} rows "
                f"({time.perf_counter() - start:.1f}s)")
    return report
