"""scratchnet vs PyTorch CPU on the reference CNN (../shared/reference-cnn.md), side by side.

    python bench/bench_reference.py            # 1 and 2 threads; writes bench/RESULTS.{json,md}
    python bench/bench_reference.py --threads 2 --rounds 6 --no-write   # a quick look

For each thread count a fresh worker process sets OPENBLAS/OMP/MKL_NUM_THREADS before NumPy and
torch are imported (and ``torch.set_num_threads``), builds the reference CNN in both frameworks
with identical weights, and times training steps (batch 128, SGD lr 0.01 momentum 0.9, softmax
cross-entropy) on the same real Fashion-MNIST batches, alternating blocks of steps between the
two so that machine noise hits both. Seconds per epoch are extrapolated from the median step
(60,000 images = 468.75 steps). Inference is timed at batch 1000, also alternating. Peak
resident memory comes from separate processes that each run only one framework (training steps
plus inference). A per-layer profile gives each scratchnet layer's forward and backward time
and the achieved GFLOP/s of conv and dense layers next to NumPy's own float32 matmul GFLOP/s
measured in the same process (the practical ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BATCH, LR, MOMENTUM = 128, 0.01, 0.9
EPOCH_IMAGES = 60_000


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "SCRATCHNET_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# --------------------------------------------------------------------------------------------
# worker side (imports numpy / torch only after the thread variables are set by the parent)
# --------------------------------------------------------------------------------------------
def load_batches(n_batches: int, batch: int, seed: int = 0):
    """Real Fashion-MNIST training images if the files are found, else random data."""
    import numpy as np

    try:
        from scratchnet.data import Normalizer, load_dataset

        ds = load_dataset("fashion-mnist", download=False, progress=False)
        x, y = ds.x_train, ds.y_train
        source = "Fashion-MNIST training set"
    except Exception:
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 256, (n_batches * batch, 1, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n_batches * batch)
        source = "random uint8 images"
        from scratchnet.data import Normalizer
    norm = Normalizer.fit(x[:10000])
    order = np.random.default_rng(seed).permutation(len(x))
    batches = []
    for i in range(n_batches):
        idx = order[(i * batch) % len(x) : (i * batch) % len(x) + batch]
        batches.append((norm(x[idx]), y[idx].astype(np.int64)))
    return batches, source


def build_pair(seed: int = 0):
    """The reference CNN in scratchnet and in torch, with the same initial weights."""
    import numpy as np
    import torch

    from scratchnet import zoo

    ours = zoo.build("reference-cnn", rng=seed)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3136, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10),
    )  # fmt: skip
    with torch.no_grad():
        for i in (0, 3, 7, 9):
            w, b = ours[i].params["W"], ours[i].params["b"]
            theirs[i].weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
            theirs[i].bias.copy_(torch.from_numpy(b))
    return ours, theirs


def worker(threads: int, rounds: int, block: int, warmup: int) -> dict:
    import numpy as np
    import torch

    import scratchnet as sn

    torch.set_num_threads(threads)
    batches, source = load_batches(rounds * block + warmup + 1, BATCH)
    ours, theirs = build_pair()
    loss_fn = sn.losses.SoftmaxCrossEntropy()
    opt = sn.optim.SGD(ours.parameters(), lr=LR, momentum=MOMENTUM)
    topt = torch.optim.SGD(theirs.parameters(), lr=LR, momentum=MOMENTUM)
    tbatches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def step_ours(i: int) -> None:
        x, y = batches[i]
        loss_fn.forward(ours.forward(x), y)
        ours.backward(loss_fn.backward(), need_dx=False)
        opt.step()

    def step_torch(i: int) -> None:
        x, y = tbatches[i]
        topt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(theirs(x), y).backward()
        topt.step()

    for i in range(warmup):
        step_ours(i)
        step_torch(i)
    times = {"scratchnet": [], "torch": []}
    k = warmup
    for r in range(rounds):  # alternate blocks; who goes first alternates too
        pair = [("scratchnet", step_ours), ("torch", step_torch)]
        for name, fn in pair if r % 2 == 0 else pair[::-1]:
            for j in range(block):
                t = time.perf_counter()
                fn(k + j)
                times[name].append(time.perf_counter() - t)
        k += block

    # inference at batch 1000, alternating
    xs = np.concatenate([b[0] for b in batches[:8]])[:1000]
    xt = torch.from_numpy(xs)
    ours.eval()
    theirs.eval()
    inf = {"scratchnet": [], "torch": []}
    with torch.no_grad():
        for _ in range(2):
            ours.forward(xs)
            theirs(xt)
        for r in range(8):
            for name, fn in [("scratchnet", lambda: ours.forward(xs)), ("torch", lambda: theirs(xt))][
                :: 1 if r % 2 == 0 else -1
            ]:
                t = time.perf_counter()
                fn()
                inf[name].append(time.perf_counter() - t)
    ours.train()

    out = {"threads": threads, "data": source, "timed_steps": len(times["scratchnet"])}
    for name in times:
        step = float(np.median(times[name]))
        out[name] = {
            "step_ms_median": step * 1e3,
            "step_ms_p10": float(np.percentile(times[name], 10)) * 1e3,
            "step_ms_p90": float(np.percentile(times[name], 90)) * 1e3,
            "epoch_s": step * EPOCH_IMAGES / BATCH,
            "train_images_per_s": BATCH / step,
            "inference_images_per_s": 1000 / float(np.median(inf[name])),
        }
    out["profile"] = profile(ours, batches[0], threads)
    return out


def matmul_ceiling(reps: int = 5) -> float:
    """NumPy float32 GFLOP/s on a large square product (the practical ceiling)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ a
        ts.append(time.perf_counter() - t)
    return 2 * 2048**3 / float(np.median(ts)) / 1e9


