"""How the process runs: how many threads it may keep busy (via ``threadpoolctl``), where output
goes, and what a Ctrl-C does (:func:`graceful_interrupt`).

``SCRATCHNET_NUM_THREADS`` (or the CLI's ``--threads``) caps the BLAS thread pool that NumPy's
matrix products use; unset, BLAS keeps its own default (one thread per core). That limit is also
the process's **thread budget** (:func:`compute_threads`): training runs its data-parallel shards
on at most that many threads, each with its share of BLAS threads, so that the process never
keeps more cores busy than it was given (a job of a sweep running beside others, say).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

THREADS_ENV = "SCRATCHNET_NUM_THREADS"


def requested_threads(threads: int | None = None) -> int | None:
    """``threads`` if given, else ``$SCRATCHNET_NUM_THREADS`` (a positive integer), else ``None``."""
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if not raw:
            return None
        try:
            threads = int(raw)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}") from None
    if threads < 1:
        raise ValueError(f"the number of threads must be >= 1, got {threads}")
    return threads


@contextlib.contextmanager
def blas_threads(threads: int | None = None) -> Iterator[int | None]:
    """Within the block, BLAS uses at most ``requested_threads(threads)`` threads (no change when
    that is ``None``). Yields the limit in force."""
    limit = requested_threads(threads)
    if limit is None:
        yield None
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="blas"):
        yield limit


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def numpy_blas() -> list[dict[str, Any]]:
    """The BLAS library NumPy's matrix products run on (threadpoolctl's record of it): the one
    shipped in NumPy's own folder when there is one (SciPy brings a second OpenBLAS, whose thread
    count says nothing about NumPy's), else every BLAS loaded."""
    libs = blas_info()
    own = [i for i in libs if "numpy" in Path(i.get("filepath") or "").parent.name]
    return own or libs


def compute_threads() -> int:
    """The process's thread budget: the BLAS thread limit in force for NumPy (``--threads``,
    ``SCRATCHNET_NUM_THREADS``, or the share a parallel job was given), never more than the
    available cores."""
    counts = [int(i.get("num_threads") or 0) for i in numpy_blas()]
    cores = available_cores()
    return max(1, min([cores, *[c for c in counts if c > 0]]))


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries NumPy loaded, with their thread counts and kernels (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (not a file, a pipe or a CI log)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def say(message: str) -> None:
    """Print one line and flush it at once: a log file or a pipe shows each line when it happens
    (``print`` alone would hold them in a buffer until the process ends)."""
    print(message, flush=True)


@contextlib.contextmanager
def graceful_interrupt(on_first: Callable[[], None]) -> Iterator[None]:
    """First Ctrl-C calls ``on_first`` (the loop stops after the current step); a second one
    raises ``KeyboardInterrupt`` at once. Only in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        signal.signal(signal.SIGINT, previous)
        on_first()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
