"""Training on a busy machine: each training path, quiet and beside another process that trains
with two threads, side by side with PyTorch's own slowdown under the same load.

    python bench/bench_busy_machine.py                      # every case; bench/RESULTS-busy-machine.{json,md}
    python bench/bench_busy_machine.py --cases lstm-rows --repeats 1 --no-write

The neighbour (``--load``): by default a PyTorch process training the reference CNN with
``torch.set_num_threads(2)`` in a loop (what a second notebook, a sweep job or a PyTorch run
does); ``--load scratchnet`` makes it a scratchnet training with one shard and BLAS on both cores.
For every case, alternately quiet and beside the neighbour (``--repeats`` times, medians):

* **scratchnet**: the command as a user types it, in a fresh process; its training seconds
  (``train_seconds`` of ``metrics.json``: the steps, without start-up and data loading), or the
  wall time of the whole command for a sweep;
* **PyTorch**: the same network (``torch_mirror``) and optimizer at 2 threads, the same number of
  training steps on batches of the same shape, in a fresh process; the seconds of those steps.

slowdown = busy / quiet; fair share on 2 cores beside a 2-thread neighbour is 2x. The neighbour's
own steps per second, alone and during each busy measurement, show what each side leaves the other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (the command after `scratchnet`, the torch twin: zoo model, input shape, optimizer, images)
CASES: dict[str, dict[str, Any]] = {
    "fashion-mnist default": dict(
        argv=["train", "--dataset", "fashion-mnist", "--limit", "8500", "--val-size", "500", "--epochs", "1"],
        dataset="fashion-mnist", model=None, shape=(1, 28, 28), images=8000),
    "lstm-rows": dict(
        argv=["train", "--dataset", "mnist", "--model", "lstm-rows", "--limit", "8500", "--val-size", "500",
              "--epochs", "1"],
        dataset="mnist", model="lstm-rows", shape=(1, 28, 28), images=8000),
    "cifar10 default": dict(
        argv=["train", "--dataset", "cifar10", "--limit", "3000", "--val-size", "500", "--epochs", "1"],
        dataset="cifar10", model=None, shape=(3, 32, 32), images=2500),
    "Python API, TrainConfig defaults": dict(
        python=("from scratchnet.experiment import train_run; from scratchnet.train import TrainConfig; "
                "train_run('fashion-mnist', OUT, 'fmnist-cnn', TrainConfig(epochs=1, val_size=500), "
                "limit=6500, progress=False, log=None)"),
        dataset="fashion-mnist", model="fmnist-cnn", shape=(1, 28, 28), images=6000, recipe="TrainConfig"),
    "sweep, 2 workers": dict(
        argv=["sweep", "--dataset", "mnist", "--lr", "0.1", "0.05", "--epochs", "1", "--limit", "4500",
              "--val-size", "500", "--workers", "2"],
        dataset="mnist", model=None, wall=True),
}  # fmt: skip


# --- the neighbour ---------------------------------------------------------------------------------
def load_worker(kind: str, report: str) -> None:
    """Train forever with two threads, writing the steps per second of every 2-second window."""
    if kind == "torch":
        import torch

        torch.set_num_threads(2)
        from torch_mirror import mirror

        from scratchnet import zoo

        net = mirror(zoo.build("reference-cnn", rng=0))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))

        def step() -> None:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        from scratchnet import optim, zoo
        from scratchnet.losses import SoftmaxCrossEntropy

        model, loss_fn = zoo.build("reference-cnn", rng=0), SoftmaxCrossEntropy()
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((128, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 128)

        def step() -> None:  # one model, BLAS on both cores: what a single-shard run does
            loss_fn.forward(model.forward(x), y)
            model.backward(loss_fn.backward(), need_dx=False)
            opt.step()

    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        now = time.perf_counter()
        if now - start >= 2.0:
            with open(report, "a") as f:
                f.write(f"{now:.3f} {n / (now - start):.3f}\n")
            n, start = 0, now


class Neighbour:
    """The 2-thread training process, started and stopped around the busy measurements."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.report = Path(tempfile.mkstemp(prefix="busy-load-", suffix=".txt")[1])
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Neighbour:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
        self.proc = subprocess.Popen([sys.executable, __file__, "--load-worker", self.kind, str(self.report)],
                                     env=env)  # fmt: skip
        time.sleep(6.0)  # imports and warm-up: at full speed before anything is timed
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait()

    def rate(self, since: float, until: float) -> float:
        """Median steps/s of the windows that ended between ``since`` and ``until``."""
        rows = [line.split() for line in self.report.read_text().splitlines()]
        rates = [float(r) for t, r in rows if since <= float(t) <= until]
        return float(np.median(rates)) if rates else float("nan")


# --- one measurement -----------------------------------------------------------------------------
def run_scratchnet(case: dict[str, Any]) -> float:
    """Training seconds of the case's command (the wall time of the whole command for a sweep)."""
    with tempfile.TemporaryDirectory() as out:
        if "python" in case:
            cmd = [sys.executable, "-c", case["python"].replace("OUT", repr(out))]
        else:
            cmd = [sys.executable, "-m", "scratchnet", *case["argv"], "--out", out, "--no-progress"]
        start = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=out)
        wall = time.perf_counter() - start
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr}")
        if case.get("wall"):
            return wall
        return float(json.loads((Path(out) / "metrics.json").read_text())["train_seconds"])


