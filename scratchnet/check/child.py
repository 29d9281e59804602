"""The process a submission runs in, and the runs it makes of the submission's functions.

The grader (:mod:`scratchnet.check.runner`) prepares a job folder (``/job`` in the sandbox,
read-only): ``job.json`` (the op, the entry file, the names to look for, the user to become),
``cases.npz`` and ``twins.npz`` (the inputs only: the expected results never leave the grader) and
``submission/`` (the submission's own files, copied). This process (:func:`main`):

1. reads the job, then, where the sandbox started it as root, becomes ``nobody`` for good;
2. copies the submission's files into its working folder and imports the entry file;
3. runs every case (:func:`run_case`), then every case again interleaved with its twin
   (:func:`run_interleaved`), and sends each result to the grader as it is made.

What it sends goes through one pipe (file descriptor ``fd``) as frames: a line of JSON (the
frame's kind, its facts, the size of what follows) and an ``.npz`` of plain arrays. The grader
reads a bounded amount with ``allow_pickle=False``: nothing the submission makes is unpickled, and
a submission that writes frames of its own only changes its own report.

Only NumPy and :mod:`scratchnet.check.adapters` are needed here (the sandbox sees these two files).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from .adapters import CONVENTIONS, Adapter, Given, Missing, find_functional

EXIT, MEMORY, CRASH, NOT_FOUND = "exited", "memory", "crashed", "not found"
FRAME_HEAD_MAX = 1 << 16  # the longest header line a frame may have


def error_of(exc: BaseException, skip_frames: int = 0) -> dict[str, Any]:
    """What a submission's exception is reported as: its kind, message and the traceback's last
    lines (the checker's own frames left out)."""
    if isinstance(exc, SystemExit):
        return {"kind": EXIT, "message": f"the submission called exit ({exc.code!r})", "traceback": ""}
    if isinstance(exc, Missing):
        return {"kind": NOT_FOUND, "message": str(exc), "traceback": ""}
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
            arrays[key] = np.array(a)  # a copy: a later call of the submission cannot change it
    return arrays, bad


def _note_changes(given: Given, changed: dict[str, str], stage: int) -> None:
    for name in given.changed():
        changed.setdefault(name, ("forward", "backward")[min(stage, 1)])


def run_case(adapter: Adapter, callables: tuple,
             case: dict[str, Any]) -> tuple[dict[str, Any], dict | None, dict[str, str]]:  # fmt: skip
    """Every result the adapter yields before an error; the error (with ``stage``: 0 for the
    forward call, 1 for the backward call) or ``None``; the inputs the submission changed in place
    (name -> the call that changed it)."""
    results: dict[str, Any] = {}
    given, changed = Given(case), {}
    stage = 0
    try:
        for part in adapter(*callables, given):
            results.update(part)
            _note_changes(given, changed, stage)
            stage += 1
    except BaseException as exc:
        _note_changes(given, changed, stage)
        return results, {**error_of(exc, skip_frames=1), "stage": stage}, changed
    return results, None, changed


def run_interleaved(adapter: Adapter, callables: tuple, a: dict[str, Any],
                    b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict | None]:  # fmt: skip
    """Two uses in the order a network makes them: forward A, forward B, backward B, backward A.
    Returns A's and B's results and the error, if a call raised."""
    ra: dict[str, Any] = {}
    rb: dict[str, Any] = {}
    first, second = adapter(*callables, Given(a)), adapter(*callables, Given(b))
    try:
        ra.update(next(first))
        for part in second:
            rb.update(part)
        for part in first:
            ra.update(part)
    except BaseException as exc:
        return ra, rb, error_of(exc, skip_frames=1)
    return ra, rb, None


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
    """The adapter and the callables for the submission, and how they were found. A missing
    backward function (or forward) stands in as one that raises :class:`Missing`: the other one
    is still graded (the forward cannot be: the backward needs its cache)."""
    op, style = job.get("convention") or job["op"], job.get("style")
    layer_name = job.get("layer") or job.get("layer_default")
    functional, layer_adapter = CONVENTIONS[op].functional, CONVENTIONS[op].layer
    if style in (None, "functional"):
        try:
            fwd, bwd, names = find_functional(namespace, op, job.get("forward"), job.get("backward"), True)
            return functional, (fwd, bwd), {"style": "functional", "names": [n for n in names if n]}
        except LookupError:
            class_given = isinstance(namespace.get(layer_name), type)
            if style == "functional" or layer_adapter is None or not class_given:
                raise
    if layer_adapter is None:
        raise LookupError(f"{op} is checked in the functional convention only")
    cls = namespace.get(layer_name)
    if not isinstance(cls, type):
        raise LookupError(f"no class named {layer_name} in the submission; give its name with --layer NAME")
    return layer_adapter, (cls,), {"style": "layer", "names": [layer_name]}


def read_cases(path: Path) -> list[dict[str, Any]]:
    """The cases written by :func:`scratchnet.check.runner.write_cases`."""
    if not path.exists():
        return []
    cases: dict[int, dict[str, Any]] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            k, name = key.split(".", 1)
            a = z[key]
            cases.setdefault(int(k), {})[name] = a.item() if a.ndim == 0 else a
    return [cases[k] for k in sorted(cases)]


class Channel:
    """The pipe to the grader: ``send(kind, facts, arrays)`` writes one frame."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: str, facts: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        payload = b""
        if arrays:
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            payload = buf.getvalue()
        head = json.dumps({"kind": kind, **facts, "size": len(payload)}).encode() + b"\n"
        view = memoryview(head + payload)
        while view:
            view = view[os.write(self.fd, view) :]


def _become(uid: int) -> None:
    """Leave root for good (supplementary groups, group, then user: every capability goes)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _copy_tree(src: Path, dst: Path) -> None:
    for item in src.iterdir():
        if item.is_symlink():
            continue
        if item.is_dir():
            shutil.copytree(item, dst / item.name, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copyfile(item, dst / item.name)


def _imported(before: set[str]) -> list[str]:
    return sorted(set(sys.modules) - before)[:500]


def main(job_dir: str, work_dir: str, fd: str) -> int:
    """Run the job of ``job_dir`` in ``work_dir``, sending the results to ``fd``."""
    root, work, out = Path(job_dir), Path(work_dir), Channel(int(fd))
    job = json.loads((root / "job.json").read_text())
    cases, twins = read_cases(root / "cases.npz"), read_cases(root / "twins.npz")
    if job.get("become") is not None and os.geteuid() == 0:
        _become(int(job["become"]))
    _copy_tree(root / "submission", work)
    os.chdir(work)
    sys.path.insert(0, str(work))
    before = set(sys.modules)
    try:
        namespace = load_submission(work / job["entry"])
        adapter, callables, found = find(namespace, job)
    except BaseException as exc:
        err = error_of(exc) if not isinstance(exc, LookupError) else {"kind": NOT_FOUND, "message": str(exc)}
        out.send("setup", {"error": err, "imported": _imported(before)})
        return 0
    out.send("setup", {**found, "imported": _imported(before)})
    for k, case in enumerate(cases):
        _send_case(out, "case", k, *run_case(adapter, callables, case))
    for k, twin in enumerate(twins):
        if twin:
            ra, rb, error = run_interleaved(adapter, callables, cases[k], twin)
            arrays = {f"a.{key}": v for key, v in as_arrays(ra)[0].items()}
            arrays.update({f"b.{key}": v for key, v in as_arrays(rb)[0].items()})
            out.send("interleaved", {"case": k, "error": error}, arrays)
    out.send("done", {"imported": _imported(before)})
    return 0


def _send_case(out: Channel, kind: str, k: int, results: dict[str, Any], error: dict | None,
               changed: dict[str, str]) -> None:  # fmt: skip
    try:
        arrays, bad = as_arrays(results)
    except MemoryError:
        arrays, bad = {}, {key: "too large to keep" for key in results}
        error = error or {"kind": MEMORY, "message": "MemoryError", "traceback": "", "stage": 0}
    del results
    out.send(kind, {"case": k, "error": error, "bad": bad, "changed": changed}, arrays)
