"""Time to accuracy: each dataset's default training command against the same recipe in PyTorch CPU.

    python bench/bench_time_to_accuracy.py --dataset fashion-mnist --seeds 0 1 2
    python bench/bench_time_to_accuracy.py --dataset mnist --seeds 0 --no-write

For each seed, one after the other (never two at once):

* **scratchnet**: ``scratchnet train --dataset D --seed S`` in a fresh process, exactly as a user
  types it (the dataset's default recipe, ``scratchnet.recipes.DEFAULTS``); wall time of the
  whole command (data loading, figures and checkpoint included) and its test accuracy.
* **PyTorch**: the same recipe in ``torch`` at the same thread count: the same network
  (``torch_mirror``, same initial weights), validation split, normalisation, augmentation,
  batch order, optimizer (SGD, Nesterov momentum, L2 weight decay), learning-rate schedule,
  label smoothing, epochs, validation schedule and test-time flips; the input pipeline is
  scratchnet's (NumPy) for both. Wall time of the whole process, test accuracy evaluated once at the end.

Writes ``bench/RESULTS-time-to-accuracy-<dataset>.{json,md}`` (unless ``--no-write``).
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


def torch_worker(dataset: str, seed: int, threads: int) -> dict[str, Any]:
    """Train the dataset's default recipe in PyTorch; returns accuracies and seconds."""
    start = time.perf_counter()
    import torch
    from torch_mirror import mirror

    from scratchnet import zoo
    from scratchnet.data import Augment, Normalizer, epoch_order, load_dataset, num_batches, train_val_split
    from scratchnet.data.transforms import alternating_flips, flip_where, translate
    from scratchnet.experiment import initialise_from_data
    from scratchnet.recipes import dataset_defaults
    from scratchnet.schedules import Schedule
    from scratchnet.train import TrainConfig

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    recipe = dataset_defaults(dataset)
    name = recipe.pop("model")
    cfg = TrainConfig(**{**recipe, "seed": seed, "shards": 1})
    ds = load_dataset(dataset, progress=False)
    (x_tr, y_tr), (x_val, y_val) = train_val_split(ds.x_train, ds.y_train, cfg.val_size, cfg.seed)
    norm = Normalizer.fit(x_tr)
    ours = zoo.build(name, rng=cfg.seed, in_shape=ds.input_shape, num_classes=ds.num_classes)
    initialise_from_data(ours, name, x_tr, norm, cfg.seed)  # e.g. whitening filters: the same in both
    net = mirror(ours)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)  # fmt: skip
    slow = [p.detach().clone() for p in net.parameters()] if cfg.lookahead else None
    nb = num_batches(len(x_tr), cfg.batch_size)
    schedule = Schedule(cfg.schedule, total=cfg.epochs * nb, iters_per_epoch=nb,
                        warmup=int(cfg.warmup_epochs * nb))  # fmt: skip
    augment = Augment(cfg.crop_padding, cfg.flip and not cfg.alternate_flips)

    def views(xb: np.ndarray) -> list[np.ndarray]:  # the test-time augmentation of Trainer.predict
        out = [xb, xb[..., ::-1]] if cfg.flip_tta else [xb]
        if cfg.tta_shifts:
            out += [translate(v, d, d) for v in list(out) for d in (-cfg.tta_shifts, cfg.tta_shifts)]
        return [np.ascontiguousarray(v) for v in out]

    def evaluate(x: np.ndarray, y: np.ndarray) -> float:
        net.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x), cfg.eval_batch_size):
                scores = [net(torch.from_numpy(norm(v))) for v in views(x[i : i + cfg.eval_batch_size])]
                mean = torch.stack(scores).mean(0)
                correct += int((mean.argmax(1).numpy() == y[i : i + cfg.eval_batch_size]).sum())
        net.train()
        return correct / len(x)

    it, val_acc = 0, []
    for epoch in range(cfg.epochs):
        order = epoch_order(len(x_tr), cfg.seed, epoch)
        flip_plan = alternating_flips(len(x_tr), cfg.seed, epoch) if cfg.flip and cfg.alternate_flips else None
        for b in range(nb):
            idx = np.sort(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            x = x_tr[idx]
            if augment.active:
                x = augment(x, np.random.default_rng([cfg.seed, epoch, b, 1]))
            if flip_plan is not None:
                x = flip_where(x, flip_plan[idx])
            for group in opt.param_groups:
                group["lr"] = cfg.lr * schedule.factor(it)
            scores = net(torch.from_numpy(norm(x)))
            loss = torch.nn.functional.cross_entropy(scores, torch.from_numpy(y_tr[idx]),
                                                     label_smoothing=cfg.label_smoothing)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            if slow is not None and it % cfg.lookahead_every == 0:  # Lookahead, as scratchnet.optim's
                with torch.no_grad():
                    for p, s in zip(net.parameters(), slow, strict=True):
                        s += cfg.lookahead * (p - s)
                        p.copy_(s)
        if epoch + 1 == cfg.epochs or (cfg.val_every and (epoch + 1) % cfg.val_every == 0):
            val_acc.append(evaluate(x_val, y_val))  # validation when the recipe validates
    test = evaluate(ds.x_test, ds.y_test)
    return {"test_accuracy": test, "val_accuracy": val_acc[-1], "wall_seconds": time.perf_counter() - start,
            "epochs": cfg.epochs, "model": name}  # fmt: skip


def run_scratchnet(dataset: str, seed: int, threads: int) -> dict[str, Any]:
    """``scratchnet train --dataset D --seed S`` as a user runs it; wall time and peak memory of
    the process (``/usr/bin/time -v`` where there is one)."""
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "SCRATCHNET_NUM_THREADS": str(threads)}
        cmd = [sys.executable, "-m", "scratchnet", "train", "--dataset", dataset, "--seed", str(seed),
               "--out", out, "--no-progress"]  # fmt: skip
        timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
        start = time.perf_counter()
        res = subprocess.run(timer + cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if res.returncode != 0:
            raise SystemExit(f"scratchnet train failed:\n{res.stderr}")
        m = json.loads((Path(out) / "metrics.json").read_text())
    peak = [line.split(":")[1] for line in res.stderr.splitlines() if "Maximum resident set size" in line]
    return {"test_accuracy": m["test_accuracy"], "val_accuracy": m["val_accuracy"], "wall_seconds": wall,
            "epochs": m["epochs_completed"], "model": m["model"],
            "peak_rss_mib": int(peak[0]) / 1024 if peak else None}  # fmt: skip


def run_torch(dataset: str, seed: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    start = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--worker", dataset, str(seed), str(threads)], env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"torch worker failed:\n{res.stderr}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["wall_seconds"] = wall  # the whole process, as for scratchnet
    return out


def markdown(results: dict[str, Any]) -> str:
    rows = results["runs"]
    lines = [f"# Time to accuracy: `scratchnet train --dataset {results['dataset']}` vs the same recipe "
             "in PyTorch", "",
             f"Machine: {results['machine']}; {results['threads']} threads for both. Date: {results['date']}.",
             "", "Reproduce: `python bench/bench_time_to_accuracy.py --dataset "
             f"{results['dataset']} --seeds {' '.join(str(r['seed']) for r in rows)}`", "",
             "| seed | scratchnet test acc | scratchnet wall s | scratchnet peak MiB | PyTorch test acc "
             "| PyTorch wall s | time ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        s, t = r["scratchnet"], r.get("torch")
        peak = f"{s['peak_rss_mib']:.0f}" if s.get("peak_rss_mib") else "–"
        wall = s["wall_seconds"]
        theirs = (f"{t['test_accuracy']:.4f} | {t['wall_seconds']:.0f} | {wall / t['wall_seconds']:.2f}"
                  if t else "– | – | –")  # fmt: skip
        lines.append(f"| {r['seed']} | {s['test_accuracy']:.4f} | {wall:.0f} | {peak} | {theirs} |")
    ours = {k: float(np.median([r["scratchnet"][k] for r in rows])) for k in ("test_accuracy", "wall_seconds")}
    paired = [r for r in rows if r.get("torch")]
    if paired:  # the time ratio from the seeds that ran in both frameworks, each pair in one session
        theirs_acc = float(np.median([r["torch"]["test_accuracy"] for r in paired]))
        theirs_wall = float(np.median([r["torch"]["wall_seconds"] for r in paired]))
        ratio = float(np.median([r["scratchnet"]["wall_seconds"] / r["torch"]["wall_seconds"] for r in paired]))
        theirs = f"{theirs_acc:.4f} | {theirs_wall:.0f} | **{ratio:.2f}**"
    else:
        theirs = "– | – | –"
    lines.append(f"| **median** | **{ours['test_accuracy']:.4f}** | **{ours['wall_seconds']:.0f}** | | "
                 f"{theirs} |")  # fmt: skip
    first = rows[0]["scratchnet"]
    lines += ["", f"Recipe: model `{first['model']}`, {first['epochs']} epochs "
              f"(`scratchnet.recipes.DEFAULTS['{results['dataset']}']`). Time ratio = scratchnet / PyTorch "
              "(lower is better for scratchnet)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        dataset, seed, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(torch_worker(dataset, seed, threads)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true", help="only the scratchnet runs")
    ap.add_argument("--torch-seeds", type=int, nargs="*", default=None,
                    help="run the PyTorch twin for these seeds only (default: every seed)")
    ap.add_argument("--merge", action="store_true",
                    help="add these seeds to the results already written (a long benchmark run in parts)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from common import cpu_name

    stem = HERE / f"RESULTS-time-to-accuracy-{args.dataset}"
    machine = f"{cpu_name()} ({os.cpu_count()} cores)"
    results: dict[str, Any] = {"dataset": args.dataset, "threads": args.threads, "runs": [],
                               "machine": machine, "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if args.merge and stem.with_suffix(".json").exists():
        results = json.loads(stem.with_suffix(".json").read_text())
        if results["machine"] != machine:
            raise SystemExit(f"--merge: the results in {stem}.json were measured on {results['machine']}, "
                             f"this is {machine}; times from two hosts do not mix")  # fmt: skip
    torch_seeds = args.seeds if args.torch_seeds is None else args.torch_seeds
    for seed in args.seeds:
        row: dict[str, Any] = {"seed": seed}
        print(f"seed {seed}: scratchnet ...", file=sys.stderr)
        row["scratchnet"] = run_scratchnet(args.dataset, seed, args.threads)
        print(f"  {row['scratchnet']}", file=sys.stderr)
        if not args.no_torch and seed in torch_seeds:
            print(f"seed {seed}: PyTorch ...", file=sys.stderr)
            row["torch"] = run_torch(args.dataset, seed, args.threads)
            print(f"  {row['torch']}", file=sys.stderr)
        results["runs"] = sorted([r for r in results["runs"] if r["seed"] != seed] + [row],
                                 key=lambda r: r["seed"])  # fmt: skip
        if not args.no_write and not args.no_torch:  # after every seed: a cut-off run keeps what it measured
            stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
            stem.with_suffix(".md").write_text(markdown(results))
    if args.no_torch:
        print(json.dumps(results, indent=2))
        return
    print(markdown(results))


if __name__ == "__main__":
    main()
