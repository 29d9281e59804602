"""Learning-rate sweeps: one training per rate, one figure, the best rate (and optionally a
training at it).

``sweep`` runs :func:`scratchnet.experiment.train_run` once per learning rate (in this process,
in local worker processes or on a Dask cluster, :mod:`scratchnet.parallel`) and writes
``sweep.png`` (each run's training error per iteration), ``sweep.md`` and ``sweep.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import viz
from .io import atomic_write_bytes, write_json
from .jobs import training_job
from .parallel import JobFailure, JobProgress, run_jobs
from .runtime import say
from .train import TrainConfig


def sweep(
    lrs: Sequence[float],
    dataset: str,
    out_dir: str | os.PathLike,
    model: str | None = None,
    cfg: TrainConfig | None = None,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    then_train: int | None = None,
    tensorboard: str | os.PathLike | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """One run per learning rate (same seed, data and model); ``sweep.png`` shows each run's
    training error per iteration, ``sweep.md`` the table with the best rate (by validation).

    ``workers``/``scheduler``: run the trainings in parallel (see :mod:`scratchnet.parallel`);
    each run gets its own folder, and a run that fails is reported without stopping the others.
    ``then_train``: afterwards, train the recipe for this many epochs at the best rate (folder
    ``best/``), which is what a sweep is for; its result is added to ``sweep.md``/``sweep.json``.
    """
    out = Path(out_dir)
    cfg = cfg or TrainConfig()
    log = kwargs.get("log", say)
    in_process = workers == 1 and scheduler is None
    job_kwargs = {**kwargs, "log": log if in_process else None}
    if not in_process:
        job_kwargs["progress"] = False
    jobs = [{"dataset": dataset, "run_dir": str(out / f"lr_{lr:g}"), "model": model, "cfg": replace(cfg, lr=lr),
             "kwargs": {**job_kwargs, **_tensorboard(tensorboard, f"lr_{lr:g}")}} for lr in lrs]  # fmt: skip

    def describe(m: dict[str, Any]) -> str:
        return f"{m['status']}, val {m.get('val_accuracy') or float('nan'):.4f}"

    names = [f"learning rate {lr:g}" for lr in lrs]
    progress = JobProgress(names, describe, log, bar=False if in_process else None)
    outcomes = run_jobs(training_job, jobs, workers=workers, scheduler=scheduler, on_done=progress)
    results, curves = _collect(lrs, jobs, outcomes)
    ok = [r for r in results if r["status"] == "completed" and r["val_accuracy"] is not None]
    best = max(ok, key=lambda r: r["val_accuracy"]) if ok else None
    viz.plot_sweep(curves, out / "sweep.png", title=f"{dataset}: learning-rate sweep")
    summary = "No run completed."
    final = None
    if best is not None:
        summary = f"Best learning rate (highest validation accuracy): {best['lr']:g}"
    if then_train and best is not None:
        final = _then_train(dataset, out, model, replace(cfg, lr=best["lr"], epochs=then_train), log,
                            {**kwargs, **_tensorboard(tensorboard, "best")})  # fmt: skip
        summary += (f"\n\nThen trained for {then_train} epochs at {best['lr']:g} (folder best/): "
                    f"{final['status']}, validation {_fmt(final['val_accuracy'], '.4f')}, "
                    f"test {_fmt(final['test_accuracy'], '.4f')}, {_fmt(final['train_seconds'], '.0f')} s.")
    table = _table(results, best)
    atomic_write_bytes(out / "sweep.md", (table + f"\n\n{summary}\n").encode())
    best_lr = best["lr"] if best else None
    write_json(out / "sweep.json", {"runs": results, "best_lr": best_lr, "then_train": final})
    if log:
        log(table + "\n" + summary)
    return results


def _then_train(dataset: str, out: Path, model: str | None, cfg: TrainConfig, log: Any, kwargs: dict[str, Any]
                ) -> dict[str, Any]:  # fmt: skip
    """The recipe trained again at the best rate, for ``cfg.epochs`` (folder ``best/``)."""
    if log:
        log(f"--- training {cfg.epochs} epochs at the best learning rate {cfg.lr:g} (folder best/) ---")
    m = training_job(dataset, str(out / "best"), model, cfg, kwargs)
    return {"lr": cfg.lr, "epochs": cfg.epochs, "status": m["status"], "val_accuracy": m.get("val_accuracy"),
            "test_accuracy": m.get("test_accuracy"), "train_seconds": m.get("train_seconds")}


def _tensorboard(tensorboard: str | os.PathLike | None, name: str) -> dict[str, str]:
    """A run's TensorBoard folder, under the sweep's (none without one)."""
    return {} if tensorboard is None else {"tensorboard": str(Path(tensorboard) / name)}


def _collect(lrs: Sequence[float], jobs: list[dict[str, Any]], outcomes: list[Any]
             ) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[float]]]]:  # fmt: skip
    """Each run's row of the table and its training curve (a failed job: status "failed")."""
    results, curves = [], {}
    for lr, job, m in zip(lrs, jobs, outcomes, strict=True):
        if isinstance(m, JobFailure):
            m = {"status": "failed", "error": m.error}
        status = m["status"]
        results.append({"lr": lr, "status": status, "val_accuracy": m.get("val_accuracy"),
                        "test_accuracy": m.get("test_accuracy"), "train_loss": m.get("train_loss"),
                        "train_seconds": m.get("train_seconds")})  # fmt: skip
        hist = _read_history(Path(job["run_dir"]) / "history.csv")
        if hist["iteration"]:
            curves[f"lr = {lr:g}" + (" (diverged)" if status == "diverged" else "")] = hist
    return results, curves


def _table(results: list[dict[str, Any]], best: dict[str, Any] | None) -> str:
    """``sweep.md``'s table, the best rate marked."""
    lines = ["| learning rate | status | final train loss | val accuracy | test accuracy | seconds |",
             "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in results:
        mark = " **best**" if best is r else ""
        lines.append(f"| {r['lr']:g}{mark} | {r['status']} | {_fmt(r['train_loss'], '.4f')} | "
                     f"{_fmt(r['val_accuracy'], '.4f')} | {_fmt(r['test_accuracy'], '.4f')} | "
                     f"{_fmt(r['train_seconds'], '.0f')} |")  # fmt: skip
    return "\n".join(lines)


def _fmt(v: Any, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)


def _read_history(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {"iteration": [], "accuracy": []}
    rows = path.read_text().strip().splitlines()
    keys = rows[0].split(",")
    cols: dict[str, list[float]] = {k: [] for k in keys}
    for row in rows[1:]:
        for k, v in zip(keys, row.split(","), strict=True):
            cols[k].append(float(v))
    return cols
