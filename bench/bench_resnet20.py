"""ResNet-20 (the zoo's ``resnet20``, a graph model): one training step in scratchnet and in its
PyTorch twin, same weights, same batch, same thread count, each framework in a process of its own.

    python bench/bench_resnet20.py                    # 2 threads, batch 128, 10 timed steps
    python bench/bench_resnet20.py --threads 1 2 --steps 12 --no-write

* **scratchnet**: ``Trainer.train_step`` with ``scratchnet train --dataset cifar10 --model resnet20``'s
  recipe (its batch, data-parallel shards, crops and flips, optimizer) on CIFAR-10-shaped images.
* **PyTorch**: the same graph written out with ``torch.nn.functional`` (``torch_mirror.graph_twin``:
  every call of the graph in its order, the same initial weights), the same batch, cross-entropy,
  SGD with the recipe's momentum, Nesterov and weight decay; ``torch.set_num_threads`` at the same count.

The median of ``--steps`` steps after two warm-up steps; writes ``bench/RESULTS-resnet20.{json,md}``
(unless ``--no-write``) with the CPU model and its vector extensions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import limit_threads, machine  # noqa: E402


def _setup() -> tuple[Any, Any, np.ndarray, np.ndarray]:
    from scratchnet import zoo
    from scratchnet.recipes import dataset_defaults
    from scratchnet.train import TrainConfig

    recipe = dataset_defaults("cifar10", "resnet20")
    recipe.pop("model")
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in recipe.items() if k in known})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 * cfg.batch_size, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    return cfg, zoo.build("resnet20", rng=0), x, y


def scratchnet_worker(threads: int, steps: int) -> dict[str, Any]:
    _limits = limit_threads(threads, with_torch=False)
    from scratchnet.train import Trainer

    cfg, model, x, y = _setup()
    trainer = Trainer(model, cfg, progress=False, log=None)
    times = []
    for k in range(steps + 2):
        sl = slice((k % 4) * cfg.batch_size, (k % 4 + 1) * cfg.batch_size)
        t = time.perf_counter()
        trainer.train_step(x[sl], y[sl], np.random.default_rng(k))
        times.append(time.perf_counter() - t)
    return {"batch": cfg.batch_size, "shards": cfg.shards, "step_ms": float(np.median(times[2:])) * 1e3}


def torch_worker(threads: int, steps: int) -> dict[str, Any]:
    _limits = limit_threads(threads, with_torch=True)
    import torch
    from torch_mirror import graph_twin

    from scratchnet.data import Augment

    torch.set_num_threads(threads)
    cfg, model, x, y = _setup()
    net, params = graph_twin(model)
    opt = torch.optim.SGD(list(params.values()), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)  # fmt: skip
    augment = Augment(cfg.crop_padding, cfg.flip)
    times = []
    for k in range(steps + 2):
        sl = slice((k % 4) * cfg.batch_size, (k % 4 + 1) * cfg.batch_size)
        t = time.perf_counter()
        xa = augment(x[sl], np.random.default_rng(k)) if augment.active else x[sl]
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(np.ascontiguousarray(xa))),
                                                 torch.from_numpy(y[sl]))  # fmt: skip
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return {"batch": cfg.batch_size, "step_ms": float(np.median(times[2:])) * 1e3}


WORKERS = {"scratchnet": scratchnet_worker, "torch": torch_worker}


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# ResNet-20 (a graph model): one training step, scratchnet vs PyTorch CPU", "",
             f"Machine: {m['cpu']}, {m['cpus']} cores; NumPy {m['numpy']}, torch {m['torch']}, {m['blas']}; "
             f"{m['date']}. Reproduce: `python bench/bench_resnet20.py`.", "",
             "| threads | batch | scratchnet step | PyTorch step | ratio (scratchnet / PyTorch) |",
             "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in results["steps"]:
        s, t = r["scratchnet"], r["torch"]
        lines.append(f"| {r['threads']} | {s['batch']} | {s['step_ms']:.0f} ms | {t['step_ms']:.0f} ms | "
                     f"{s['step_ms'] / t['step_ms']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        kind, threads, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(WORKERS[kind](threads, steps)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from bench_reference import run_worker_script

    results: dict[str, Any] = {"machine": machine(), "steps": []}
    for threads in args.threads:
        row: dict[str, Any] = {"threads": threads}
        for kind in ("scratchnet", "torch"):  # one process at a time, never two at once
            row[kind] = run_worker_script(Path(__file__), [kind, str(threads), str(args.steps)])
        results["steps"].append(row)
        ours, theirs = row["scratchnet"]["step_ms"], row["torch"]["step_ms"]
        print(f"{threads} thread(s): scratchnet {ours:.0f} ms, PyTorch {theirs:.0f} ms, "
              f"ratio {ours / theirs:.2f}", flush=True)
    text = markdown(results)
    print(text)
    if not args.no_write:
        (HERE / "RESULTS-resnet20.json").write_text(json.dumps(results, indent=1))
        (HERE / "RESULTS-resnet20.md").write_text(text)


if __name__ == "__main__":
    main()
