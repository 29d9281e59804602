"""The checker: cases drawn, the submission run, every result compared with the library's, and
the mistake named.

A check passes when every element satisfies ``|got - expected| <= atol + rtol * |expected|`` with
``rtol = 1e-5`` and ``atol = 1e-7 * max(1, max |expected|)``: a float64 implementation differs from
the library's by rounding only (about 1e-13), a float32 one still passes, a wrong one misses by
orders of magnitude more. A failing check is compared with each of the op's catalogued mistakes
(:mod:`scratchnet.check.ops`) by the same rule, and named after the first it equals.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from . import runner
from .ops import OPS, OpSpec
from .report import NOT_RUN, PASSED, WRONG, Check, Report

RTOL, ATOL = 1e-5, 1e-7
KIND_VERDICT = {"memory": runner.MEMORY, "exited": "exited", "crashed": "crashed"}
_HIDDEN = {"dout", "dc", "dc_seed", "dout_seed", "mask", "seed"}


def spec_of(op: str) -> OpSpec:
    key = op.lower().replace("_", "-")
    if key not in OPS:
        raise KeyError(f"no op {op!r} to check; the ops are: {', '.join(OPS)} (scratchnet check --list)")
    return OPS[key]


def make_cases(spec: OpSpec, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, np.ndarray] | None]]:
    """The op's cases (the same ones every time for a given seed) and, where they do not depend on
    the submission, the expected results (computing them draws each case's upstream gradient)."""
    cases = spec.cases(np.random.default_rng(seed))
    expected = [None if spec.observe else spec.expected(c) for c in cases]
    return cases, expected


def describe(case: dict[str, Any]) -> str:
    """A case's inputs in words: ``x (2, 3, 7, 7), w (4, 3, 3, 3), b (4,), stride 1, pad 1``."""
    parts = []
    for key, v in case.items():
        if key in _HIDDEN:
            continue
        if isinstance(v, np.ndarray) and v.ndim:
            parts.append(f"{key} {tuple(v.shape)}")
        elif key == "ties":
            parts.append("ties in every window")
        else:
            parts.append(f"{key} {v}")
    return ", ".join(parts)


def _tolerance(expected: np.ndarray, atol: float | None) -> np.ndarray:
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return (ATOL * scale if atol is None else atol) + RTOL * np.abs(expected)


def close(got: np.ndarray, expected: np.ndarray, atol: float | None = None) -> bool:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= _tolerance(expected, atol)))


