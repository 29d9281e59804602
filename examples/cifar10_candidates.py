"""The CIFAR-10 candidate table: recipes and speedrun techniques measured one at a time.

    python examples/cifar10_candidates.py --list
    python examples/cifar10_candidates.py --only base gelu-tanh     # runs those, one after the other
    python examples/cifar10_candidates.py --table                    # docs/results/cifar10-candidates.md

Every candidate is the default recipe (``scratchnet.recipes.DEFAULTS["cifar10"]``) with the
changes listed below; each is trained alone on the machine (never two at once), its results kept
in ``docs/results/cifar10-candidates.json`` (a run that is already there is not repeated unless
``--again``). Seconds per epoch are training seconds over the 45,000 training images (the
validation split of 5,000 is carved out as in every run); the choices are made on validation,
the test accuracy is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "cifar10-candidates.json"

# name -> (what changes, train_run's model, model options, TrainConfig changes)
CANDIDATES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    "base-4ep": ("the default recipe, 4 epochs", "cifar-fast", {}, {"epochs": 4}),
    "relu-4ep": ("ReLU instead of GELU", "cifar-fast", {"act": "relu"}, {"epochs": 4}),
    "exact-gelu-4ep": ("exact GELU (SciPy's erf) instead of its tanh form", "cifar-fast", {"act": "gelu"},
                       {"epochs": 4}),
    "exact-gelu-10ep": ("exact GELU, 10 epochs (the default until 2026-12-01)", "cifar-fast", {"act": "gelu"},
                        {"epochs": 10}),
    "no-whiten-4ep": ("first layer trained from He init, not whitened", "cifar-fast-plain", {}, {"epochs": 4}),
    "random-flips-4ep": ("random flips instead of alternating", "cifar-fast", {},
                         {"epochs": 4, "alternate_flips": False}),
    "no-smoothing-4ep": ("no label smoothing", "cifar-fast", {}, {"epochs": 4, "label_smoothing": 0.0}),
    "lookahead-4ep": ("Lookahead 0.5 every 5 steps", "cifar-fast", {}, {"epochs": 4, "lookahead": 0.5}),
    "linear-4ep": ("linear decay after a 1-epoch warm-up", "cifar-fast", {},
                   {"epochs": 4, "schedule": "linear", "warmup_epochs": 1.0}),
    "wide-4ep": ("widths 64/256/256 (airbench94's), exact GELU", "cifar-fast",
                 {"widths": [64, 256, 256], "act": "gelu"}, {"epochs": 4}),
    "mid-4ep": ("widths 48/192/192", "cifar-fast", {"widths": [48, 192, 192]}, {"epochs": 4}),
    "batch1024-4ep": ("batch 1024, peak rate 0.8", "cifar-fast", {},
                      {"epochs": 4, "batch_size": 1024, "lr": 0.8}),
    "lr0.2-4ep": ("peak rate 0.2", "cifar-fast", {}, {"epochs": 4, "lr": 0.2}),
    "lr0.8-4ep": ("peak rate 0.8", "cifar-fast", {}, {"epochs": 4, "lr": 0.8}),
    "default": ("the chosen default recipe", "cifar-fast", {}, {}),
}  # fmt: skip


def run(name: str) -> dict[str, Any]:
    from scratchnet.experiment import train_run
    from scratchnet.recipes import dataset_defaults
    from scratchnet.train import TrainConfig

    _, model, options, changes = CANDIDATES[name]
    recipe = dataset_defaults("cifar10")
    recipe.pop("model")
    cfg = replace(TrainConfig(**recipe), **changes)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        m = train_run("cifar10", out, model, cfg, model_options=options, progress=False)
        wall = time.perf_counter() - start
    return {**result(name, m, wall), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def result(name: str, m: dict[str, Any], wall: float) -> dict[str, Any]:
    """A candidate's row from its run's ``metrics.json`` and the run's wall seconds."""
    about, model, options, changes = CANDIDATES[name]
    return {"name": name, "about": about, "model": model, "options": options, "changes": changes,
            "parameters": m["parameters"], "epochs": m["epochs_completed"],
            "seconds_per_epoch": m["train_seconds"] / m["epochs_completed"],
            "val_accuracy": m["val_accuracy"], "test_accuracy": m["test_accuracy"],
            "wall_seconds": wall, "machine": m["machine"]}  # fmt: skip


def table(results: dict[str, Any]) -> str:
    lines = ["# CIFAR-10 candidates", "",
             "Each row: the default recipe of `scratchnet train --dataset cifar10` with one change, trained "
             "alone on the 2-core machine; seconds per epoch of 45,000 images, validation on the 5,000 "
             "held out, test on the 10,000.", "",
             "Reproduce: `python examples/cifar10_candidates.py --only NAME`. The default itself, three "
             "seeds timed alone and its PyTorch twin: `bench/RESULTS-time-to-accuracy.md`.", "",
             "| candidate | change | params | s / epoch | epochs | val | test | wall |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    notes = []
    for name in CANDIDATES:
        if name in results:
            r = results[name]
            mark = ""
            if r.get("note"):  # a run whose timing is not comparable with the others, and why
                notes.append(f"{'*' * (len(notes) + 1)} `{name}`: {r['note']}")
                mark = " " + "\\*" * len(notes)
            val, test = 100 * r["val_accuracy"], 100 * r["test_accuracy"]
            lines.append(f"| `{name}` | {r['about']} | {r['parameters'] / 1e6:.2f} M | "
                         f"{r['seconds_per_epoch']:.0f}{mark} | {r['epochs']} | {val:.2f}% | {test:.2f}% | "
                         f"{r['wall_seconds'] / 60:.1f} min{mark} |")  # fmt: skip
    if notes:
        lines += [""] + [n.replace("*", "\\*", n.index(" ")) + "  " for n in notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(CANDIDATES), default=[])
    ap.add_argument("--again", action="store_true", help="rerun candidates that have results")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--record", nargs=2, metavar=("NAME", "RUN_DIR"),
                    help="add a finished run of candidate NAME (its folder's metrics.json) to the results")
    args = ap.parse_args()
    if args.list:
        for name, (about, *_) in CANDIDATES.items():
            print(f"{name:18s} {about}")
        return
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.record:
        name, run_dir = args.record
        m = json.loads((Path(run_dir) / "metrics.json").read_text())
        results[name] = {**result(name, m, m["wall_seconds"]), "command": m.get("command")}
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name in args.only:
        if name in results and not args.again:
            continue
        print(f"--- {name}: {CANDIDATES[name][0]}", file=sys.stderr, flush=True)
        results[name] = run(name)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results[name]), file=sys.stderr, flush=True)
    if args.table or args.only:
        (RESULTS.with_suffix(".md")).write_text(table(results))
        print(table(results))


if __name__ == "__main__":
    main()
