"""``scratchnet ensemble``: train K members, evaluate each of them and their vote, write it all down.

Member ``k`` (0-based) is the model ``models[k % len(models)]`` trained with seed ``seed + k``
(initial weights, batch order, augmentation; with ``bagging`` also its bootstrap sample of the
training images). All members share one validation split (seeded by ``seed``), so they are
validated on the same images; the test set is only evaluated.

``ensemble_run`` writes into ``out_dir``:

* ``runs/member-<k>/`` — each member's own run folder (``train_run``'s outputs and checkpoint);
* ``manifest.json`` + ``member-<k>.npz`` — the saved :class:`~scratchnet.ensemble.Ensemble`
  (what ``scratchnet evaluate OUT`` loads);
* ``metrics.json``, ``ensemble.md`` (table), ``ensemble.png`` (members, the ensemble as members
  are added, the best member), ``confusion.png`` (the ensemble's confusion matrix);
* ``plan.json`` — the recipe; running the same command again resumes: finished members are
  reused, interrupted ones continue from their checkpoints, failed ones are trained again.

A member that diverges or crashes is reported and left out; the ensemble is made of the others.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import viz
from .data import train_val_split
from .ensemble import Ensemble
from .evaluation import load_trained
from .experiment import invocation, prepare_data
from .io import atomic_write_bytes, write_json
from .jobs import training_job
from .parallel import JobFailure, JobProgress, run_jobs
from .runtime import say
from .train import TrainConfig


def member_plan(
    models: Sequence[str], cfgs: dict[str, TrainConfig], members: int, seed: int
) -> list[dict[str, Any]]:
    """Who member ``k`` is: its model, seed and configuration."""
    if members < 1:
        raise ValueError(f"an ensemble needs at least one member, got --members {members}")
    plan = []
    for k in range(members):
        model = models[k % len(models)]
        plan.append({"member": k, "model": model, "seed": seed + k, "cfg": replace(cfgs[model], seed=seed + k)})
    return plan


def _run_metrics(run_dir: Path) -> dict[str, Any]:
    """A member's ``metrics.json`` (empty if its run never wrote one)."""
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _check_plan(out: Path, plan: dict[str, Any]) -> None:
    """Write ``plan.json``, or make sure a run already in ``out`` followed the same recipe (the
    number of members may change: member ``k``'s recipe does not depend on it, so a larger
    ``--members`` adds members to a finished ensemble)."""
    path = out / "plan.json"
    if path.is_file():
        old = json.loads(path.read_text())
        changed = sorted(k for k in set(old) | set(plan) if k != "members" and old.get(k) != plan.get(k))
        if changed:
            raise ValueError(
                f"{out} holds an ensemble run with a different recipe ({', '.join(changed)} differ); "
                f"give another --out or delete {out}"
            )
    write_json(path, plan)


