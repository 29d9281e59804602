"""Time to accuracy: every default recipe as a user types it against the same recipe in PyTorch CPU.

    python bench/bench_time_to_accuracy.py --recipe fashion-mnist --seeds 0 1 2
    python bench/bench_time_to_accuracy.py --recipe lstm-rows --seeds 0
    python bench/bench_time_to_accuracy.py --recipe all --seeds 0      # every recipe, one seed

The recipes (:data:`RECIPES`): each dataset's default, ``scratchnet train --dataset D``
(``scratchnet.recipes.DEFAULTS``: Fashion-MNIST, MNIST, CIFAR-10 and the tiny-Shakespeare
character model), and ``lstm-rows``, ``scratchnet train --dataset mnist --model lstm-rows``.
For each seed, one after the other (never two at once):

* **scratchnet**: the command in a fresh process, exactly as a user types it; wall time of the
  whole command (data loading, figures and checkpoint included) and its result: test accuracy,
  or for the character model the validation loss in nats per character.
* **PyTorch**: the same recipe in ``torch`` at the same thread count: the same network
  (``torch_mirror``, same initial weights), split, normalisation, augmentation, batch order,
  optimizer (SGD with Nesterov momentum and L2 weight decay, or Adam), gradient clipping,
  learning-rate schedule, label smoothing, epochs, validation schedule and test-time views; the
  input pipeline is scratchnet's (NumPy) for both. Wall time of the whole process.

Results are kept per **host kind** (CPU model, widest vector extension, cores): a run on a host
kind replaces that kind's entry for its recipe and leaves the others, so a change is judged on
every kind of CPU the project has met. Written after every seed (unless ``--no-write``):
``bench/RESULTS-time-to-accuracy.{json,md}`` and the README's results table (``--markdown``:
only these, from the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEM = HERE / "RESULTS-time-to-accuracy"
sys.path.insert(0, str(ROOT))
from scratchnet.recipes import DEFAULTS  # noqa: E402

# recipe name -> (dataset, model or None: the dataset's default)
RECIPES: dict[str, tuple[str, str | None]] = {**{d: (d, None) for d in DEFAULTS},
                                              "lstm-rows": ("mnist", "lstm-rows")}  # fmt: skip


def torch_worker(recipe: str, seed: int, threads: int) -> dict[str, Any]:
    """Train ``recipe`` in PyTorch as ``scratchnet train`` does; returns its result and seconds."""
    start = time.perf_counter()
    import torch
    from torch_mirror import mirror

    from scratchnet import zoo
    from scratchnet.data import Normalizer, load_dataset
    from scratchnet.experiment import initialise_from_data, model_arguments, training_split
    from scratchnet.recipes import resolve

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dataset, model = RECIPES[recipe]
    name, cfg = resolve(dataset, model, {"seed": seed, "shards": 1})
    ds = load_dataset(dataset, progress=False)
    (x_tr, y_tr), (x_val, y_val) = training_split(ds, cfg, None, None, False)
    norm = Normalizer.fit(x_tr) if ds.kind == "images" else None
    ours = zoo.build(name, rng=cfg.seed, **model_arguments(ds, None, None))
    initialise_from_data(ours, name, x_tr, norm, cfg.seed)  # e.g. whitening filters: the same in both
    net = mirror(ours)

    def feed(x: np.ndarray) -> Any:  # stored samples to network input, as the Trainer's transform
        return torch.from_numpy(norm(x) if norm is not None else x.astype(np.int64))

    val = torch_train(net, cfg, (x_tr, y_tr), (x_val, y_val), feed)
    out: dict[str, Any] = {"epochs": cfg.epochs, "model": name}
    if ds.kind == "text":
        out["val_loss"] = val["loss"]
    else:
        out.update(val_accuracy=val["accuracy"], test_accuracy=torch_evaluate(net, cfg, ds.x_test, ds.y_test,
                                                                              feed)["accuracy"])  # fmt: skip
    return {**out, "wall_seconds": time.perf_counter() - start}


def torch_optimizer(cfg: Any, params: Any) -> Any:
    """PyTorch's optimizer of ``cfg.optimizer`` with the recipe's settings (L2 weight decay in both)."""
    import torch

    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)  # fmt: skip
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise SystemExit(f"bench: no PyTorch twin for the optimizer {cfg.optimizer!r}")


def torch_train(net: Any, cfg: Any, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                feed: Callable[[np.ndarray], Any]) -> dict[str, float]:  # fmt: skip
    """The Trainer's loop in PyTorch: batch order, augmentation, schedule, clipping, Lookahead and
    validation as ``scratchnet.train.Trainer``; returns the last validation."""
    import torch

    from scratchnet.data import Augment, epoch_order, num_batches
    from scratchnet.data.transforms import alternating_flips, flip_where
    from scratchnet.schedules import Schedule

    (x_tr, y_tr), params = train, list(net.parameters())
    opt = torch_optimizer(cfg, params)
    slow = [p.detach().clone() for p in params] if cfg.lookahead else None
    nb = num_batches(len(x_tr), cfg.batch_size)
    warmup = int(cfg.warmup_epochs * nb)
    schedule = Schedule(cfg.schedule, total=cfg.epochs * nb, iters_per_epoch=nb, warmup=warmup,
                        step_epochs=cfg.step_epochs, gamma=cfg.gamma)  # fmt: skip
    augment = Augment(cfg.crop_padding, cfg.flip and not cfg.alternate_flips)
    it, result = 0, {}
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
            scores = net(feed(x))
            loss = torch.nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]),
                                                     torch.from_numpy(y_tr[idx].astype(np.int64)).reshape(-1),
                                                     label_smoothing=cfg.label_smoothing)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_norm:
                torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm)
            opt.step()
            it += 1
            if slow is not None and it % cfg.lookahead_every == 0:  # Lookahead, as scratchnet.optim's
                with torch.no_grad():
                    for p, s in zip(params, slow, strict=True):
                        s += cfg.lookahead * (p - s)
                        p.copy_(s)
        if epoch + 1 == cfg.epochs or (cfg.val_every and (epoch + 1) % cfg.val_every == 0):
            result = torch_evaluate(net, cfg, *val, feed)  # validation when the recipe validates
    return result


def torch_evaluate(net: Any, cfg: Any, x: np.ndarray, y: np.ndarray,
                   feed: Callable[[np.ndarray], Any]) -> dict[str, float]:  # fmt: skip
    """Accuracy and mean loss per target (image or character) with the Trainer's test-time views."""
    import torch

    from scratchnet.data.transforms import translate

    def views(xb: np.ndarray) -> list[np.ndarray]:  # the test-time augmentation of Trainer.predict
        out = [xb, xb[..., ::-1]] if cfg.flip_tta else [xb]
        if cfg.tta_shifts:
            out += [translate(v, d, d) for v in list(out) for d in (-cfg.tta_shifts, cfg.tta_shifts)]
        return [np.ascontiguousarray(v) for v in out]

    net.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), cfg.eval_batch_size):
            scores = torch.stack([net(feed(v)) for v in views(x[i : i + cfg.eval_batch_size])]).mean(0)
            scores = scores.reshape(-1, scores.shape[-1])
            target = torch.from_numpy(y[i : i + cfg.eval_batch_size].astype(np.int64)).reshape(-1)
            loss += float(torch.nn.functional.cross_entropy(scores, target, reduction="sum"))
            correct += int((scores.argmax(1) == target).sum())
    net.train()
    return {"accuracy": correct / y.size, "loss": loss / y.size}


