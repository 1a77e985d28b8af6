"""Running a sweep's points as jobs of `submitit <https://github.com/facebookincubator/submitit>`_
(the optional extra ``pyrovae[slurm]``): on this machine (``local``, one subprocess per point)
or on a SLURM cluster (``slurm``, one job per point).

Each job trains and evaluates its point as a worker process of ``--jobs`` does
(:func:`pyrovae.sweep.work.run_task`) and returns its rows, or the :class:`Failure` it raised;
the parent appends the rows to the one CSV as the jobs finish, so the CSV is the same as with
``--jobs``. A job that dies, is cancelled or times out is a failure of its point alone.

The sweep file's ``[executor]`` table gives the jobs' resources:

.. code-block:: toml

    [executor]
    partition = "gpu"          # SLURM partition
    time = 240                 # minutes per job (default: 60 on SLURM, none locally)
    gpus_per_node = 1          # GPUs each job sees (locally: submitit shows every job the
                               # first N; 0 hides them; default: all locally, none on SLURM)
    cpus_per_task = 8
    mem_gb = 32
    max_parallel = 16          # jobs running at once (default: --jobs for local, all for slurm)
    folder = "runs/submitit"   # the jobs' logs and pickles (default RUNS_DIR/submitit)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from pyrovae.base.errors import ConfigError
from pyrovae.sweep.plan import ExecutorSettings
from pyrovae.sweep.work import Failure, Task, failure, run_task

#: Where a sweep's points may run: in this process's children, or as SLURM jobs.
EXECUTORS = ("local", "slurm")


def _import_submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor needs submitit: pip install 'pyrovae[slurm]'.") from None
    return submitit


def check_executor(kind: str | None) -> None:
    """Raise :class:`ConfigError` unless ``kind`` is None or one of :data:`EXECUTORS` and, when
    given, submitit is installed."""
    if kind is None:
        return
    if kind not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}; got '{kind}'.")
    _import_submitit()
    if kind == "slurm" and shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm submits jobs with SLURM's sbatch, which is not on "
                          "this machine's PATH: run the sweep on a SLURM login node, or use "
                          "--executor local or --jobs N here.")


def run_job(task: Task, threads: int | None) -> tuple | Failure:
    """What a job runs: the point's rows and training summary, or why it failed."""
    if threads:
        torch.set_num_threads(threads)
    try:
        return run_task(task)
    except Exception as e:  # any error of a user's model: the parent reports it and goes on
        return failure(e)


#: A local job's time limit when the sweep file gives none (submitit needs one): a year.
NO_LIMIT_MIN = 365 * 24 * 60
SLURM_DEFAULT_MIN = 60


def parallel(kind: str, settings: ExecutorSettings, jobs: int) -> int | None:
    """How many jobs run at once: ``max_parallel``, else ``jobs`` locally and all on SLURM."""
    return settings.max_parallel or (jobs if kind == "local" else None)


def _executor(kind: str, settings: ExecutorSettings, folder: Path):
    submitit = _import_submitit()
    if kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        gpus = torch.cuda.device_count() if settings.gpus_per_node is None else \
            settings.gpus_per_node
        executor.update_parameters(timeout_min=settings.time or NO_LIMIT_MIN, gpus_per_node=gpus)
        return executor
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    except RuntimeError as e:  # submitit finds no SLURM
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"--executor slurm: submitit cannot reach SLURM ({first}); run the "
                          f"sweep on a SLURM login node, or use --executor local.") from None
    options = {"timeout_min": settings.time or SLURM_DEFAULT_MIN,
               "gpus_per_node": settings.gpus_per_node,
               "slurm_partition": settings.partition, "cpus_per_task": settings.cpus_per_task,
               "mem_gb": settings.mem_gb}
    executor.update_parameters(**{k: v for k, v in options.items() if v is not None})
    return executor


def in_submitit(tasks: list[Task], kind: str, settings: ExecutorSettings, folder: Path,
                jobs: int = 1, threads: int | None = None, poll: float = 1.0):
    """Yield ``(task, (rows, trained) or Failure)`` as the submitit jobs of ``tasks`` finish,
    with at most ``max_parallel`` of them submitted at once (all when None); jobs still running
    when the caller stops (or Ctrl-C) are cancelled."""
    executor, limit = _executor(kind, settings, folder), parallel(kind, settings, jobs)
    waiting, running = list(tasks), {}
    try:
        while waiting or running:
            while waiting and (limit is None or len(running) < limit):
                task = waiting.pop(0)
                try:
                    job = executor.submit(run_job, task, threads)
                except Exception as e:  # submitit's or the scheduler's refusal
                    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                    raise ConfigError(f"--executor {kind} could not submit a job: {first}") \
                        from None
                running[job] = task
            finished = [job for job in running if job.done()]
            if not finished:
                time.sleep(poll)
                continue
            for job in finished:
                task = running.pop(job)
                try:
                    result = job.result()
                except Exception as e:  # the job died, timed out or was cancelled
                    result = failure(e)
                yield task, result
    finally:
        for job in running:
            job.cancel(check=False)
