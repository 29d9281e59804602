"""Running a submission: in a sandbox of its own (a file or a student's folder), or in the caller's
process (functions handed over from a notebook, where the student trusts their own code).

A submission is untrusted code. The grader never imports it. For each submission it makes a
private folder (mode 0700) holding the job: the submission's files copied in (regular files only:
a symbolic link is never followed), the cases' inputs, the job's settings and the worker's two
modules. The worker (:mod:`scratchnet.check.child`) runs in the sandbox of
:mod:`scratchnet.check.sandbox`, under hard limits, with that job read-only and nothing else of
the class in sight; the expected results stay in the grader's memory. Its printing comes back
through a pipe of which only the last bytes are kept; its results through another, read up to a
limit, each ``.npz`` checked member by member before it is loaded with ``allow_pickle=False``.
Whatever it does (exits, is killed, writes garbage into the pipe) becomes its own verdict.

Without the sandbox (``sandbox=False``, ``--no-sandbox``) the same worker runs as the grader's
user under the limits only: enough for a student's own file, not for strangers' code.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import sandbox as box
from .adapters import CONVENTIONS, find_functional
from .child import FRAME_HEAD_MAX, as_arrays, run_case, run_interleaved
from .submission import copy_submission

TIME, MEMORY, EXITED = "stopped: time limit", "stopped: memory limit", "exited"
WORKER_FILES = ("child.py", "adapters.py")
# the worker's package first, then the folder this scratchnet was imported from (a submission that
# imports scratchnet gets the grader's own, whatever an installed copy elsewhere says)
LIBRARY = str(Path(__file__).resolve().parents[2])
LAUNCH = "import sys; sys.path[0:0] = sys.argv[1:3]; from scratchnet_worker.child import main; " \
         "sys.exit(main(*sys.argv[3:]))"  # fmt: skip


@dataclass
class CaseRun:
    """What one case returned: the results as arrays, the error (kind, message, traceback,
    stage) if a call raised, the results that were not arrays of numbers, and the inputs the
    submission changed in place (name -> "forward" or "backward")."""

    results: dict[str, np.ndarray]
    error: dict[str, Any] | None = None
    bad: dict[str, str] = field(default_factory=dict)
    changed: dict[str, str] = field(default_factory=dict)


@dataclass
class TwinRun:
    """A case run interleaved with its twin (forward A, forward B, backward B, backward A)."""

    a: dict[str, np.ndarray]
    b: dict[str, np.ndarray]
    error: dict[str, Any] | None = None


@dataclass
class Outcome:
    """A submission's run: how it was found (``style``, ``names``) or why it could not be
    (``error``); one :class:`CaseRun` per finished case, ``None`` for the others; the interleaved
    runs; why the process stopped early (``stopped``: a verdict, ``why``: in words), its captured
    output, its wall time, the modules it imported and whether it ran in the sandbox."""

    found: dict[str, Any]
    runs: list[CaseRun | None]
    twins: list[TwinRun | None] = field(default_factory=list)
    stopped: str | None = None
    output: str = ""
    seconds: float = 0.0
    imported: list[str] = field(default_factory=list)
    sandboxed: bool = False
    why: str = ""


def write_cases(path: Path, cases: list[dict[str, Any]]) -> None:
    """The cases' inputs as one ``.npz`` (keys ``K.name``), Python scalars as 0-d arrays; an
    empty case (no twin) writes nothing."""
    np.savez(path, **{f"{k}.{name}": np.asarray(v) for k, case in enumerate(cases) for name, v in case.items()})


def _prepare(root: Path, job: dict[str, Any], submission: Path, cases: list, twins: list) -> tuple[Path, Path]:
    """The job folder (read by the worker) and the worker's package folder."""
    job_dir, grader = root / "job", root / "grader"
    job_dir.mkdir(mode=0o755)
    copy_submission(submission, job_dir / "submission")
    write_cases(job_dir / "cases.npz", cases)
    write_cases(job_dir / "twins.npz", twins)
    (job_dir / "job.json").write_text(json.dumps(job))
    (grader / "scratchnet_worker").mkdir(mode=0o755, parents=True)
    grader.chmod(0o755)
    for name in WORKER_FILES:
        shutil.copyfile(Path(__file__).with_name(name), grader / "scratchnet_worker" / name)
    for p in [*job_dir.rglob("*"), *grader.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return job_dir, grader


def run_file(op: str, submission: Path, cases: list[dict[str, Any]], twins: list[dict[str, Any]] | None = None,
             *, entry: str | None = None, limits: box.Limits | None = None, sandbox: bool = True,
             **names: str | None) -> Outcome:  # fmt: skip
    """Run ``submission`` (a ``.py`` file, or a folder and its ``entry`` file) on ``cases`` (and
    each case interleaved with its twin, where there is one) in a child process, in the sandbox
    unless ``sandbox=False``. ``names``: ``forward``, ``backward``, ``layer``, ``layer_default``,
    ``style``."""
    limits = limits or box.Limits()
    submission = Path(submission)
    tool = box.bwrap() if sandbox else None
    if sandbox and tool is None:
        raise box.Unavailable(box.MISSING)
    entry = entry or submission.name
    root = Path(tempfile.mkdtemp(prefix="scratchnet-check-"))
    try:
        as_root = tool is not None and os.geteuid() == 0
        job = {"op": op, "entry": entry, "become": box.NOBODY if as_root else None, **names}
        job_dir, grader = _prepare(root, job, submission, cases, twins or [])
        (root / "work").mkdir(mode=0o700)
        where = [box.GRADER, box.JOB, box.WORK] if tool else [str(grader), str(job_dir), str(root / "work")]

        def argv(fd: int) -> list[str]:
            launch = [sys.executable, "-I", "-c", LAUNCH, where[0], LIBRARY, *where[1:], str(fd)]
            return box.command(tool, job_dir, grader, launch, limits) if tool else launch

        env = None if tool else box.environment(str(root / "work"), str(root / "work"))
        raw, output, seconds, status = _execute(argv, limits, as_root, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome = read_frames(raw, len(cases), limits)
    outcome.output, outcome.seconds, outcome.sandboxed = output, seconds, tool is not None
    _stopped(outcome, status, tool is not None)
    return outcome


def _execute(argv: Callable[[int], list[str]], limits: box.Limits, as_root: bool,
             env: dict[str, str] | None) -> tuple[bytes, str, float, tuple[int, bool, bool]]:  # fmt: skip
    """Start ``argv(fd)`` under the limits with the results pipe's writing end at descriptor ``fd``;
    returns what came through the pipe, the printing's tail, the seconds and (exit status, timed
    out, results too large)."""
    read_res, write_res = os.pipe()
    read_out, write_out = os.pipe()
    start = time.perf_counter()
    proc = subprocess.Popen(argv(write_res), stdin=subprocess.DEVNULL, stdout=write_out, stderr=write_out,
                            pass_fds=(write_res,), start_new_session=True, env=env,
                            preexec_fn=box.resource_limiter(limits, as_root))  # fmt: skip
    os.close(write_res)
    os.close(write_out)
    got: dict[str, Any] = {}
    reader = threading.Thread(target=_collect, args=(read_out, read_res, limits, got), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.seconds + 10)
    except subprocess.TimeoutExpired:
        timed_out = True
    try:  # the whole process group: the sandbox, or (without one) what the submission started
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    seconds = time.perf_counter() - start
    reader.join(timeout=2)
    got["stop"] = True
    reader.join()
    output = bytes(got.get("tail", b"")).decode("utf-8", "replace")
    status = (proc.returncode, timed_out, bool(got.get("overflow")))
    return bytes(got.get("results", b"")), output, seconds, status


def _collect(read_out: int, read_res: int, limits: box.Limits, got: dict[str, Any]) -> None:
    """Read both pipes until both end (or ``got["stop"]``): the printing's last
    ``limits.output_bytes`` bytes, and the results up to ``limits.results_mb``."""
    tail, results, cap = bytearray(), bytearray(), limits.results_mb * 2**20
    got.update(tail=tail, results=results)
    sel = selectors.DefaultSelector()
    sel.register(read_out, selectors.EVENT_READ)
    sel.register(read_res, selectors.EVENT_READ)
    open_fds = {read_out, read_res}
    while open_fds and not got.get("stop"):
        for key, _ in sel.select(timeout=0.2):
            chunk = os.read(key.fd, 1 << 16)
            if not chunk:
                sel.unregister(key.fd)
                open_fds.discard(key.fd)
            elif key.fd == read_out:
                tail += chunk
                del tail[: max(0, len(tail) - limits.output_bytes)]
            elif len(results) + len(chunk) <= cap:
                results += chunk
            else:
                got["overflow"] = True
    sel.close()
    for fd in (read_out, read_res):
        os.close(fd)


class Unreadable(ValueError):
    """Results that do not follow the protocol (the submission wrote into the pipe, or died)."""


Frame = tuple[dict[str, Any], dict[str, np.ndarray]]
_BAD = (Unreadable, ValueError, zipfile.BadZipFile, OSError, EOFError, KeyError)


def _frames(raw: bytes, limits: box.Limits) -> tuple[list[Frame], str]:
    """The frames of ``raw``, each checked: a JSON header of known kind and size, an ``.npz``
    whose every member is a plain array no larger than the limit. Stops at the first bad one:
    returns the good frames before it and what was wrong ("" if nothing)."""
    frames: list[Frame] = []
    pos = 0
    try:
        while pos < len(raw):
            end = raw.find(b"\n", pos, pos + FRAME_HEAD_MAX)
            if end < 0:
                raise Unreadable("a frame's header is cut or too long")
            head = json.loads(raw[pos:end])
            size = head.get("size") if isinstance(head, dict) else None
            if not isinstance(size, int) or size < 0 or end + 1 + size > len(raw):
                raise Unreadable("a frame's size is wrong")
            if head.get("kind") not in ("setup", "case", "interleaved", "done"):
                raise Unreadable(f"a frame of unknown kind {head.get('kind')!r}")
            frames.append((head, _arrays(raw[end + 1 : end + 1 + size], limits)))
            pos = end + 1 + size
    except _BAD as exc:
        return frames, f"its results could not be read ({exc})"
    return frames, ""


def _arrays(payload: bytes, limits: box.Limits) -> dict[str, np.ndarray]:
    if not payload:
        return {}
    with zipfile.ZipFile(io.BytesIO(payload)) as z:  # sizes checked before anything is inflated
        if sum(info.file_size for info in z.infolist()) > limits.results_mb * 2**20:
            raise Unreadable("results larger than the limit once unpacked")
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    if any(a.dtype.kind not in "biuf" for a in arrays.values()):
        raise Unreadable("results that are not arrays of numbers")
    return arrays


def read_frames(raw: bytes, n: int, limits: box.Limits) -> Outcome:
    """The outcome the frames tell (cases not sent are ``None``; ``why`` says what was unreadable)."""
    outcome = Outcome({}, [None] * n)
    frames, outcome.why = _frames(raw, limits)  # what came before a bad frame still counts
    for head, arrays in frames:
        _apply(outcome, head, arrays, n)
    return outcome


def _apply(outcome: Outcome, head: dict[str, Any], arrays: dict[str, np.ndarray], n: int) -> None:
    kind = head["kind"]
    imported = head.get("imported")
    if isinstance(imported, list):
        outcome.imported = [str(m) for m in imported[:500]]
    if kind == "setup":
        outcome.found = {k: head[k] for k in ("style", "names", "error") if k in head}
        return
    k = head.get("case")
    if kind == "done" or not isinstance(k, int) or not 0 <= k < n:
        outcome.found.setdefault("done", kind == "done")
        return
    error = head.get("error") if isinstance(head.get("error"), dict) else None
    if kind == "case":
        bad = head.get("bad") if isinstance(head.get("bad"), dict) else {}
        changed = head.get("changed") if isinstance(head.get("changed"), dict) else {}
        outcome.runs[k] = CaseRun(arrays, error, {str(a): str(b) for a, b in bad.items()},
                                  {str(a): str(b) for a, b in changed.items()})  # fmt: skip
    else:
        while len(outcome.twins) <= k:
            outcome.twins.append(None)
        a = {key[2:]: v for key, v in arrays.items() if key.startswith("a.")}
        b = {key[2:]: v for key, v in arrays.items() if key.startswith("b.")}
        outcome.twins[k] = TwinRun(a, b, error)


def _stopped(outcome: Outcome, status: tuple[int, bool, bool], sandboxed: bool) -> None:
    """Why the process stopped before it was done, as a verdict and in words."""
    code, timed_out, overflow = status
    signum = -code if code < 0 else code - 128 if sandboxed and code > 128 else 0
    if overflow:
        outcome.stopped, outcome.why = "crashed", "it sent more results than the limit"
    elif timed_out or signum in (signal.SIGXCPU, signal.SIGKILL):
        outcome.stopped = TIME
    elif signum:
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        outcome.stopped, outcome.why = "crashed", f"its process was killed by signal {name}"
    elif outcome.found.get("done"):
        return
    elif code:
        outcome.stopped = EXITED
        outcome.why = f"it ended its own process with status {code} (os._exit or a signal of its own)"
    elif outcome.why:
        outcome.stopped = "crashed"
    else:
        outcome.stopped = EXITED
        outcome.why = "it ended its own process with status 0 (os._exit(0)) before the checks were done"
    if not outcome.found:
        outcome.found = {"error": {"kind": outcome.stopped, "message": outcome.why or outcome.stopped,
                                   "traceback": outcome.output[-1500:]}}  # fmt: skip


def run_callables(op: str, cases: list[dict[str, Any]], twins: list[dict[str, Any]] | None = None, *,
                  forward: Any = None, backward: Any = None, layer: type | None = None) -> Outcome:  # fmt: skip
    """Run functions or a class of the caller's own process (a notebook's) on ``cases`` and the
    interleaved twins: no limits, no child process."""
    start = time.perf_counter()
    if layer is not None:
        adapter = CONVENTIONS[op].layer
        if adapter is None:
            raise ValueError(f"{op} is checked in the functional convention only")
        callables, found = (layer,), {"style": "layer", "names": [layer.__name__]}
    else:
        if forward is None:
            raise ValueError("check_op: give the submission (a file), forward= (and backward=), or layer=")
        ns = {"forward": forward, "backward": backward}
        fwd, bwd, _ = find_functional(ns, op, "forward", "backward" if backward is not None else None)
        names = [getattr(f, "__name__", "?") for f in (fwd, bwd) if f is not None]
        adapter, callables = CONVENTIONS[op].functional, (fwd, bwd)
        found = {"style": "functional", "names": names}
    runs: list[CaseRun | None] = []
    for case in cases:
        results, error, changed = run_case(adapter, callables, case)
        arrays, bad = as_arrays(results)
        runs.append(CaseRun(arrays, error, bad, changed))
    pairs: list[TwinRun | None] = []
    for case, twin in zip(cases, twins or [], strict=False):
        ra, rb, error = run_interleaved(adapter, callables, case, twin) if twin else ({}, {}, None)
        pairs.append(TwinRun(as_arrays(ra)[0], as_arrays(rb)[0], error) if twin else None)
    found["done"] = True
    return Outcome(found, runs, pairs, None, "", time.perf_counter() - start)