def difference(name: str, got: np.ndarray, expected: np.ndarray, atol: float | None = None) -> str:
    """Where ``got`` is furthest from ``expected``, in words."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return f"{name} has shape {got.shape}, expected {expected.shape}"
    err = np.abs(got - expected)
    excess = np.where(np.isfinite(err), err - _tolerance(expected, atol), np.inf)
    idx = np.unravel_index(int(np.argmax(excess)), got.shape) if got.ndim else ()
    g, e = got[idx], expected[idx]
    rel = abs(g - e) / max(1e-12, abs(g) + abs(e))
    where = f"{name}[{', '.join(map(str, idx))}]" if idx else name
    wrong = int(np.sum(excess > 0))
    return (f"shape {got.shape}; {wrong} of {got.size} elements differ\n"
            f"worst element {where}: expected {e:.8g}, got {g:.8g} "
            f"(error {abs(g - e):.3g}, relative {rel:.3g})")  # fmt: skip


def _mistake_arrays(spec: OpSpec, case: dict[str, Any]) -> list[tuple[Any, dict[str, np.ndarray]]]:
    out = []
    for m in spec.mistakes:
        try:
            out.append((m, m.compute(case)))
        except Exception:
            continue
    return out


def judge(spec: OpSpec, cases: list[dict[str, Any]], expected: list[dict[str, np.ndarray] | None],
          outcome: runner.Outcome, name: str) -> Report:  # fmt: skip
    """The report of a run: every (case, result) judged."""
    report = Report(spec.name, name, outcome.found.get("style", ""), outcome.found.get("names", []),
                    [describe(c) for c in cases], output=outcome.output, seconds=outcome.seconds)  # fmt: skip
    setup_error = outcome.found.get("error")
    if setup_error:
        kind = setup_error["kind"]
        verdict = KIND_VERDICT.get(kind, kind if kind.startswith("stopped") else "crashed")
        report.problem = (
            "could not find the functions: " if kind == "not found" else "importing it failed: "
        ) + (setup_error["message"])
        detail = "\n".join(filter(None, [setup_error["message"], setup_error.get("traceback", "")]))
        report.checks = [Check(k + 1, key, verdict, detail) for k in range(len(cases)) for key in spec.results]
        return report
    stopped_at = next((k for k, r in enumerate(outcome.runs) if r is None), None)
    for k, (case, run) in enumerate(zip(cases, outcome.runs, strict=True)):
        if run is None:
            verdict = (outcome.stopped or "crashed") if k == stopped_at else NOT_RUN
            report.checks += [Check(k + 1, key, verdict) for key in spec.results]
            continue
        if spec.observe:
            spec.observe(case, run.results)
            expected[k] = spec.expected(case)
        report.checks += _judge_case(spec, case, expected[k], run, k + 1)
    return report


def _judge_case(spec: OpSpec, case: dict[str, Any], expected: dict[str, np.ndarray], run: runner.CaseRun,
                number: int) -> list[Check]:  # fmt: skip
    checks, mistakes = [], None
    error = run.error
    for i, key in enumerate(spec.results):
        stage = 0 if i < spec.forward_results else 1
        atol = spec.tolerance(case, key)
        if key in run.results:
            got = run.results[key]
            if close(got, expected[key], atol):
                checks.append(Check(number, key, PASSED))
                continue
            check = Check(number, key, WRONG, difference(key, got, expected[key], atol))
            mistakes = _mistake_arrays(spec, case) if mistakes is None else mistakes
            for m, arrays in mistakes:
                if key in arrays and close(got, arrays[key], atol):
                    check.mistake, check.says = m.name, m.says.replace("{key}", key)
                    break
            checks.append(check)
        elif key in run.bad:
            checks.append(Check(number, key, WRONG, f"{key}: {run.bad[key]}"))
        elif error is not None and error["stage"] <= stage:
            verdict = KIND_VERDICT.get(error["kind"], "crashed")
            checks.append(
                Check(number, key, verdict, "\n".join(filter(None, [error["message"], error["traceback"]])))
            )
        else:
            checks.append(Check(number, key, WRONG, f"{key} was not returned"))
    return checks


def imports_of(path: Path) -> set[str]:
    """The top-level packages a file imports (for the report's notes: a submission that imports
    scratchnet or torch may be handing in someone else's gradients)."""
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def check_op(op: str, submission: str | Path | None = None, *, forward: Callable | str | None = None,
             backward: Callable | str | None = None, layer: type | str | None = None, style: str | None = None,
             time_limit: float = 30.0, memory_limit_mb: int = 1024, seed: int = 0,
             verbose: bool = True) -> Report:  # fmt: skip
    """Check a student's implementation of ``op`` (``scratchnet check --list``) and return its
    :class:`~scratchnet.check.report.Report` (printed when ``verbose``).

    - ``check_op("conv2d", "my_conv.py")``: the file runs in a child process under the time and
      memory limits; its functions are found by the courses' usual names (``conv_forward_naive``,
      ``conv_backward_naive``) unless ``forward=``/``backward=`` name them, or its class by
      scratchnet's name (``Conv2D``) or ``layer=``; ``style="functional"`` or ``"layer"`` forces one.
    - ``check_op("conv2d", forward=my_forward, backward=my_backward)`` or ``layer=MyConv2D``:
      functions or a class of the calling process (a notebook's), run there without limits.
    """
    spec = spec_of(op)
    cases, expected = make_cases(spec, seed)
    if submission is None:
        outcome = runner.run_callables(spec.name, cases, forward=forward, backward=backward, layer=layer)  # type: ignore[arg-type]
        report = judge(spec, cases, expected, outcome, "this process's " + ("class" if layer else "functions"))
    else:
        path = Path(submission)
        if not path.is_file():
            raise FileNotFoundError(f"scratchnet check: no file {path}")
        outcome = runner.run_file(spec.name, path, cases, forward=_name(forward), backward=_name(backward),
                                  layer=_name(layer), layer_default=spec.layer, style=style,
                                  time_limit=time_limit, memory_limit_mb=memory_limit_mb)  # fmt: skip
        report = judge(spec, cases, expected, outcome, path.name)
        borrowed = imports_of(path) & {"scratchnet", "torch", "tensorflow", "jax"}
        if borrowed:
            report.notes.append(f"the submission imports {', '.join(sorted(borrowed))}")
    if verbose:
        print(report.text(), end="")
    return report


def _name(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("with a submission file, forward=, backward= and layer= are names (strings)")


def check_folder(op: str, folder: str | Path, *, jobs: int = 1, **kwargs: Any) -> list[Report]:
    """Check every ``.py`` file of ``folder`` (one submission each, in its own process); ``jobs``
    submissions run at a time."""
    files = sorted(p for p in Path(folder).glob("*.py") if p.is_file())
    if not files:
        raise FileNotFoundError(f"scratchnet check: no .py file in {folder}")
    kwargs["verbose"] = False
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(lambda f: check_op(op, f, **kwargs), files))


def write_reports(reports: list[Report], path: str | Path, fmt: str = "json") -> list[Path]:
    """``path`` (JSON: scratchnet's, or Gradescope's ``results.json`` for one submission / a map of
    them by file name), ``path`` with ``.csv`` (one row per submission) and, for several
    submissions, one readable report per student in ``<path stem>-reports/<file stem>.txt``.
    Returns the files written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gradescope":
        data: Any = (
            reports[0].gradescope() if len(reports) == 1 else {r.submission: r.gradescope() for r in reports}
        )
    else:
        data = (
            reports[0].to_json()
            if len(reports) == 1
            else {"op": reports[0].op, "submissions": [r.to_json() for r in reports]}
        )
    path.write_text(json.dumps(data, indent=1) + "\n")
    written = [path]
    table = path.with_suffix(".csv")
    with open(table, "w", newline="") as f:
        rows = [r.csv_row() for r in reports]
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written.append(table)
    if len(reports) > 1:
        folder = path.with_name(path.stem + "-reports")
        folder.mkdir(exist_ok=True)
        for r in reports:
            (folder / (Path(r.submission).stem + ".txt")).write_text(r.text())
            written.append(folder / (Path(r.submission).stem + ".txt"))
    return written


def summary_line(report: Report) -> str:
    mistakes = f" ({'; '.join(report.mistakes())})" if report.mistakes() else ""
    return f"{report.submission:<28} {report.score:>3}/{report.max_score:<3} {report.verdict}{mistakes}"
