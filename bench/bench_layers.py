"""Single layers against PyTorch CPU, forward + backward, 1 and 2 threads, side by side.

    python bench/bench_layers.py                    # writes bench/RESULTS-layers.{json,md}
    python bench/bench_layers.py --threads 2 --rounds 4 --no-write

The layers added for the peer courses (issue 16) on shapes where they are used: layer norm over
the features of a sequence, group norm and GELU on a convolution's output, a 1-D convolution of
sequences, batch norm of dense features, global average pooling. Each is timed as one forward
and one backward pass (input gradient and parameter gradients) on the same random float32
inputs, in alternating blocks of calls in one worker process per thread count (``timing.py``),
scratchnet's inputs in the memory layout scratchnet's own producers give them (a conv output is
channels-last) and the upstream gradient in its output's layout, PyTorch's in its own
(contiguous NCHW). The ratio is scratchnet / PyTorch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (constructor source, input shape, channels-last input for scratchnet)
LAYERS: dict[str, tuple[str, tuple[int, ...], bool]] = {
    "LayerNorm(256), (64, 128, 256)": ("LayerNorm(256)", (64, 128, 256), False),
    "GroupNorm(8, 64), (64, 64, 32, 32)": ("GroupNorm(8, 64)", (64, 64, 32, 32), True),
    "Conv1D(64, 64, 5, padding=2), (64, 64, 256)": ("Conv1D(64, 64, 5, padding=2)", (64, 64, 256), False),
    "GELU, (64, 64, 32, 32)": ("GELU()", (64, 64, 32, 32), True),
    "GELU tanh, (64, 64, 32, 32)": ("GELU('tanh')", (64, 64, 32, 32), True),
    "BatchNorm1D(512), (256, 512)": ("BatchNorm1D(512)", (256, 512), False),
    "GlobalAvgPool2D, (128, 256, 8, 8)": ("GlobalAvgPool2D()", (128, 256, 8, 8), True),
}  # fmt: skip


def worker(name: str, threads: int, rounds: int, block: int) -> dict:
    import numpy as np
    import torch
    from common import limit_threads
    from timing import _alternate
    from torch_mirror import mirror

    from scratchnet import layers

    _limits = limit_threads(threads)
    source, shape, channels_last = LAYERS[name]
    ours = eval(f"layers.{source}", {"layers": layers})  # a constructor call from the table above
    theirs = mirror(ours)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    x_ours = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if channels_last else x
    g = rng.standard_normal(ours.forward(x_ours).shape).astype(np.float32)
    # the upstream gradient in the layout of the output it belongs to (what the next layer returns)
    g_ours = g
    if g.ndim == 4 and channels_last:
        g_ours = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(g)

    def step_ours(_: int) -> None:
        ours.forward(x_ours)
        ours.backward(g_ours)

    def step_torch(_: int) -> None:
        xt.grad = None
        theirs(xt).backward(gt)

    buf = np.empty_like(x)

    def one_pass(_: int) -> None:  # the unit of the "NumPy passes" column: one ufunc over the input
        np.multiply(x, x, out=buf)

    for i in range(3):
        step_ours(i)
        step_torch(i)
    times = _alternate({"scratchnet": step_ours, "torch": step_torch, "pass": one_pass}, rounds, block)
    return {"layer": name, "threads": threads,
            **{k: float(np.median(v)) * 1e3 for k, v in times.items()}}  # fmt: skip


def markdown(runs: list[dict], machine: str) -> str:
    lines = ["# Benchmark: single layers, forward + backward, scratchnet vs PyTorch (CPU)", "",
             f"Machine: {machine}. float32, random inputs, alternating blocks of calls in one process per "
             "thread count; medians. Ratio = scratchnet / PyTorch (lower is better for scratchnet).",
             "Reproduce: `python bench/bench_layers.py`", "",
             "", "NumPy passes: scratchnet's time in units of one NumPy ufunc over the input "
             "(`np.multiply(x, x, out=buf)`, timed in the same process): the elementwise layers are bound "
             "by these passes over memory, each on one core (NumPy's ufuncs are single-threaded; only "
             "the GEMMs of BLAS use the second thread), where PyTorch fuses a layer into a few "
             "multi-threaded loops. The exact GELU's `scipy.special.erf` costs about ten passes alone.",
             "",
             "| layer, input | threads | scratchnet ms | PyTorch ms | ratio | NumPy passes |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in runs:
        passes = f"{r['scratchnet'] / r['pass']:.0f}" if "pass" in r else "–"
        lines.append(f"| {r['layer']} | {r['threads']} | {r['scratchnet']:.2f} | {r['torch']:.2f} | "
                     f"**{r['scratchnet'] / r['torch']:.2f}** | {passes} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(HERE))
        name, threads, rounds, block = sys.argv[2:]
        print(json.dumps(worker(name, int(threads), int(rounds), int(block))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import os

    from bench_reference import run_worker_script
    from common import cpu_name, publish

    runs = []
    for name in args.layers:
        for t in args.threads:
            print(f"{name}, {t} thread(s) ...", file=sys.stderr)
            settings = [name, str(t), str(args.rounds), str(args.block)]
            runs.append(run_worker_script(HERE / "bench_layers.py", settings))
    md = markdown(runs, f"{cpu_name()} ({os.cpu_count()} cores)")
    publish("RESULTS-layers", runs, md, not args.no_write)


if __name__ == "__main__":
    main()
