"""Per-layer forward/backward time of a scratchnet model and the GFLOP/s of its GEMM layers."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def matmul_ceiling(reps: int = 5) -> float:
    """NumPy float32 GFLOP/s on a large square product (the practical ceiling)."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ a
        ts.append(time.perf_counter() - t)
    return 2 * 2048**3 / float(np.median(ts)) / 1e9


def profile(model: Any, x: np.ndarray, reps: int = 25) -> dict[str, Any]:
    """Median forward and backward milliseconds of every layer on the input it sees in ``model``.

    Fused layers (``ConvPool2D``) are one layer. Conv and dense layers are timed with their input
    gradient (forward + both gradients), as in the middle of a network; in training the first
    conv skips it. GFLOP/s counts the layer's own GEMM work (3 x 2 x MACs).
    """
    inputs, h = [], x
    for layer in model.layers:
        inputs.append(h)
        h = layer.forward(h)
    ceiling = matmul_ceiling()
    rows = []
    for layer, xin in zip(model.layers, inputs, strict=True):
        g = np.full_like(layer.forward(xin), 1e-3)  # in the output's memory layout, as in training
        fwd, bwd = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            layer.forward(xin)
            t1 = time.perf_counter()
            layer.backward(g)
            bwd.append(time.perf_counter() - t1)
            fwd.append(t1 - t0)
        f, b = float(np.median(fwd)), float(np.median(bwd))
        row: dict[str, Any] = {"layer": repr(layer), "forward_ms": f * 1e3, "backward_ms": b * 1e3}
        macs = layer.macs(xin.shape[1:]) * xin.shape[0]
        if macs:
            row["gflops"] = 3 * 2 * macs / (f + b) / 1e9
            row["fraction_of_ceiling"] = row["gflops"] / ceiling
        rows.append(row)
    return {"layers": rows, "matmul_ceiling_gflops": ceiling}


def profile_worker(model_name: str, threads: int) -> dict[str, Any]:
    from common import limit_threads, load_batches

    from scratchnet import zoo

    _limits = limit_threads(threads, with_torch=False)
    x, _ = load_batches(1)[0]
    return {"threads": threads, **profile(zoo.build(model_name, rng=0), x)}
