"""Running a submission: in a process of its own with a time and a memory limit (a file), or in
the caller's process (functions handed over from a notebook, where the student trusts their own
code).

A submission is untrusted code. The grader never imports it: a child process
(:mod:`scratchnet.check.child`) does, with its address space limited (``RLIMIT_AS``), its CPU time
limited (``RLIMIT_CPU``), a wall-clock limit enforced from here (the whole process group is
killed), standard input closed, and its output captured. What it returns comes back as ``.npz``
arrays read with ``allow_pickle=False``. These limits stop accidents (an endless loop, a runaway
allocation, ``input()``, ``sys.exit``); they are not a sandbox against hostile code, which can
still read and write files as the grader's user: grade strangers' code inside a container or a
throwaway account.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .adapters import FUNCTIONAL, LAYER, find_functional
from .child import as_arrays, run_case

TIME, MEMORY = "stopped: time limit", "stopped: memory limit"


@dataclass
class CaseRun:
    """What one case returned: the results as arrays, the error (kind, message, traceback,
    stage) if a call raised, and the results that were not arrays of numbers."""

    results: dict[str, np.ndarray]
    error: dict[str, Any] | None = None
    bad: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """A submission's run: how it was found (``style``, ``names``) or why it could not be
    (``error``); one :class:`CaseRun` per finished case, ``None`` for the others; why the process
    stopped early (``stopped``: a verdict), its captured output and its wall time."""

    found: dict[str, Any]
    runs: list[CaseRun | None]
    stopped: str | None = None
    output: str = ""
    seconds: float = 0.0


def write_cases(path: Path, cases: list[dict[str, Any]]) -> None:
    """The cases' inputs as one ``.npz`` (keys ``K.name``), Python scalars as 0-d arrays."""
    np.savez(path, **{f"{k}.{name}": np.asarray(v) for k, case in enumerate(cases) for name, v in case.items()})


def _child_env() -> dict[str, str]:
    """The child's environment: one BLAS thread (the cases are small, and a thread pool costs
    address space under the memory limit) and this scratchnet on its path."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    here = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _stopped_by(returncode: int, timed_out: bool) -> str | None:
    if timed_out or returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return TIME
    if returncode < 0:
        return f"crashed: killed by signal {signal.Signals(-returncode).name}"
    if returncode:
        return f"exited (status {returncode})"
    return None


def run_file(op: str, submission: Path, cases: list[dict[str, Any]], *, forward: str | None = None,
             backward: str | None = None, layer: str | None = None, layer_default: str | None = None,
             style: str | None = None, time_limit: float = 30.0,
             memory_limit_mb: int = 1024) -> Outcome:  # fmt: skip
    """Run ``submission`` (a ``.py`` file) on ``cases`` in a child process under the limits."""
    submission = Path(submission).resolve()
    with tempfile.TemporaryDirectory(prefix="scratchnet-check-") as tmp:
        root = Path(tmp)
        write_cases(root / "cases.npz", cases)
        job = {"op": op, "submission": str(submission), "forward": forward, "backward": backward,
               "layer": layer, "layer_default": layer_default, "style": style,
               "memory_bytes": memory_limit_mb * 2**20, "cpu_seconds": time_limit}  # fmt: skip
        (root / "job.json").write_text(json.dumps(job))
        start = time.perf_counter()
        with open(root / "output.txt", "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "scratchnet.check.worker", str(root)], cwd=root,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=_child_env(), start_new_session=True)  # fmt: skip
            timed_out = False
            try:
                proc.wait(timeout=time_limit + 5)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        seconds = time.perf_counter() - start
        output = (root / "output.txt").read_bytes()[-4000:].decode("utf-8", "replace")
        return _read_back(root, len(cases), _stopped_by(proc.returncode, timed_out), output, seconds)


def _read_back(root: Path, n: int, stopped: str | None, output: str, seconds: float) -> Outcome:
    setup = root / "setup.json"
    if not setup.exists():
        found = {"error": {"kind": "crashed", "message": "the checker's process ended before importing the "
                           "submission", "traceback": output[-1500:]}}  # fmt: skip
        if stopped:
            found["error"]["kind"] = stopped
        return Outcome(found, [None] * n, stopped, output, seconds)
    found = json.loads(setup.read_text())
    runs: list[CaseRun | None] = []
    for k in range(n):
        meta = root / f"case-{k}.json"
        if not meta.exists():
            runs.append(None)
            continue
        info = json.loads(meta.read_text())
        with np.load(root / f"case-{k}.npz", allow_pickle=False) as z:
            results = {key: z[key] for key in z.files}
        runs.append(CaseRun(results, info["error"], info["bad"]))
    if stopped is None and any(r is None for r in runs):
        stopped = "crashed"
    return Outcome(found, runs, stopped, output, seconds)


def run_callables(op: str, cases: list[dict[str, Any]], *, forward: Any = None, backward: Any = None,
                  layer: type | None = None) -> Outcome:  # fmt: skip
    """Run functions or a class of the caller's own process (a notebook's) on ``cases``: no
    limits, no child process."""
    start = time.perf_counter()
    if layer is not None:
        if op not in LAYER:
            raise ValueError(f"{op} is checked in the functional convention only")
        adapter, callables, found = LAYER[op], (layer,), {"style": "layer", "names": [layer.__name__]}
    else:
        if forward is None:
            raise ValueError("check_op: give the submission (a file), forward= (and backward=), or layer=")
        ns = {"forward": forward, "backward": backward}
        fwd, bwd, _ = find_functional(ns, op, "forward", "backward" if backward is not None else None)
        names = [getattr(f, "__name__", "?") for f in (fwd, bwd) if f is not None]
        adapter, callables, found = FUNCTIONAL[op], (fwd, bwd), {"style": "functional", "names": names}
    runs: list[CaseRun | None] = []
    for case in cases:
        results, error = run_case(adapter, callables, case)
        arrays, bad = as_arrays(results)
        runs.append(CaseRun(arrays, error, bad))
    return Outcome(found, runs, None, "", time.perf_counter() - start)