def run_scratchnet(recipe: str, seed: int, threads: int) -> dict[str, Any]:
    """The recipe's ``scratchnet train`` command as a user runs it; wall time, result and peak
    memory of the process (``/usr/bin/time -v`` where there is one)."""
    dataset, model = RECIPES[recipe]
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "SCRATCHNET_NUM_THREADS": str(threads)}
        which = ["--dataset", dataset, *(["--model", model] if model else [])]
        cmd = [sys.executable, "-m", "scratchnet", "train", *which, "--seed", str(seed), "--out", out,
               "--no-progress"]  # fmt: skip
        timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
        start = time.perf_counter()
        res = subprocess.run(timer + cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if res.returncode != 0:
            raise SystemExit(f"scratchnet train failed:\n{res.stderr}")
        m = json.loads((Path(out) / "metrics.json").read_text())
    peak = [line.split(":")[1] for line in res.stderr.splitlines() if "Maximum resident set size" in line]
    result = {"val_loss": m["val_nats_per_char"]} if "val_nats_per_char" in m else \
        {"test_accuracy": m["test_accuracy"], "val_accuracy": m["val_accuracy"]}  # fmt: skip
    return {**result, "wall_seconds": wall, "epochs": m["epochs_completed"], "model": m["model"],
            "peak_rss_mib": int(peak[0]) / 1024 if peak else None}  # fmt: skip


def run_torch(recipe: str, seed: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    start = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--worker", recipe, str(seed), str(threads)], env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"torch worker failed:\n{res.stderr}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["wall_seconds"] = wall  # the whole process, as for scratchnet
    return out


def result_text(run: dict[str, Any]) -> str:
    """A run's result: test accuracy, or the character model's validation loss."""
    return f"{run['val_loss']:.3f} nats/char" if "val_loss" in run else f"{100 * run['test_accuracy']:.2f}%"


def medians(entry: dict[str, Any]) -> dict[str, float] | None:
    """Median walls and time ratio over the seeds run in both frameworks (each pair in one session)."""
    paired = [r for r in entry["runs"] if r.get("torch")]
    if not paired:
        return None
    return {"ours": float(np.median([r["scratchnet"]["wall_seconds"] for r in paired])),
            "theirs": float(np.median([r["torch"]["wall_seconds"] for r in paired])),
            "ratio": float(np.median([r["scratchnet"]["wall_seconds"] / r["torch"]["wall_seconds"]
                                      for r in paired]))}  # fmt: skip


def recipe_table(recipe: str, entry: dict[str, Any]) -> list[str]:
    """One host kind's runs of one recipe, a row per seed."""
    dataset, model = RECIPES[recipe]
    command = f"scratchnet train --dataset {dataset}" + (f" --model {model}" if model else "")
    seeds = " ".join(str(r["seed"]) for r in entry["runs"])
    if not all(r.get("torch") for r in entry["runs"]):
        seeds += " --torch-seeds " + " ".join(str(r["seed"]) for r in entry["runs"] if r.get("torch"))
    lines = [f"`{command}`, {entry['threads']} threads for both, {entry['date']}; {entry.get('software', '')}",
             f"(`python bench/bench_time_to_accuracy.py --recipe {recipe} --seeds {seeds}`)", "",
             "| seed | scratchnet | wall s | peak MiB | PyTorch | wall s | time ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in entry["runs"]:
        s, t = r["scratchnet"], r.get("torch")
        peak = f"{s['peak_rss_mib']:.0f}" if s.get("peak_rss_mib") else "–"
        theirs = f"{result_text(t)} | {t['wall_seconds']:.0f} | {s['wall_seconds'] / t['wall_seconds']:.2f}" \
            if t else "– | – | –"  # fmt: skip
        lines.append(f"| {r['seed']} | {result_text(s)} | {s['wall_seconds']:.0f} | {peak} | {theirs} |")
    return [*lines, ""]


def summary_table(results: dict[str, Any]) -> list[str]:
    """A row per recipe, a column per host kind: the time ratio, the result and both wall times
    (the README shows this very table between its ``time-to-accuracy`` markers)."""
    hosts = list(results["hosts"])
    lines = ["| recipe | " + " | ".join(hosts) + " |", "|---|" + "---|" * len(hosts)]
    for recipe, (dataset, model) in RECIPES.items():
        cells = []
        for host in hosts:
            entry = results["hosts"][host].get(recipe)
            m = medians(entry) if entry else None
            if m is None:
                cells.append("–")
                continue
            ours = [r["scratchnet"] for r in entry["runs"]]
            key = "val_loss" if "val_loss" in ours[0] else "test_accuracy"
            result = result_text({key: float(np.median([r[key] for r in ours]))})  # the median over the seeds
            cells.append(f"**{m['ratio']:.2f}** ({result}; {m['ours']:.0f} s vs {m['theirs']:.0f} s)")
        command = f"`--dataset {dataset}" + (f" --model {model}`" if model else "`")
        lines.append(f"| {command} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The table of every recipe on every host kind, then each host kind's runs."""
    lines = ["# Time to accuracy: every default recipe against the same recipe in PyTorch", "",
             "Each entry: the time ratio scratchnet / PyTorch of the whole command `scratchnet train ...` "
             "(median over the seeds run in both, each pair one after the other on the same machine; below 1: "
             "scratchnet faster), scratchnet's median result and the two median wall times. A column per host "
             "kind the project has run on; the runs under it. How: `bench/bench_time_to_accuracy.py`.", "",
             *summary_table(results)]  # fmt: skip
    for host, entries in results["hosts"].items():
        lines += ["", f"## {host}", ""]
        for recipe in (r for r in RECIPES if r in entries):
            lines += [f"### {recipe}", "", *recipe_table(recipe, entries[recipe])]
            if entries[recipe].get("note"):
                lines += [entries[recipe]["note"], ""]
    return "\n".join(lines).rstrip() + "\n"


README = ROOT / "README.md"
MARKERS = ("<!-- time-to-accuracy: bench/bench_time_to_accuracy.py writes this table -->",
           "<!-- /time-to-accuracy -->")  # fmt: skip


def with_summary(readme: str, results: dict[str, Any]) -> str:
    """``readme`` with :func:`summary_table` between its markers (the README quotes, the JSON is the source)."""
    start, end = readme.index(MARKERS[0]) + len(MARKERS[0]), readme.index(MARKERS[1])
    return readme[:start] + "\n" + "\n".join(summary_table(results)) + "\n" + readme[end:]


def write_reports(results: dict[str, Any]) -> None:
    """The JSON, its Markdown and the README's table, each written whole (atomically)."""
    from scratchnet.io import atomic_write_bytes, write_json

    write_json(STEM.with_suffix(".json"), results)
    atomic_write_bytes(STEM.with_suffix(".md"), markdown(results).encode())
    atomic_write_bytes(README, with_summary(README.read_text(), results).encode())


def run_recipe(recipe: str, args: argparse.Namespace, results: dict[str, Any], host: str,
               software: str) -> None:  # fmt: skip
    """Every seed of ``recipe`` (the PyTorch twin after each), written after every seed."""
    entries = results["hosts"].setdefault(host, {})
    entry = entries.get(recipe) if args.merge else None
    entry = {"runs": [], **(entry or {}), "threads": args.threads, "date": time.strftime("%Y-%m-%d"),
             "software": software}  # fmt: skip
    entries[recipe] = entry
    torch_seeds = args.seeds if args.torch_seeds is None else args.torch_seeds
    for seed in args.seeds:
        row: dict[str, Any] = {"seed": seed}
        print(f"{recipe}, seed {seed}: scratchnet ...", file=sys.stderr)
        row["scratchnet"] = run_scratchnet(recipe, seed, args.threads)
        print(f"  {row['scratchnet']}", file=sys.stderr)
        if not args.no_torch and seed in torch_seeds:
            print(f"{recipe}, seed {seed}: PyTorch ...", file=sys.stderr)
            row["torch"] = run_torch(recipe, seed, args.threads)
            print(f"  {row['torch']}", file=sys.stderr)
        entry["runs"] = sorted([r for r in entry["runs"] if r["seed"] != seed] + [row], key=lambda r: r["seed"])
        if not args.no_write and not args.no_torch:  # after every seed: a cut-off run keeps what it measured
            write_reports(results)


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        recipe, seed, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(torch_worker(recipe, seed, threads)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="fashion-mnist", choices=[*RECIPES, "all"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true", help="only the scratchnet runs")
    ap.add_argument("--torch-seeds", type=int, nargs="*", default=None,
                    help="run the PyTorch twin for these seeds only (default: every seed)")
    ap.add_argument("--merge", action="store_true",
                    help="add these seeds to this host kind's results of the recipe (a long run in parts)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--markdown", action="store_true",
                    help="only rewrite the .md and the README's table from the .json")  # fmt: skip
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from common import host_kind, machine

    path = STEM.with_suffix(".json")
    results = json.loads(path.read_text()) if path.exists() else {"hosts": {}}
    if args.markdown:
        write_reports(results)
        return
    m = machine()
    host = host_kind()
    software = f"NumPy {m['numpy']} / {m['blas']}, PyTorch {m['torch']}"
    for recipe in RECIPES if args.recipe == "all" else [args.recipe]:
        run_recipe(recipe, args, results, host, software)
    print(json.dumps(results["hosts"][host], indent=2) if args.no_torch else markdown(results))


if __name__ == "__main__":
    main()
