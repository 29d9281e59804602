"""Running independent jobs (trainings of a sweep or of ensemble members) one at a time, in local
processes (joblib/loky), or on a Dask distributed cluster.

* ``workers=1``: in this process, one after the other.
* ``workers=W > 1``: W local processes (joblib's loky backend); each job's BLAS is capped at
  ``cores // W`` threads (threadpoolctl), so the machine is not oversubscribed.
* ``scheduler="tcp://HOST:PORT"``: a running Dask scheduler (``dask scheduler`` / ``dask worker``
  on the machines); files such as datasets must be visible to the workers at the same paths.

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


def _run_dask(fn: Callable[..., Any], jobs: Sequence[dict[str, Any]], scheduler: str,
              done: Callable[[int, Any], None]) -> None:  # fmt: skip
    from dask.distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = {client.submit(_run_one, fn, job, i, None, pure=False): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            done(futures[future], future.result())