def torch_twin(dataset: str, model: str | None, shape: list[int], images: int, recipe: str) -> float:
    """Seconds of ``images // batch`` PyTorch training steps of the same network and optimizer."""
    import torch
    from torch_mirror import mirror

    from scratchnet import zoo
    from scratchnet.data import get_spec
    from scratchnet.recipes import dataset_defaults
    from scratchnet.train import TrainConfig

    torch.set_num_threads(2)
    settings = dataset_defaults(dataset, model) if recipe == "dataset" else {"model": model}
    name = settings.pop("model")
    cfg = TrainConfig.from_dict(settings)
    classes = len(get_spec(dataset).classes)
    net = mirror(zoo.build(name, rng=0, in_shape=tuple(shape), num_classes=classes))
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                              weight_decay=cfg.weight_decay)  # fmt: skip
    else:
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(0)
    steps = max(images // cfg.batch_size, 1)
    def batch() -> tuple[Any, Any]:
        x = rng.standard_normal((cfg.batch_size, *shape)).astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(rng.integers(0, classes, cfg.batch_size))

    batches = [batch() for _ in range(steps + 3)]

    def step(x: Any, y: Any) -> None:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for x, y in batches[:3]:
        step(x, y)
    start = time.perf_counter()
    for x, y in batches[3:]:
        step(x, y)
    return time.perf_counter() - start


def run_torch(case: dict[str, Any]) -> float:
    spec = json.dumps({k: case.get(k) for k in ("dataset", "model", "shape", "images")}
                      | {"recipe": "dataset" if case.get("recipe") is None else "config"})  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    res = subprocess.run([sys.executable, __file__, "--torch-worker", spec], env=env, capture_output=True,
                         text=True, check=False)  # fmt: skip
    if res.returncode != 0:
        raise SystemExit(f"torch twin failed:\n{res.stderr}")
    return float(res.stdout.strip().splitlines()[-1])


# --- the report ----------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    lines = ["# Training on a busy machine: quiet vs beside a 2-thread training process", "",
             f"Machine: {results['machine']}. Neighbour: {results['load']} (alone: "
             f"{results['load_alone']:.2f} steps/s). Date: {results['date']}. Medians of {results['repeats']} "
             "alternating quiet/busy measurements, each in a fresh process.", "",
             f"Reproduce: `python bench/bench_busy_machine.py --repeats {results['repeats']}`", "",
             "| case | scratchnet quiet s | busy s | **slowdown** | PyTorch quiet s | busy s | slowdown "
             "| neighbour steps/s beside scratchnet / beside PyTorch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in results["cases"].items():
        q, b = np.median(r["scratchnet_quiet"]), np.median(r["scratchnet_busy"])
        row = f"| {name} | {q:.1f} | {b:.1f} | **{b / q:.2f}x** |"
        if r.get("torch_quiet"):
            tq, tb = np.median(r["torch_quiet"]), np.median(r["torch_busy"])
            row += f" {tq:.1f} | {tb:.1f} | {tb / tq:.2f}x | {np.median(r['load_rate_scratchnet']):.2f} / " \
                   f"{np.median(r['load_rate_torch']):.2f} |"
        else:
            row += f" – | – | – | {np.median(r['load_rate_scratchnet']):.2f} / – |"
        lines.append(row)
    lines += ["", "Commands (after `scratchnet`; output folder and `--no-progress` added):", ""]
    for name, case in CASES.items():
        if name in results["cases"]:
            what = " ".join(case["argv"]) if "argv" in case else f"python -c \"{case['python']}\""
            lines.append(f"* {name}: `{what}`")
    lines += ["", "Seconds are training seconds (`train_seconds` of `metrics.json`), except the sweep's: "
              "the wall time of the whole command. PyTorch: the same network and optimizer at 2 threads, "
              "the same number of steps on batches of the same shape. Fair share beside a 2-thread "
              "neighbour on 2 cores: 2x."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--load-worker"]:
        sys.path.insert(0, str(HERE))
        load_worker(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1:2] == ["--torch-worker"]:
        sys.path.insert(0, str(HERE))
        spec = json.loads(sys.argv[2])
        print(torch_twin(spec["dataset"], spec["model"], spec["shape"], spec["images"], spec["recipe"]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--load", choices=("torch", "scratchnet"), default="torch")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from common import cpu_name, publish

    loads = {"torch": "PyTorch, reference CNN, 2 threads",
             "scratchnet": "scratchnet, reference CNN, 1 shard, BLAS 2 threads"}  # fmt: skip
    results: dict[str, Any] = {"machine": f"{cpu_name()} ({os.cpu_count()} cores)", "repeats": args.repeats,
                               "load": loads[args.load], "cases": {},
                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    with Neighbour(args.load) as load:  # the neighbour's speed alone
        t0 = time.perf_counter()
        time.sleep(8.0)
        results["load_alone"] = load.rate(t0, time.perf_counter())
    for name in args.cases:
        case = CASES[name]
        keys = ("scratchnet_quiet", "scratchnet_busy", "torch_quiet", "torch_busy", "load_rate_scratchnet",
                "load_rate_torch")  # fmt: skip
        r: dict[str, list[float]] = {k: [] for k in keys}
        for _ in range(args.repeats):
            r["scratchnet_quiet"].append(run_scratchnet(case))
            if "shape" in case:
                r["torch_quiet"].append(run_torch(case))
            with Neighbour(args.load) as load:
                t0 = time.perf_counter()
                r["scratchnet_busy"].append(run_scratchnet(case))
                t1 = time.perf_counter()
                r["load_rate_scratchnet"].append(load.rate(t0, t1))
                if "shape" in case:
                    r["torch_busy"].append(run_torch(case))
                    r["load_rate_torch"].append(load.rate(t1, time.perf_counter()))
            rounded = {k: [round(v, 2) for v in vs] for k, vs in r.items()}
            print(f"{name}: {json.dumps(rounded)}", file=sys.stderr)
        results["cases"][name] = r
    md = markdown(results)
    publish("RESULTS-busy-machine", results, md, not args.no_write)


if __name__ == "__main__":
    main()
