"""The fused 3x3 convolution + 2x2 max-pool on its two paths against PyTorch, 1 thread.

    python bench/bench_winograd.py                  # writes bench/RESULTS-winograd.{json,md}
    python bench/bench_winograd.py --root ../other-checkout --no-write   # another version's ops

For each shape ``(N, C_in, H, C_out)`` (the layers of the recipes' networks, for one data-parallel
shard, and channel counts on both sides of ``WINOGRAD_MIN_CHANNELS``): one forward and one backward
pass (input and weight gradients) of ``convpool2d_forward`` / ``convpool2d_backward``, padding 1, no
bias, on the im2col path (one GEMM) and on the Winograd F(2x2, 3x3) path (each forced by setting
the threshold), and of PyTorch's ``conv2d`` + ``max_pool2d`` on a channels-last input (the layout
scratchnet's convolutions produce). Random float32 inputs; alternating blocks of calls in one
process per shape (``timing.py``); medians. Each shard of a training step runs on one core, hence
one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# (N, C_in, H, C_out) -> where the recipes use it
SHAPES: dict[tuple[int, int, int, int], str] = {
    (64, 1, 28, 32): "1 channel (below the threshold)",
    (64, 8, 28, 32): "threshold (8 channels)",
    (64, 16, 28, 32): "16 channels",
    (64, 32, 14, 64): "mnist-cnn, fmnist-fast: block 2",
    (64, 64, 7, 128): "fmnist-fast: block 3",
    (256, 24, 31, 32): "cifar-fast: group 1",
    (256, 32, 15, 128): "cifar-fast: group 2",
    (256, 128, 7, 128): "cifar-fast: group 3",
}  # fmt: skip


def _ours(x: Any, w: Any, winograd: bool) -> Any:
    """One forward + backward pass of the fused op on the path asked for."""
    import numpy as np

    from scratchnet.ops import convpool
    from scratchnet.ops import winograd as wg
    from scratchnet.ops.workspace import Workspace

    ws = Workspace()

    def run(_: int) -> None:
        saved, wg.WINOGRAD_MIN_CHANNELS = wg.WINOGRAD_MIN_CHANNELS, (1 if winograd else 1 << 30)
        try:
            z, cache = convpool.convpool2d_forward(x, w, None, 1, 1, ws)
        finally:
            wg.WINOGRAD_MIN_CHANNELS = saved
        assert isinstance(cache.conv, wg.WinogradCache) == winograd
        convpool.convpool2d_backward(np.full_like(z, 1e-3), cache, True, ws)

    return run


def worker(shape: tuple[int, ...], rounds: int, block: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from common import limit_threads
    from timing import _alternate

    _limits = limit_threads(1)
    N, C, H, Co = shape
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((N, H, H, C), dtype=np.float32)).transpose(0, 3, 1, 2)
    w = rng.standard_normal((Co, C, 3, 3), dtype=np.float32) * np.float32((2 / (9 * C)) ** 0.5)
    tx = torch.from_numpy(x.copy()).contiguous(memory_format=torch.channels_last).requires_grad_()
    tw = torch.from_numpy(w.copy()).requires_grad_()

    def theirs(_: int) -> None:
        z = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(tx, tw, padding=1), 2)
        z.backward(torch.full_like(z, 1e-3))
        tx.grad = tw.grad = None

    fns = {"im2col": _ours(x, w, False), "winograd": _ours(x, w, True), "torch": theirs}
    for fn in fns.values():
        fn(0)
    times = _alternate(fns, rounds, block)
    return {"shape": list(shape), **{k: float(np.median(v)) * 1e3 for k, v in times.items()}}


def markdown(runs: list[dict], machine: str) -> str:
    lines = ["# Benchmark: the fused 3x3 convolution + 2x2 max-pool, im2col vs Winograd vs PyTorch", "",
             f"Machine: {machine}. One forward + backward pass (input and weight gradients), padding 1, "
             "float32, 1 thread (a data-parallel shard's core), alternating blocks of calls; medians in ms. "
             "Reproduce: `python bench/bench_winograd.py`", "",
             "| (N, C_in, H, C_out) | layer | im2col | Winograd | PyTorch | Winograd / im2col | "
             "Winograd / PyTorch |", "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in runs:
        lines.append(f"| {tuple(r['shape'])} | {SHAPES[tuple(r['shape'])]} | {r['im2col']:.2f} | "
                     f"{r['winograd']:.2f} | {r['torch']:.2f} | **{r['winograd'] / r['im2col']:.2f}** | "
                     f"{r['winograd'] / r['torch']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        shape, rounds, block = tuple(int(s) for s in sys.argv[2].split(",")), int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(worker(shape, rounds, block)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=3)
    ap.add_argument("--root", type=Path, default=HERE.parent, help="the checkout whose scratchnet is timed")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_reference import run_worker_script
    from common import cpu_name, publish

    runs = []
    for shape in SHAPES:
        print(f"{shape} ...", file=sys.stderr)
        settings = [",".join(map(str, shape)), str(args.rounds), str(args.block)]
        runs.append(run_worker_script(HERE / "bench_winograd.py", settings, args.root.resolve()))
    md = markdown(runs, f"{cpu_name()} ({os.cpu_count()} cores)")
    publish("RESULTS-winograd", runs, md, not args.no_write)


if __name__ == "__main__":
    main()