def ensemble_run(
    dataset: str,
    out_dir: str | os.PathLike,
    models: Sequence[str],
    cfgs: dict[str, TrainConfig],
    *,
    members: int = 5,
    seed: int = 0,
    bagging: bool = False,
    voting: str = "soft",
    workers: int = 1,
    scheduler: str | None = None,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = say,
    tensorboard: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train ``members`` networks (see the module docstring) and evaluate them and their vote.

    Args:
        models: zoo names, used in turn by the members.
        cfgs: the training configuration of each model name (its seed is replaced per member).
    Returns:
        The metrics written to ``metrics.json``. Raises ``ValueError`` if no member finished.
    """
    wall_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = member_plan(models, cfgs, members, seed)
    _check_plan(out, {"dataset": dataset, "members": members, "seed": seed, "bagging": bagging, "limit": limit,
                      "models": list(models), "configs": {m: asdict(c) for m, c in cfgs.items()}})  # fmt: skip
    in_process = workers == 1 and scheduler is None
    common = {"data_dir": str(data_dir) if data_dir else None, "limit": limit, "split_seed": seed,
              "bootstrap": bagging, "progress": progress and in_process,
              "log": log if in_process else None}  # fmt: skip
    run_dirs = [out / "runs" / f"member-{p['member']}" for p in plan]
    jobs, todo = _member_jobs(dataset, plan, run_dirs, common, tensorboard, log)
    if log and jobs:
        where = f"on {scheduler}" if scheduler else f"with {workers} worker{'s' * (workers > 1)}"
        log(f"training {len(jobs)} of {members} members {where}")
    failures: dict[int, str] = {}
    if jobs:
        names = [f"member {k}" for k in todo]
        progress_lines = JobProgress(names, _describe, log, bar=False if in_process else None)
        outcomes = run_jobs(training_job, jobs, workers=workers, scheduler=scheduler, on_done=progress_lines)
        failures = {k: r.error for k, r in zip(todo, outcomes, strict=True) if isinstance(r, JobFailure)}
    return _evaluate_members(dataset, out, plan, run_dirs, failures, voting, data_dir, limit, log, wall_start)


def _member_jobs(dataset: str, plan: list[dict[str, Any]], run_dirs: list[Path], common: dict[str, Any],
                 tensorboard: str | os.PathLike | None, log: Callable[[str], None] | None,
                 ) -> tuple[list[dict[str, Any]], list[int]]:  # fmt: skip
    """The trainings still to do (a member completed or diverged in an earlier run is reused, an
    interrupted one continues from its checkpoint) and their member numbers."""
    jobs, todo = [], []
    for p, run_dir in zip(plan, run_dirs, strict=True):
        status = _run_metrics(run_dir).get("status")
        if status in ("completed", "diverged"):
            if log:
                log(f"member {p['member']}: {status} in an earlier run ({run_dir}), reused")
            continue
        kwargs = dict(common)
        if (run_dir / "checkpoint.npz").is_file():
            kwargs["resume"] = str(run_dir / "checkpoint.npz")  # interrupted or crashed: continue
        if tensorboard is not None:
            kwargs["tensorboard"] = str(Path(tensorboard) / f"member-{p['member']}")
        jobs.append({"dataset": dataset, "run_dir": str(run_dir), "model": p["model"], "cfg": p["cfg"],
                     "kwargs": kwargs})  # fmt: skip
        todo.append(p["member"])
    return jobs, todo


def _describe(m: dict[str, Any]) -> str:
    if m.get("status") != "completed":
        return f"{m.get('status')} ({m.get('error', 'see its metrics.json')})"
    return f"completed, val {m['val_accuracy']:.4f}, test {m['test_accuracy']:.4f}, {m['train_seconds']:.0f} s"


def _evaluate_members(
    dataset: str,
    out: Path,
    plan: list[dict[str, Any]],
    run_dirs: list[Path],
    failures: dict[int, str],
    voting: str,
    data_dir: Any,
    limit: int | None,
    log: Callable[[str], None] | None,
    wall_start: float,
) -> dict[str, Any]:
    rows, nets, norms, specs = _load_members(out, plan, run_dirs, failures, log)
    if not nets:
        write_json(out / "metrics.json", {"status": "failed", "dataset": dataset, "members": rows})
        raise ValueError(f"no ensemble member finished; see {out}/metrics.json")
    ds = prepare_data(dataset, data_dir, limit, progress=False)
    cfg0 = plan[0]["cfg"]
    _, (x_val, y_val) = train_val_split(ds.x_train, ds.y_train, cfg0.val_size, cfg0.seed)
    kept = [r for r in rows if r["status"] == "completed"]
    meta = {"dataset": ds.name, "limit": limit, "members": [r["member"] for r in kept]}
    ens = Ensemble(nets, voting=voting, specs=specs, transform=norms, meta=meta)
    test = ens.evaluate(ds.x_test, ds.y_test)  # the test set: evaluated once, here
    val = ens.evaluate(x_val, y_val) if len(x_val) else {"accuracy": None}
    for r, acc in zip(kept, test["member_accuracy"], strict=True):
        r["test_accuracy"] = acc
    cm = viz.confusion_matrix(ds.y_test, test["predictions"], ds.num_classes)
    ens.save(out)
    metrics = {
        "status": "completed", "dataset": ds.name, "voting": voting, "members_planned": len(plan),
        "members_used": len(kept), "members": rows, "test_accuracy": test["accuracy"],
        "val_accuracy": val["accuracy"], "best_member_test_accuracy": test["best_member_accuracy"],
        "mean_member_test_accuracy": float(np.mean(test["member_accuracy"])),
        "gain_over_best_member": test["gain_over_best_member"],
        "test_accuracy_by_size": test["accuracy_by_size"],
        "confusion_matrix": cm.tolist(), "wall_seconds": round(time.perf_counter() - wall_start, 1),
        "command": invocation(),
    }  # fmt: skip
    write_json(out / "metrics.json", metrics)
    title = f"{ds.title}: ensemble of {len(kept)} ({voting} voting)"
    labels = [f"member {r['member']}\n{r['model']}\nseed {r['seed']}" for r in kept]
    viz.plot_ensemble(test["member_accuracy"], test["accuracy_by_size"], labels, out / "ensemble.png",
                      title=title)  # fmt: skip
    viz.plot_confusion(cm, ds.classes, out / "confusion.png",
                       title=f"{title}: test accuracy {test['accuracy']:.4f}")  # fmt: skip
    table = ensemble_table(metrics)
    atomic_write_bytes(out / "ensemble.md", table.encode())
    if log:
        log(table)
    return metrics


def _load_members(out: Path, plan: list[dict[str, Any]], run_dirs: list[Path], failures: dict[int, str],
                  log: Callable[[str], None] | None,
                  ) -> tuple[list[dict[str, Any]], list, list, list]:  # fmt: skip
    """Each member's row of the table, and the networks, input normalisations and specs of those
    that completed (the others are left out, and said so)."""
    rows, nets, norms, specs = [], [], [], []
    for p, run_dir in zip(plan, run_dirs, strict=True):
        k = p["member"]
        m = _run_metrics(run_dir)
        status = "failed" if k in failures else m.get("status", "failed")
        row = {"member": k, "model": p["model"], "seed": p["seed"], "status": status,
               "val_accuracy": m.get("val_accuracy"), "test_accuracy": m.get("test_accuracy"),
               "train_seconds": m.get("train_seconds"), "run": str(run_dir.relative_to(out))}  # fmt: skip
        if status != "completed":
            row["error"] = failures.get(k) or m.get("error") or "see the member's folder"
            if log:
                log(f"member {k} left out of the ensemble: {status}: {row['error']}")
        else:
            net, norm, meta = load_trained(run_dir / "checkpoint.npz")
            nets.append(net), norms.append(norm)
            specs.append({"name": meta["model"]["name"], "kwargs": meta["model"]["kwargs"]})
        rows.append(row)
    return rows, nets, norms, specs


def ensemble_table(metrics: dict[str, Any]) -> str:
    """The Markdown table of ``ensemble.md``: one row per member, then the ensemble."""

    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    lines = [
        "| member | model | seed | status | val accuracy | test accuracy | seconds |",
        "|---:|---|---:|---|---:|---:|---:|",
    ]
    for r in metrics["members"]:
        secs = "-" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        lines.append(
            f"| {r['member']} | {r['model']} | {r['seed']} | {r['status']} | {f(r['val_accuracy'])} | "
            f"{f(r['test_accuracy'])} | {secs} |"
        )
    lines.append(
        f"| **ensemble** ({metrics['members_used']}, {metrics['voting']}) | | | | "
        f"{f(metrics['val_accuracy'])} | **{metrics['test_accuracy']:.4f}** | |"
    )
    gain = metrics["gain_over_best_member"]
    return (
        "\n".join(lines) + f"\n\nBest member {metrics['best_member_test_accuracy']:.4f}, members' mean "
        f"{metrics['mean_member_test_accuracy']:.4f}; the ensemble {metrics['test_accuracy']:.4f} "
        f"({gain * 100:+.2f} points over the best member). Wall time {metrics['wall_seconds'] / 60:.1f} min.\n"
    )
