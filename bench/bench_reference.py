"""scratchnet vs PyTorch CPU on the reference CNN (docs/reference-cnn.md), side by side.

    python bench/bench_reference.py                 # 1 and 2 threads; writes bench/RESULTS.{json,md}
    python bench/bench_reference.py --threads 2 --rounds 6 --no-write     # a quick look
    python bench/bench_reference.py --compare old=../old-checkout         # before/after, same run

Each measurement runs in a fresh worker process (``--worker``), which limits NumPy's BLAS with
threadpoolctl and torch with ``torch.set_num_threads``, builds the model with ``scratchnet.zoo``
and its torch twin (``torch_mirror.py``), and times training steps on real Fashion-MNIST batches,
alternating blocks between the two frameworks so that machine noise hits both (``timing.py``).
Peak memory comes from processes that import only one framework; the per-layer profile is
``layer_profile.py``; the report ``report.py``. ``--compare LABEL=PATH`` times another checkout's
scratchnet against the same torch, interleaved with this one, for before/after ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_worker_script(script: Path, args: list[str], scratchnet_root: Path = ROOT) -> dict:
    """Run ``script --worker ARGS`` in a fresh process with ``scratchnet`` imported from
    ``scratchnet_root``; its last output line is the JSON result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(scratchnet_root), str(HERE)])}
    res = subprocess.run([sys.executable, str(script), "--worker", *args], env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    if res.returncode != 0:
        raise SystemExit(f"bench worker {script.name} {args} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_worker(args: list[str], scratchnet_root: Path = ROOT) -> dict:
    return run_worker_script(HERE / "bench_reference.py", args, scratchnet_root)


def worker(argv: list[str]) -> None:
    """``--worker KIND MODEL THREADS [ROUNDS BLOCK WARMUP]``: print one JSON result."""
    sys.path.insert(0, str(HERE))
    from layer_profile import profile_worker
    from timing import peak_memory, time_training

    kind, model, threads, *rest = argv
    if kind == "time":
        rounds, block, warmup = (int(v) for v in rest)
        out = time_training(model, int(threads), rounds, block, warmup)
    elif kind == "profile":
        out = profile_worker(model, int(threads))
    else:  # memory-scratchnet / memory-torch
        out = peak_memory(kind.removeprefix("memory-"), model, int(threads))
    print(json.dumps(out))


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="reference-cnn", help="zoo model (default: the reference CNN)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=12, help="alternating blocks per framework")
    ap.add_argument("--block", type=int, default=10, help="steps per block")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                    help="also time the scratchnet of another checkout (interleaved)")  # fmt: skip
    ap.add_argument("--no-write", action="store_true", help="print only, do not write bench/RESULTS.*")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from common import machine
    from report import markdown

    others = dict(item.split("=", 1) for item in args.compare)
    results: dict = {"model": args.model, "machine": machine(), "runs": [], "compare": {k: [] for k in others}}
    timing = [str(args.rounds), str(args.block), str(args.warmup)]
    for t in args.threads:
        print(f"timing with {t} thread(s) ...", file=sys.stderr)
        results["runs"].append(run_worker(["time", args.model, str(t), *timing]))
        for label, path in others.items():
            results["compare"][label].append(
                run_worker(["time", args.model, str(t), *timing], Path(path).resolve())
            )
    mt = max(args.threads)
    print(f"peak memory and per-layer profile ({mt} threads) ...", file=sys.stderr)
    results["memory"] = {"threads": mt, **{fw: run_worker([f"memory-{fw}", args.model, str(mt)])["peak_rss_mib"]
                                           for fw in ("scratchnet", "torch")}}  # fmt: skip
    results["profiles"] = [run_worker(["profile", args.model, str(t)]) for t in args.threads]
    md = markdown(results)
    print(md)
    if not args.no_write:
        (HERE / "RESULTS.json").write_text(json.dumps(results, indent=2) + "\n")
        (HERE / "RESULTS.md").write_text(md)
        print(f"wrote {HERE / 'RESULTS.json'} and {HERE / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
