"""How the process runs: how many BLAS threads (via ``threadpoolctl``) and where output goes.

``SCRATCHNET_NUM_THREADS`` (or the CLI's ``--threads``) caps the BLAS thread pool that NumPy's
matrix products use; unset, BLAS keeps its own default (one thread per core).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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