def profile(model, batch, threads: int, reps: int = 25) -> dict:
    """Forward/backward time of every step of the execution plan, GFLOP/s of conv/dense layers.

    A fused step (conv + 2x2 max-pool, see ``Sequential``) is timed as one. Conv and dense
    layers are timed with their input gradient (forward + both gradients), as in the middle of
    a network; in training the first conv skips it.
    """
    import numpy as np

    from scratchnet.layers import Conv2D, Dense

    x, _ = batch
    plan = model.execution_plan()
    inputs, h = [], x
    for step in plan:  # record each step's input
        inputs.append(h)
        h = run_step(model, step, h)
    rows = []
    ceiling = matmul_ceiling()
    for step, xin in zip(plan, inputs, strict=True):
        layer = model.layers[step[0]]
        yout = run_step(model, step, xin)
        g = np.ones_like(yout) * np.float32(1e-3)
        fwd, bwd = [], []
        for _ in range(reps):
            t = time.perf_counter()
            run_step(model, step, xin)
            t1 = time.perf_counter()
            layer.backward(g)
            t2 = time.perf_counter()
            fwd.append(t1 - t)
            bwd.append(t2 - t1)
        f, b = float(np.median(fwd)), float(np.median(bwd))
        name = " + ".join(repr(model.layers[i]) for i in step)
        row = {"layer": name, "forward_ms": f * 1e3, "backward_ms": b * 1e3}
        if isinstance(layer, (Conv2D, Dense)):
            macs = layer.macs(xin.shape[1:]) * xin.shape[0]
            row["gflops"] = 3 * 2 * macs / (f + b) / 1e9  # forward + dW + dX
            row["fraction_of_ceiling"] = row["gflops"] / ceiling
        rows.append(row)
    return {"layers": rows, "matmul_ceiling_gflops": ceiling, "threads": threads}


def run_step(model, step: tuple[int, ...], x):
    """One step of ``model.execution_plan()``: a layer, or a fused conv + 2x2 max-pool."""
    layer = model.layers[step[0]]
    return layer.forward(x, maxpool2x2=True) if len(step) == 2 else layer.forward(x)


def memory_worker(framework: str, threads: int, steps: int = 60) -> dict:
    """Peak RSS of a process that runs only one framework: training steps + inference."""
    import resource

    import numpy as np

    batches, _ = load_batches(steps + 2, BATCH)
    xs = np.concatenate([b[0] for b in batches[:8]])[:1000]
    if framework == "scratchnet":
        import scratchnet as sn
        from scratchnet import zoo

        model = zoo.build("reference-cnn", rng=0)
        loss_fn, opt = sn.losses.SoftmaxCrossEntropy(), None
        opt = sn.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        for x, y in batches[:steps]:
            loss_fn.forward(model.forward(x), y)
            model.backward(loss_fn.backward(), need_dx=False)
            opt.step()
        model.eval()
        model.forward(xs)
    else:
        import torch

        torch.set_num_threads(threads)
        _, model = build_pair()
        topt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        for x, y in batches[:steps]:
            topt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
            topt.step()
        model.eval()
        with torch.no_grad():
            model(torch.from_numpy(xs))
    return {"framework": framework, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --------------------------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------------------------
def run_child(args: list[str], threads: int) -> dict:
    res = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], env=thread_env(threads),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if res.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def versions() -> dict:
    res = subprocess.run(
        [sys.executable, "-c", "import numpy, torch, json; print(json.dumps({'numpy': numpy.__version__, "
         "'torch': torch.__version__, 'blas': numpy.show_config('dicts')['Build Dependencies']['blas']"
         ".get('version', '?')}))"],
        capture_output=True, text=True, check=True, env=thread_env(1),
    )  # fmt: skip
    return json.loads(res.stdout)


