"""The process a submission runs in: ``python -m scratchnet.check.worker JOB_DIR`` calls :func:`main`.

The grader (:mod:`scratchnet.check.runner`) writes ``JOB_DIR/job.json`` (the op, the submission's
path, the names to look for, the limits) and ``JOB_DIR/cases.npz`` (the inputs only: the expected
results never leave the grader). This process limits its own memory and CPU time, imports the
submission, runs every case through the op's adapter and writes, case by case,
``case-K.npz`` (what the submission returned, as plain arrays) and then ``case-K.json`` (the
error, if any): a case without its ``.json`` was not finished. ``setup.json`` says how the
submission was found, or why it could not be. Everything is read back with
``allow_pickle=False``: nothing the submission makes is unpickled by the grader.

Only NumPy and :mod:`scratchnet.check.adapters` are needed here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from .adapters import FUNCTIONAL, LAYER, Adapter, find_functional

EXIT, MEMORY, CRASH = "exited", "memory", "crashed"


def error_of(exc: BaseException, skip_frames: int = 0) -> dict[str, Any]:
    """What a submission's exception is reported as: its kind, message and the traceback's last
    lines (the checker's own frames left out)."""
    if isinstance(exc, SystemExit):
        return {"kind": EXIT, "message": f"the submission called exit ({exc.code!r})", "traceback": ""}
    kind = MEMORY if isinstance(exc, MemoryError) else CRASH
    frames = traceback.extract_tb(exc.__traceback__)[skip_frames:]
    tb = "".join(traceback.format_list(frames[-4:])) + "".join(traceback.format_exception_only(type(exc), exc))
    return {"kind": kind, "message": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
            "traceback": tb.rstrip()}  # fmt: skip


def as_arrays(results: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The results as plain numeric arrays; what cannot be one is named in the second dict."""
    arrays, bad = {}, {}
    for key, value in results.items():
        try:
            a = np.asarray(value)
        except Exception as exc:
            bad[key] = f"returned something NumPy cannot read as an array ({type(exc).__name__})"
            continue
        if a.dtype.kind not in "biuf":
            bad[key] = f"returned {type(value).__name__} ({a.dtype}), not an array of numbers"
        else:
            arrays[key] = a
    return arrays, bad


def run_case(adapter: Adapter, callables: tuple, case: dict[str, Any]) -> tuple[dict[str, Any], dict | None]:
    """Every result the adapter yields before an error, and the error (with ``stage``: 0 for the
    forward call, 1 for the backward call) or ``None``."""
    results: dict[str, Any] = {}
    stage = 0
    try:
        for part in adapter(*callables, case):
            results.update(part)
            stage += 1
    except BaseException as exc:
        return results, {**error_of(exc, skip_frames=1), "stage": stage}
    return results, None


def load_submission(path: Path) -> dict[str, Any]:
    """The submission's module namespace, imported from its file under the name ``submission``."""
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return vars(module)


def find(namespace: dict[str, Any], job: dict[str, Any]) -> tuple[Adapter, tuple, dict[str, Any]]:
    """The adapter and the callables for the submission, and how they were found."""
    op, style = job["op"], job.get("style")
    layer_name = job.get("layer") or job.get("layer_default")
    if style in (None, "functional"):
        try:
            fwd, bwd, names = find_functional(namespace, op, job.get("forward"), job.get("backward"))
            return FUNCTIONAL[op], (fwd, bwd), {"style": "functional", "names": [n for n in names if n]}
        except LookupError:
            if style == "functional" or op not in LAYER or not isinstance(namespace.get(layer_name), type):
                raise
    if op not in LAYER:
        raise LookupError(f"{op} is checked in the functional convention only")
    cls = namespace.get(layer_name)
    if not isinstance(cls, type):
        raise LookupError(f"no class named {layer_name} in the submission; give its name with --layer NAME")
    return LAYER[op], (cls,), {"style": "layer", "names": [layer_name]}


def read_cases(path: Path) -> list[dict[str, Any]]:
    """The cases written by :func:`scratchnet.check.runner.write_cases`."""
    cases: dict[int, dict[str, Any]] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            k, name = key.split(".", 1)
            a = z[key]
            cases.setdefault(int(k), {})[name] = a.item() if a.ndim == 0 else a
    return [cases[k] for k in sorted(cases)]


def _limit(memory_bytes: int | None, cpu_seconds: float | None) -> None:
    try:
        import resource
    except ImportError:  # not on this platform (Windows): the grader's wall-clock limit still holds
        return
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if cpu_seconds:
        soft = max(1, int(cpu_seconds + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 2))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(job_dir: str) -> int:
    root = Path(job_dir)
    job = json.loads((root / "job.json").read_text())
    cases = read_cases(root / "cases.npz")
    submission = Path(job["submission"])
    sys.path.insert(0, str(submission.parent))
    _limit(job.get("memory_bytes"), job.get("cpu_seconds"))
    try:
        namespace = load_submission(submission)
        adapter, callables, found = find(namespace, job)
    except BaseException as exc:
        err = error_of(exc) if not isinstance(exc, LookupError) else {"kind": "not found", "message": str(exc)}
        _write_json(root / "setup.json", {"error": err})
        return 0
    _write_json(root / "setup.json", found)
    for k, case in enumerate(cases):
        results, error = run_case(adapter, callables, case)
        try:
            arrays, bad = as_arrays(results)
            np.savez(root / f"case-{k}.npz", **arrays)
        except MemoryError:
            arrays, bad = {}, {key: "too large to keep" for key in results}
            error = error or {"kind": MEMORY, "message": "MemoryError", "traceback": "", "stage": 0}
        del results
        _write_json(root / f"case-{k}.json", {"error": error, "bad": bad})
    return 0
