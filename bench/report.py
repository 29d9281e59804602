"""The Markdown report of a benchmark run (``bench/RESULTS.md``)."""

from __future__ import annotations

from typing import Any

from common import BATCH


def _spread(r: dict[str, float]) -> str:
    return f"{r['step_ms_p10']:.1f} / {r['step_ms_median']:.1f} / {r['step_ms_p90']:.1f}"


def _timing_rows(run: dict[str, Any], label: str = "", key: str = "scratchnet") -> list[str]:
    t, s, p = run["threads"], run[key], run["torch"]
    inference_ratio = s["inference_images_per_s"] / p["inference_images_per_s"]
    return [
        f"| {t} | {label}seconds per epoch (median step) | {s['epoch_s']:.1f} | {p['epoch_s']:.1f} | "
        f"**{s['epoch_s'] / p['epoch_s']:.2f}** |",
        f"| {t} | {label}step ms, p10 / median / p90 | {_spread(s)} | {_spread(p)} | |",
        f"| {t} | {label}inference images/s (batch 1000) | {s['inference_images_per_s']:.0f} | "
        f"{p['inference_images_per_s']:.0f} | {inference_ratio:.2f} |",
    ]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"# Benchmark: {results['model']}, scratchnet vs PyTorch CPU",
        "",
        f"Machine: {m['cpu']} ({m['cpus']} cores), {m['platform']}; Python {m['python']}, NumPy {m['numpy']} "
        f"({m['blas']}), torch {m['torch']}. Load average before: {m['load']}. Date: {m['date']}.",
        "",
        f"Batch {BATCH}, SGD (lr 0.01, momentum 0.9), float32, real Fashion-MNIST batches; the model as "
        "`scratchnet.zoo.build` makes it and its layer-by-layer torch twin with the same weights, both in "
        "one process per thread count, alternating blocks of steps; seconds per epoch = median step x "
        "468.75. Ratio = scratchnet / PyTorch (time or memory: lower is better for scratchnet; "
        "throughput: higher is better).",
        "",
        "Reproduce: `python bench/bench_reference.py`",
        "",
        "| threads | metric | scratchnet | PyTorch | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    for run in results["runs"]:
        lines += _timing_rows(run)
        if "scratchnet-dp" in run:
            lines += _timing_rows(run, f"[{run['threads']} data-parallel shards] ", "scratchnet-dp")
    for label, runs in results.get("compare", {}).items():
        for run in runs:
            lines += _timing_rows(run, f"[{label}] ")
    mem = results.get("memory")
    if mem:
        ours, theirs = mem["scratchnet"], mem["torch"]
        lines.append(
            f"| {mem['threads']} | peak resident memory, MiB | {ours:.0f} | {theirs:.0f} "
            f"| **{ours / theirs:.2f}** |"
        )
    for prof in results.get("profiles", []):
        lines += [
            "",
            f"## Per-layer profile, scratchnet, {prof['threads']} thread(s), batch {BATCH}",
            "",
            f"NumPy float32 matmul ceiling (2048x2048, same process): {prof['matmul_ceiling_gflops']:.0f} "
            "GFLOP/s. Conv/dense layers timed with their input gradient (forward + both gradients); "
            "GFLOP/s counts the layer's own GEMM work (3 x 2 x MACs).",
            "",
            "| layer | forward ms | backward ms | GFLOP/s | % of ceiling |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in prof["layers"]:
            g = f"{r['gflops']:.0f} | {100 * r['fraction_of_ceiling']:.0f}%" if "gflops" in r else " | "
            lines.append(f"| {r['layer']} | {r['forward_ms']:.2f} | {r['backward_ms']:.2f} | {g} |")
    return "\n".join(lines) + "\n"
