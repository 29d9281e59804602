"""Shared pieces of the benchmarks: settings, thread limits, real data (or a loud failure), machine."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH, LR, MOMENTUM = 128, 0.01, 0.9
EPOCH_IMAGES = 60_000


def limit_threads(threads: int, with_torch: bool = True) -> Any:
    """Cap NumPy's BLAS (threadpoolctl) and, if asked, torch's intra-op pool to ``threads``; keep
    the returned object alive for as long as the limit should hold."""
    from threadpoolctl import threadpool_limits

    if with_torch:
        import torch

        torch.set_num_threads(threads)
    return threadpool_limits(limits=threads, user_api="blas")


def load_batches(n_batches: int, batch: int = BATCH, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Normalised real Fashion-MNIST training batches. Missing or corrupt files stop the benchmark
    with the loader's message: timing random data instead would silently measure something else."""
    from scratchnet.data import DatasetError, Normalizer, load_dataset

    try:
        ds = load_dataset("fashion-mnist", download=False, progress=False)
    except DatasetError as e:
        raise SystemExit(f"benchmark needs the real Fashion-MNIST files (set SCRATCHNET_DATA):\n{e}") from e
    norm = Normalizer.fit(ds.x_train[:10000])
    order = np.random.default_rng(seed).permutation(len(ds.x_train))
    out = []
    for i in range(n_batches):
        start = (i * batch) % (len(order) - batch)
        idx = order[start : start + batch]
        out.append((norm(ds.x_train[idx]), ds.y_train[idx].astype(np.int64)))
    return out


def cpu_name() -> str:
    """The CPU's model and its widest vector extension: ``AMD EPYC (AVX-512)``."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        fields = dict(ln.split(":", 1) for ln in info.read_text().splitlines()[:40] if ":" in ln)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        name, flags = fields.get("model name", "?"), set(fields.get("flags", "").split())
        vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
        return f"{name} ({vector})"
    return platform.processor()


def host_kind() -> str:
    """What results are kept by: the CPU's model, its widest vector extension and the cores,
    ``AMD EPYC (AVX-512), 2 cores``."""
    return f"{cpu_name()}, {os.cpu_count()} cores"


def machine() -> dict[str, Any]:
    import torch
    from threadpoolctl import threadpool_info

    blas = next((i for i in threadpool_info() if i.get("user_api") == "blas"), {})
    return {
        "cpu": cpu_name(), "cpus": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "blas": f"{blas.get('internal_api', '?')} {blas.get('version', '?')} ({blas.get('architecture', '?')})",
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip


def publish(stem: str, results: Any, md: str, write: bool) -> None:
    """Print a benchmark's Markdown report and, if ``write``, keep it beside its data as
    ``bench/{stem}.md`` and ``bench/{stem}.json``."""
    print(md)
    if write:
        here = Path(__file__).resolve().parent
        (here / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
        (here / f"{stem}.md").write_text(md)
