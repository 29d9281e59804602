"""Running independent jobs (trainings of a sweep or of ensemble members) one at a time, in local
processes (joblib/loky), or on a Dask distributed cluster.

* ``workers=1``: in this process, one after the other.
* ``workers=W > 1``: W local processes (joblib's loky backend); each job's BLAS is capped at
  ``cores // W`` threads (threadpoolctl), so the machine is not oversubscribed.
* ``scheduler="tcp://HOST:PORT"``: a running Dask scheduler (``dask scheduler`` / ``dask worker``
  on the machines); files such as datasets must be visible to the workers at the same paths. Each
  job's BLAS is capped at its worker thread's share of that machine's cores.

A job's BLAS cap is also its thread budget (:func:`scratchnet.runtime.compute_threads`): its
training runs its data-parallel shards on at most that many threads, so W workers never keep
more threads busy than there are cores.

Jobs share no mutable state: each is a function of its own arguments and returns its result. A
job that raises is reported as a :class:`JobFailure` in its place; the others' results are kept.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobFailure:
    """What a job that raised left behind: its index, the error and the traceback text."""

    index: int
    error: str
    traceback: str

    def __str__(self) -> str:
        return f"job {self.index} failed: {self.error}"


class JobProgress:
    """Progress of many jobs, readable when they finish out of order: one numbered line per
    finished job naming it (``[3/5] member 4: completed, test 0.9123``), and an overall bar
    while jobs are running when standard error is a terminal. Use as ``run_jobs(on_done=...)``.

    Args:
        names: one label per job.
        describe: turns a job's result into the text after the colon.
        log: where the lines go (``None``: nowhere).
        bar: show the overall bar (default: only where standard error is a terminal).
    """

    def __init__(self, names: Sequence[str], describe: Callable[[Any], str],
                 log: Callable[[str], None] | None, bar: bool | None = None) -> None:  # fmt: skip
        import sys

        from .runtime import is_terminal

        self.names, self.describe, self.log, self.finished = list(names), describe, log, 0
        self._bar = None
        if (is_terminal(sys.stderr) if bar is None else bar) and len(self.names) > 1:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=len(self.names), desc="jobs", unit="job", leave=False)

    def __call__(self, index: int, result: Any) -> None:
        self.finished += 1
        text = str(result) if isinstance(result, JobFailure) else self.describe(result)
        line = f"[{self.finished}/{len(self.names)}] {self.names[index]}: {text}"
        if self._bar is not None:
            self._bar.update(1)
            if self.log is not None:
                self._bar.write(line)
        elif self.log is not None:
            self.log(line)
        if self._bar is not None and self.finished == len(self.names):
            self._bar.close()


def _run_one(fn: Callable[..., Any], kwargs: dict[str, Any], index: int, blas_threads: int | None) -> Any:
    """Run one job, capping BLAS threads; an exception becomes a :class:`JobFailure`."""
    try:
        if blas_threads is None:
            return fn(**kwargs)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=blas_threads, user_api="blas"):
            return fn(**kwargs)
    except Exception as e:  # reported per job; the other jobs go on
        return JobFailure(index, f"{type(e).__name__}: {e}", traceback.format_exc())


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[dict[str, Any]],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[fn(**job) for job in jobs]``, run as described in the module docstring.

    Args:
        fn: a module-level function (it is pickled to the worker processes).
        on_done: called with ``(index, result)`` as each job finishes (in completion order), e.g.
            to advance a progress bar.
    Returns:
        The results in the order of ``jobs``; failed jobs as :class:`JobFailure`.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    results: list[Any] = [None] * len(jobs)

    def done(i: int, result: Any) -> None:
        results[i] = result
        if on_done is not None:
            on_done(i, result)

    if scheduler is not None:
        _run_dask(fn, jobs, scheduler, done)
    elif workers == 1:
        for i, job in enumerate(jobs):
            done(i, _run_one(fn, job, i, None))
    else:
        from joblib import Parallel, delayed

        threads = max(1, (os.cpu_count() or 1) // workers)
        calls = (delayed(_run_one)(fn, job, i, threads) for i, job in enumerate(jobs))
        for i, result in enumerate(Parallel(n_jobs=workers, backend="loky", return_as="generator")(calls)):
            done(i, result)
    return results


def _host(address: str) -> str:
    """``"tcp://10.0.0.5:40123"`` -> ``"10.0.0.5"``."""
    return address.split("://")[-1].rsplit(":", 1)[0]


def _run_on_worker(fn: Callable[..., Any], kwargs: dict[str, Any], index: int,
                   processes_per_host: dict[str, int]) -> Any:  # fmt: skip
    """A job on a Dask worker: BLAS capped at this worker thread's share of its machine's cores
    (cores // (worker processes on the machine x threads per worker))."""
    from dask.distributed import get_worker

    from .runtime import available_cores

    worker = get_worker()
    share = processes_per_host.get(_host(worker.address), 1) * max(1, worker.state.nthreads)
    return _run_one(fn, kwargs, index, max(1, available_cores() // share))


def _run_dask(fn: Callable[..., Any], jobs: Sequence[dict[str, Any]], scheduler: str,
              done: Callable[[int, Any], None]) -> None:  # fmt: skip
    from dask.distributed import Client, as_completed

    with Client(scheduler) as client:
        per_host: dict[str, int] = {}
        for address in client.scheduler_info()["workers"]:
            per_host[_host(address)] = per_host.get(_host(address), 0) + 1
        futures = {client.submit(_run_on_worker, fn, job, i, per_host, pure=False): i
                   for i, job in enumerate(jobs)}  # fmt: skip
        for future in as_completed(futures):
            done(futures[future], _with_cluster_hint(future.result()))


def _missing_file(error: str) -> bool:
    """Whether a job's error says a file was not found (a DatasetError names the missing files)."""
    return error.startswith("FileNotFoundError") or (error.startswith("DatasetError") and " missing " in error)


def _with_cluster_hint(result: Any) -> Any:
    """A job that failed on a cluster worker for want of a file: say that the workers need it."""
    if isinstance(result, JobFailure) and _missing_file(result.error):
        hint = (" [on a Dask cluster, the data directory must be visible to every worker at the same path: "
                "give --data-dir on a shared file system, or set SCRATCHNET_DATA on the workers]")  # fmt: skip
        return JobFailure(result.index, result.error + hint, result.traceback)
    return result
