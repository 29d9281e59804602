"""The CIFAR-10 default network, step by step: one training step in scratchnet and in PyTorch CPU
at the same thread count, and where scratchnet's step spends its time, layer by layer.

    python bench/bench_cifar10_step.py                   # 2 threads, the default recipe's batch
    python bench/bench_cifar10_step.py --threads 1 2 --steps 12

Each measurement runs in a process of its own, one after the other (never two at once):

* **scratchnet**: ``Trainer.train_step`` of the default recipe (``scratchnet train --dataset
  cifar10``: its model, batch size, data-parallel shards, augmentation, label smoothing and
  optimizer) on real CIFAR-10 images; the median of ``--steps`` steps after two warm-up steps.
* **PyTorch**: the same network (``torch_mirror``, same weights), batch, augmentation (scratchnet's
  NumPy pipeline), loss and optimizer; ``torch.set_num_threads`` at the same count.
* **profile**: each layer's forward and backward milliseconds on the batch (one process, the
  threads given to BLAS, no shards), the GFLOP/s of its GEMM work and its fraction of the
  machine's ceiling (NumPy's float32 2048x2048 product).

Writes ``bench/RESULTS-cifar10-step.{json,md}`` (unless ``--no-write``).
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

from common import limit_threads, machine, publish  # noqa: E402

WORKERS = {}  # filled below: "scratchnet", "torch", "profile"


def run_isolated(kind: str, threads: int, steps: int) -> dict[str, Any]:
    """``WORKERS[kind](threads, steps)`` in a fresh process (its last output line is the JSON)."""
    from bench_reference import run_worker_script

    return run_worker_script(Path(__file__), [kind, str(threads), str(steps)])


def _setup() -> tuple[Any, ...]:
    from scratchnet import zoo
    from scratchnet.data import Normalizer, load_dataset
    from scratchnet.experiment import initialise_from_data
    from scratchnet.recipes import dataset_defaults
    from scratchnet.train import TrainConfig

    recipe = dataset_defaults("cifar10")
    name = recipe.pop("model")
    options = recipe.pop("model_options", None) or {}
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in recipe.items() if k in known})
    ds = load_dataset("cifar10", progress=False)
    x, y = ds.x_train[: 4 * cfg.batch_size], ds.y_train[: 4 * cfg.batch_size]
    norm = Normalizer.fit(ds.x_train[:5000])
    model = zoo.build(name, rng=0, in_shape=ds.input_shape, num_classes=10, **options)
    initialise_from_data(model, name, ds.x_train[:5000], norm, 0)
    return cfg, name, model, norm, x, y


def scratchnet_worker(threads: int, steps: int) -> dict[str, Any]:
    _limits = limit_threads(threads, with_torch=False)
    from scratchnet.train import Trainer

    cfg, name, model, norm, x, y = _setup()
    trainer = Trainer(model, cfg, norm, progress=False, log=None)
    times = []
    for k in range(steps + 2):
        b = k % 4
        xb, yb = (
            x[b * cfg.batch_size : (b + 1) * cfg.batch_size],
            y[b * cfg.batch_size : (b + 1) * cfg.batch_size],
        )
        t = time.perf_counter()
        trainer.train_step(xb, yb, np.random.default_rng(k))
        times.append(time.perf_counter() - t)
    return {
        "model": name,
        "batch": cfg.batch_size,
        "shards": cfg.shards,
        "step_ms": float(np.median(times[2:])) * 1e3,
    }


def torch_worker(threads: int, steps: int) -> dict[str, Any]:
    _limits = limit_threads(threads, with_torch=True)
    import torch
    from torch_mirror import mirror

    from scratchnet.data import Augment

    torch.set_num_threads(threads)
    cfg, name, model, norm, x, y = _setup()
    net = mirror(model)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)  # fmt: skip
    augment = Augment(cfg.crop_padding, cfg.flip)
    times = []
    for k in range(steps + 2):
        b = k % 4
        xb, yb = (
            x[b * cfg.batch_size : (b + 1) * cfg.batch_size],
            y[b * cfg.batch_size : (b + 1) * cfg.batch_size],
        )
        t = time.perf_counter()
        xa = augment(xb, np.random.default_rng(k)) if augment.active else xb
        scores = net(torch.from_numpy(norm(xa)))
        loss = torch.nn.functional.cross_entropy(scores, torch.from_numpy(yb.astype(np.int64)),
                                                 label_smoothing=cfg.label_smoothing)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return {"model": name, "batch": cfg.batch_size, "step_ms": float(np.median(times[2:])) * 1e3}


def profile_worker(threads: int, steps: int) -> dict[str, Any]:
    _limits = limit_threads(threads, with_torch=False)
    from layer_profile import profile

    cfg, _, model, norm, x, _ = _setup()
    return {"threads": threads, **profile(model, norm(x[: cfg.batch_size]), reps=max(3, steps // 2))}


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    head = (f"Machine: {m['cpu']}, {m['cpus']} cores; NumPy {m['numpy']}, torch {m['torch']}, {m['blas']}; "
            f"{m['date']}. Reproduce: `python bench/bench_cifar10_step.py`.")  # fmt: skip
    lines = ["# CIFAR-10 default network: one training step, scratchnet vs PyTorch CPU", "", head, "",
             "| threads | model | batch | scratchnet step | PyTorch step | ratio (scratchnet / PyTorch) |",
             "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in results["steps"]:
        s, t = r["scratchnet"], r["torch"]
        ratio = s["step_ms"] / t["step_ms"]
        lines.append(f"| {r['threads']} | `{s['model']}` ({s['shards']} shards) | {s['batch']} | "
                     f"{s['step_ms']:.0f} ms | {t['step_ms']:.0f} ms | **{ratio:.2f}** |")  # fmt: skip
    batch = results["steps"][0]["scratchnet"]["batch"]
    for prof in results["profiles"]:
        total = sum(r["forward_ms"] + r["backward_ms"] for r in prof["layers"])
        ceiling = prof["matmul_ceiling_gflops"]
        lines += ["", f"## Layer by layer, {prof['threads']} thread(s), one process, batch {batch}", "",
                  f"GEMM ceiling (NumPy float32 2048x2048 product): {ceiling:.0f} GFLOP/s.", "",
                  "| layer | forward ms | backward ms | share | GFLOP/s | of ceiling |",
                  "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in prof["layers"]:
            share = (r["forward_ms"] + r["backward_ms"]) / total
            g = f"{r['gflops']:.0f} | {r['fraction_of_ceiling']:.0%}" if "gflops" in r else "– | –"
            name = r["layer"].replace("|", "\\|")
            name = name if len(name) < 90 else name[:87] + "..."
            lines.append(f"| `{name}` | {r['forward_ms']:.1f} | {r['backward_ms']:.1f} | {share:.0%} | {g} |")
        lines.append(f"| total | | | | {total:.0f} ms | |")
    return "\n".join(lines) + "\n"


WORKERS.update(scratchnet=scratchnet_worker, torch=torch_worker, profile=profile_worker)


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        kind, threads, steps = sys.argv[2:5]
        print(json.dumps(WORKERS[kind](int(threads), int(steps))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    results: dict[str, Any] = {"machine": machine(), "steps": [], "profiles": []}
    for threads in args.threads:
        s = run_isolated("scratchnet", threads, args.steps)
        t = run_isolated("torch", threads, args.steps)
        results["steps"].append({"threads": threads, "scratchnet": s, "torch": t})
        print(f"{threads} threads: scratchnet {s['step_ms']:.0f} ms, PyTorch {t['step_ms']:.0f} ms, "
              f"ratio {s['step_ms'] / t['step_ms']:.2f}", flush=True)  # fmt: skip
        results["profiles"].append(run_isolated("profile", threads, args.steps))
    text = markdown(results)
    publish("RESULTS-cifar10-step", results, text, not args.no_write)


if __name__ == "__main__":
    main()