def spread(r: dict) -> str:
    return f"{r['step_ms_p10']:.1f} / {r['step_ms_median']:.1f} / {r['step_ms_p90']:.1f}"


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark: reference CNN, scratchnet vs PyTorch CPU",
        "",
        f"Machine: {m['cpu']} ({m['cpus']} cores), {m['platform']}; Python {m['python']}, NumPy "
        f"{m['numpy']} (OpenBLAS {m['blas']}), torch {m['torch']}. Load average before/after: "
        f"{m['load_before']} / {m['load_after']}. Date: {m['date']}.",
        "",
        "Batch 128, SGD (lr 0.01, momentum 0.9), float32, real Fashion-MNIST batches; both frameworks "
        "in one process per thread count, alternating blocks of steps; seconds per epoch = median "
        "step x 468.75. Ratio = scratchnet / PyTorch (time or memory: lower is better for "
        "scratchnet; throughput: higher is better).",
        "",
        "Reproduce: `python bench/bench_reference.py`",
        "",
        "| threads | metric | scratchnet | PyTorch | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    for run in results["runs"]:
        t, s, p = run["threads"], run["scratchnet"], run["torch"]
        lines += [
            f"| {t} | seconds per epoch (median step) | {s['epoch_s']:.1f} | {p['epoch_s']:.1f} | "
            f"**{s['epoch_s'] / p['epoch_s']:.2f}** |",
            f"| {t} | step ms, p10 / median / p90 | {spread(s)} | {spread(p)} | |",
            f"| {t} | training images/s | {s['train_images_per_s']:.0f} | {p['train_images_per_s']:.0f} | "
            f"{s['train_images_per_s'] / p['train_images_per_s']:.2f} |",
            f"| {t} | inference images/s (batch 1000) | {s['inference_images_per_s']:.0f} | "
            f"{p['inference_images_per_s']:.0f} | "
            f"{s['inference_images_per_s'] / p['inference_images_per_s']:.2f} |",
        ]
    mem = results.get("memory")
    if mem:
        lines.append(
            f"| {mem['threads']} | peak resident memory, MiB | {mem['scratchnet']:.0f} | {mem['torch']:.0f} | "
            f"**{mem['scratchnet'] / mem['torch']:.2f}** |"
        )
    for run in results["runs"]:
        prof = run["profile"]
        lines += [
            "",
            f"## Per-layer profile, scratchnet, {run['threads']} thread(s), batch {BATCH}",
            "",
            f"NumPy float32 matmul ceiling (2048x2048, same process): {prof['matmul_ceiling_gflops']:.0f} "
            "GFLOP/s. Steps of `Sequential.execution_plan()` (ReLU runs after MaxPool; a conv and the "
            "2x2 max-pool after it run fused); conv/dense layers timed with their input gradient "
            "(forward + both gradients); GFLOP/s counts the convolution's own work (3 x 2 x MACs).",
            "",
            "| layer | forward ms | backward ms | GFLOP/s | % of ceiling |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in prof["layers"]:
            g = f"{r['gflops']:.0f} | {100 * r['fraction_of_ceiling']:.0f}%" if "gflops" in r else " | "
            lines.append(f"| {r['layer']} | {r['forward_ms']:.2f} | {r['backward_ms']:.2f} | {g} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=12, help="alternating blocks per framework")
    ap.add_argument("--block", type=int, default=10, help="steps per block")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-write", action="store_true", help="print only, do not write bench/RESULTS.*")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--memory", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rounds, args.block, args.warmup)))
        return
    if args.memory:
        print(json.dumps(memory_worker(args.memory, int(os.environ["OMP_NUM_THREADS"]))))
        return

    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    runs = []
    for t in args.threads:
        print(f"timing with {t} thread(s) ...", file=sys.stderr)
        runs.append(run_child(["--worker", str(t), "--rounds", str(args.rounds), "--block", str(args.block),
                               "--warmup", str(args.warmup)], t))  # fmt: skip
    mt = max(args.threads)
    print(f"peak memory ({mt} threads) ...", file=sys.stderr)
    memory = {"threads": mt}
    for fw in ("scratchnet", "torch"):
        memory[fw] = run_child(["--memory", fw], mt)["peak_rss_mib"]
    results = {
        "machine": {
            "cpu": cpu_name(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), **versions(), "load_before": load_before,
            "load_after": " ".join(f"{v:.2f}" for v in os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        "settings": {"batch": BATCH, "lr": LR, "momentum": MOMENTUM, "rounds": args.rounds,
                     "block": args.block, "warmup": args.warmup},
        "runs": runs,
        "memory": memory,
    }  # fmt: skip
    md = markdown(results)
    print(md)
    if not args.no_write:
        (HERE / "RESULTS.json").write_text(json.dumps(results, indent=2) + "\n")
        (HERE / "RESULTS.md").write_text(md)
        print(f"wrote {HERE / 'RESULTS.json'} and {HERE / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
