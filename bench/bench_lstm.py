"""scratchnet's LSTM and GRU vs ``torch.nn.LSTM`` / ``torch.nn.GRU`` (CPU), training steps side by
side, 1 and 2 threads.

    python bench/bench_lstm.py                 # writes bench/RESULTS-lstm.{json,md}
    python bench/bench_lstm.py --threads 2 --rounds 4 --no-write --models gru-rows

Shapes: the sequential-MNIST models (``lstm-rows``, ``gru-rows``: 28 steps of 28 values, H = 128,
batch 128, last hidden state -> dense(10)) and the character model (``char-lstm``: embedding(64),
H = 512, T = 128, batch 64, every position -> dense(65)). Each model is built with ``scratchnet.zoo``
and mirrored layer by layer in torch with the same weights (``torch_mirror.py``); steps (forward,
cross-entropy, backward, Adam with clipping at norm 1 as in the recipes) alternate in blocks
between the two frameworks in one worker process per thread count (``timing.py``). At 2 threads
scratchnet runs as ``scratchnet train`` does, each batch in two shards with the second in a forked
process (``DataParallel``); a third runner of one process on 2 BLAS threads in the same
alternation slowed both others by half or more (spinning thread pools). Inputs are random (an
LSTM's cost does not depend on the values). A per-layer profile of scratchnet's step (one
process) names what bounds the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHAPES = {
    "lstm-rows": dict(in_shape=(1, 28, 28), num_classes=10, batch=128, label="T=28, D=28, H=128, batch 128"),
    "gru-rows": dict(in_shape=(1, 28, 28), num_classes=10, batch=128, label="T=28, D=28, H=128, batch 128"),
    "char-lstm": dict(in_shape=(128,), num_classes=65, batch=64, label="T=128, D=64, H=512, batch 64"),
}


def worker(model_name: str, threads: int, rounds: int, block: int, warmup: int) -> dict:
    import numpy as np
    from common import limit_threads
    from layer_profile import profile
    from timing import time_pair
    from torch_mirror import mirror

    from scratchnet import zoo
    from scratchnet.data_parallel import DataParallel

    _limits = limit_threads(threads)
    shape = SHAPES[model_name]
    rng = np.random.default_rng(0)
    n, batch = rounds * block + warmup + 8, shape["batch"]
    if model_name == "char-lstm":
        batches = [(rng.integers(0, 65, (batch, 128)), rng.integers(0, 65, (batch, 128))) for _ in range(n)]
    else:
        batches = [(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, batch))
                   for _ in range(n)]  # fmt: skip
    ours = zoo.build(model_name, rng=0, in_shape=shape["in_shape"], num_classes=shape["num_classes"])
    theirs = mirror(ours)
    # at 2 threads as `scratchnet train` runs: each batch in two shards, the second in a forked process
    runner = DataParallel(ours, threads) if threads > 1 else ours
    out = {
        "threads": threads,
        "model": model_name,
        "shards": threads,
        **time_pair(runner, theirs, batches, rounds, block, warmup, adam=True),
    }
    if runner is not ours:
        runner.close()
    out["profile"] = profile(ours, batches[0][0], reps=5)
    return out


def markdown(runs: list[dict], host: str) -> str:
    lines = [
        "# Benchmark: recurrent training steps, scratchnet vs torch.nn.LSTM / torch.nn.GRU (CPU)",
        "",
        f"Host: {host}. Adam, float32, random inputs; alternating blocks of steps in one process per "
        "thread count.",
        "Ratio = scratchnet / PyTorch step time (lower is better for scratchnet).",
        "Reproduce: `python bench/bench_lstm.py`",
        "",
        "| model | shape | threads | scratchnet ms/step | PyTorch ms/step | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        s, p = r["scratchnet"]["step_ms_median"], r["torch"]["step_ms_median"]
        shape = SHAPES[r["model"]]["label"]
        how = f"{r['threads']} (shards in processes)" if r.get("shards", 1) > 1 else str(r["threads"])
        lines.append(f"| {r['model']} | {shape} | {how} | {s:.1f} | {p:.1f} | **{s / p:.2f}** |")
    for r in runs:
        lines += ["", f"## Profile: {r['model']}, {r['threads']} thread(s) (forward + backward per layer)", "",
                  "| layer | forward ms | backward ms |", "|---|---:|---:|"]  # fmt: skip
        lines += [
            f"| {x['layer']} | {x['forward_ms']:.2f} | {x['backward_ms']:.2f} |" for x in r["profile"]["layers"]
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(HERE))
        model, threads, rounds, block, warmup = sys.argv[2:]
        print(json.dumps(worker(model, int(threads), int(rounds), int(block), int(warmup))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--models", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_reference import run_worker_script

    runs = []
    for model in args.models:
        for t in args.threads:
            print(f"{model}, {t} thread(s) ...", file=sys.stderr)
            settings = [str(args.rounds), str(args.block), str(args.warmup)]
            runs.append(run_worker_script(HERE / "bench_lstm.py", [model, str(t), *settings]))
    from common import host_kind, publish

    md = markdown(runs, host_kind())
    publish("RESULTS-lstm", runs, md, not args.no_write)


if __name__ == "__main__":
    main()
