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
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import runner
from .ops import OpSpec
from .policy import Course
from .report import NOT_FOUND, NOT_RUN, PASSED, WRONG, Check, Report
from .submission import find_entry

RTOL, ATOL = 1e-5, 1e-7
KIND_VERDICT = {"memory": runner.MEMORY, "exited": "exited", "crashed": "crashed", "not found": NOT_FOUND}
_HIDDEN = {"dout", "dc", "dc_seed", "dout_seed", "mask", "seed"}
INPUTS, INTERLEAVED = "inputs", "interleaved"  # the two behavioural checks of a case
_AST_LOCK = threading.Lock()


def spec_of(op: str) -> OpSpec:
    return Course().spec(op)


def make_cases(spec: OpSpec, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, np.ndarray] | None]]:
    """The op's cases (the same ones every time for a given seed) and, where they do not depend on
    the submission, the expected results (computing them draws each case's upstream gradient)."""
    cases = Course(seed=seed).draw(spec)
    expected = [None if spec.observe else spec.expected(c) for c in cases]
    return cases, expected


def interleaves(spec: OpSpec) -> bool:
    """Whether the op's cases are also run interleaved: ops with a backward call (a cache), whose
    expected results do not depend on the submission's own draws (dropout's mask)."""
    return len(spec.results) > spec.forward_results and spec.observe is None


def twin_of(case: dict[str, Any]) -> dict[str, Any]:
    """A second case of the same shapes and settings with other values: its float arrays scaled by
    -0.75 (a zero stays zero: the sequence LSTM's zero cell is a convention), its upstream
    gradients drawn anew, integer ids and labels kept."""
    twin = {}
    for key, v in case.items():
        if key in ("dout", "dc", "dc_seed") and "dout_seed" in case:
            continue
        if key.endswith("_seed"):
            twin[key] = v + 1000
        elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
            twin[key] = -0.75 * v
        else:
            twin[key] = v
    return twin


def make_twins(spec: OpSpec, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each case's twin (``{}`` where the op is not interleaved), its upstream gradient drawn."""
    if not interleaves(spec):
        return [{} for _ in cases]
    twins = [twin_of(c) for c in cases]
    for t in twins:
        spec.expected(t)  # draws the twin's upstream gradient into it
    return twins


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


SAYS_INPUTS = ("your code writes into its inputs ({names}: the caller's arrays): a layer must leave them as "
               "they were (a network reuses them); compute into a new array, or copy first")  # fmt: skip
SAYS_SHARED = ("your results depend on another call's: with a second use in between (forward A, forward B, "
               "backward B, backward A) they change, so a cache refers to memory that a later call "
               "overwrites (a shared buffer or a view of one, a module- or class-level variable): keep in the "
               "cache what this call computed")  # fmt: skip


def case_checks(spec: OpSpec, twin: dict[str, Any] | None) -> list[str]:
    """The names of a case's checks: its results, then the behavioural ones."""
    return [*spec.results, INPUTS, *([INTERLEAVED] if twin else [])]


def judge(spec: OpSpec, cases: list[dict[str, Any]], expected: list[dict[str, np.ndarray] | None],
          outcome: runner.Outcome, name: str, twins: list[dict[str, Any]] | None = None) -> Report:  # fmt: skip
    """The report of a run: every (case, result) judged, and each case's behaviour."""
    twins = twins or [{} for _ in cases]
    report = Report(spec.name, name, outcome.found.get("style", ""), outcome.found.get("names", []),
                    [describe(c) for c in cases], output=outcome.output, seconds=outcome.seconds,
                    sandboxed=outcome.sandboxed)  # fmt: skip
    setup_error = outcome.found.get("error")
    if setup_error:
        kind = setup_error.get("kind", "crashed")
        verdict = KIND_VERDICT.get(kind, kind if str(kind).startswith(("stopped", "exited")) else "crashed")
        report.problem = (
            "could not find the functions: " if kind == NOT_FOUND else "importing it failed: "
        ) + str(setup_error.get("message", ""))
        detail = "\n".join(
            filter(None, [str(setup_error.get("message", "")), setup_error.get("traceback", "")])
        )
        report.checks = [Check(k + 1, key, verdict, detail) for k in range(len(cases))
                         for key in case_checks(spec, twins[k])]  # fmt: skip
        return report
    stopped_at = next((k for k, r in enumerate(outcome.runs) if r is None), None)
    for k, (case, run) in enumerate(zip(cases, outcome.runs, strict=True)):
        if run is None:
            verdict = (outcome.stopped or "crashed") if k == stopped_at else NOT_RUN
            why = outcome.why if k == stopped_at else ""
            report.checks += [Check(k + 1, key, verdict, why) for key in case_checks(spec, twins[k])]
            continue
        if spec.observe:
            spec.observe(case, run.results)
            expected[k] = spec.expected(case)
        results = _judge_case(spec, case, expected[k], run, k + 1)
        report.checks += [*results, _inputs_check(run, k + 1)]
        if twins[k]:
            pair = outcome.twins[k] if k < len(outcome.twins) else None
            report.checks.append(_interleaved_check(spec, case, run, pair, k + 1, outcome.stopped or NOT_RUN))
    return report


def _error_check(number: int, name: str, error: dict[str, Any]) -> Check:
    verdict = KIND_VERDICT.get(error.get("kind", ""), "crashed")
    return Check(number, name, verdict, "\n".join(filter(None, [error.get("message"), error.get("traceback")])))


def _inputs_check(run: runner.CaseRun, number: int) -> Check:
    """Passed when every call returned and none wrote into its inputs."""
    if run.changed:
        where = ", ".join(f"{name} by the {call} call" for name, call in run.changed.items())
        return Check(number, INPUTS, WRONG, f"changed in place: {where}", "input changed in place",
                     SAYS_INPUTS.format(names=", ".join(run.changed)))  # fmt: skip
    if run.error is not None:
        return _error_check(number, INPUTS, run.error)
    return Check(number, INPUTS, PASSED)


def _interleaved_check(spec: OpSpec, case: dict[str, Any], run: runner.CaseRun, pair: runner.TwinRun | None,
                       number: int, missing: str) -> Check:  # fmt: skip
    """Passed when case A's results, with its twin B's calls in between, equal A's alone (right or
    wrong: this check is about the calls' independence; B is another case, which A's checks do
    not vouch for)."""
    if pair is None:
        return Check(number, INTERLEAVED, missing)
    if pair.error is not None:
        return _error_check(number, INTERLEAVED, pair.error)
    for key in spec.results:
        atol = spec.tolerance(case, key)
        if key not in run.results:
            continue
        got = pair.a.get(key)
        if got is None or not close(got, run.results[key], atol):
            why = difference(key, got, run.results[key], atol) if got is not None else "not returned"
            detail = f"{key} of the first use, with a second use in between, differs from the call alone: {why}"
            return Check(number, INTERLEAVED, WRONG, detail, "cache overwritten by a later call", SAYS_SHARED)
    return Check(number, INTERLEAVED, PASSED)


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
        elif error is not None and error.get("stage", 0) <= stage:
            checks.append(_error_check(number, key, error))
        else:
            checks.append(Check(number, key, WRONG, f"{key} was not returned"))
    return checks


def _scan(path: Path) -> tuple[set[str], set[str]]:
    """The top-level packages a file imports, and its string constants."""
    try:
        with _AST_LOCK:  # CPython 3.11's parser is not safe in two threads at once (cpython#106905)
            tree = ast.parse(path.read_text(errors="replace"))
    except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
        return set(), set()
    names, strings = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    return names, strings


def notes_of(files: list[Path], imported: list[str], classmates: set[str]) -> list[str]:
    """The report's notes on what a submission borrows: a library with gradients, the grader's own
    code (even imported by a computed name: the modules it loaded are listed by its process), a
    classmate's file (imported, or named in a string, as ``exec(open(...))`` would)."""
    static, strings = set(), set()
    for f in files:
        names, consts = _scan(f)
        static |= names
        strings |= consts
    loaded = {m.split(".")[0] for m in imported} | static
    notes = []
    if any(m == "scratchnet.check" or m.startswith("scratchnet.check.") for m in imported):
        notes.append("the submission imports the grader's own code (scratchnet.check): it may compute the "
                     "expected results instead of its own")  # fmt: skip
    borrowed = loaded & {"scratchnet", "torch", "tensorflow", "jax"}
    if borrowed:
        notes.append(f"the submission imports {', '.join(sorted(borrowed))}")
    named = {c for c in classmates if c in loaded or any(c in text for text in strings)}
    if named:
        notes.append(f"the submission refers to a classmate's file: {', '.join(sorted(named))}")
    return notes


@dataclasses.dataclass
class Drawn:
    """An op's cases under a course's policy, with the expected results (computing them draws
    each case's upstream gradient: done before the cases are sent) and the interleaved twins."""

    spec: OpSpec
    course: Course
    cases: list[dict[str, Any]]
    expected: list[dict[str, np.ndarray] | None]
    twins: list[dict[str, Any]]

    @classmethod
    def of(cls, op: str, course: Course) -> Drawn:
        spec = course.spec(op)
        cases = course.draw(spec)
        expected = [None if spec.observe else spec.expected(c) for c in cases]
        return cls(spec, course, cases, expected, make_twins(spec, cases))


def make_report(drawn: Drawn, outcome: runner.Outcome, name: str) -> Report:
    """Judge ``outcome`` and weigh and hide its checks by the course's policy."""
    spec, course = drawn.spec, drawn.course
    report = judge(spec, drawn.cases, list(drawn.expected), outcome, name, drawn.twins)
    report.seed = course.seed
    for c in report.checks:
        c.weight, c.hidden = course.weight(spec.name, c.case, c.name), course.is_hidden(spec.name, c.case)
    return report


def check_op(op: str, submission: str | Path | None = None, *, forward: Callable | str | None = None,
             backward: Callable | str | None = None, layer: type | str | None = None, style: str | None = None,
             time_limit: float = 30.0, memory_limit_mb: int = 1024, seed: int | None = None,
             course: Course | None = None, sandbox: bool | str | None = None, entry: str | None = None,
             classmates: set[str] | frozenset[str] = frozenset(), verbose: bool = True) -> Report:  # fmt: skip
    """Check a student's implementation of ``op`` (``scratchnet check --list``) and return its
    :class:`~scratchnet.check.report.Report` (printed when ``verbose``).

    - ``check_op("conv2d", "my_conv.py")``: the file (or a student's folder, its ``entry`` file
      found as in :func:`scratchnet.check.submission.find_entry`; a notebook's code cells) runs in the
      sandbox (``sandbox=None``: where it works here; ``True``: required; ``False``: not, and the
      report says so; ``"container"``: not, the caller being a container of its own) under the
      time and memory limits; its functions are found by the courses' usual names
      (``conv_forward_naive``, ``conv_backward_naive``) unless ``forward=``/``backward=`` name them,
      or its class by scratchnet's name (``Conv2D``) or ``layer=``; ``style`` forces a convention.
    - ``check_op("conv2d", forward=my_forward, backward=my_backward)`` or ``layer=MyConv2D``:
      functions or a class of the calling process (a notebook's), run there without limits.
    - ``seed`` draws other inputs; ``course`` is the teacher's policy (:mod:`scratchnet.check.policy`).
    """
    course = course or Course()
    if seed is not None:
        course = dataclasses.replace(course, seed=seed)
    drawn = Drawn.of(op, course)
    if submission is None:
        how = drawn.spec.convention or drawn.spec.name
        outcome = runner.run_callables(how, drawn.cases, drawn.twins, forward=forward, backward=backward,
                                       layer=layer)  # type: ignore[arg-type]  # fmt: skip
        report = make_report(drawn, outcome, "this process's " + ("class" if layer else "functions"))
    else:
        report = _check_path(drawn, Path(submission), style, time_limit, memory_limit_mb, sandbox, entry,
                             classmates, names=(_name(forward), _name(backward), _name(layer)))  # fmt: skip
    if verbose:
        print(report.text(), end="")
    return report


def _check_path(drawn: Drawn, path: Path, style: str | None, time_limit: float, memory_limit_mb: int,
                sandbox: bool | str | None, entry: str | None,
                classmates: set[str] | frozenset[str], names: tuple) -> Report:  # fmt: skip
    if path.is_symlink() or not path.exists():
        link = " (a symbolic link: refused)" if path.is_symlink() else ""
        raise FileNotFoundError(f"scratchnet check: no file {path}{link}")
    entry = entry or find_entry(path)
    problem = runner.box.works() if sandbox in (None, True) else None
    if sandbox is True and problem:
        raise runner.box.Unavailable(problem)
    use_box = sandbox is True or (sandbox is None and problem is None)
    limits = runner.box.Limits(seconds=time_limit, memory_mb=memory_limit_mb)
    forward, backward, layer = names
    spec = drawn.spec
    if spec.convention:  # a course's own op: looked for by its own names
        forward, backward = forward or spec.forward, backward or spec.backward
    outcome = runner.run_file(spec.name, path, drawn.cases, drawn.twins, entry=entry, limits=limits,
                              sandbox=use_box, forward=forward, backward=backward, layer=layer,
                              layer_default=spec.layer, style=style, convention=spec.convention)  # fmt: skip
    report = make_report(drawn, outcome, path.name)
    files = [path / entry] if path.is_dir() else [path]
    report.notes += notes_of([f for f in files if f.suffix == ".py"], outcome.imported, set(classmates))
    if sandbox == "container":
        report.notes.append("isolated by its own container (no sandbox of the grader's)")
    elif not use_box:
        report.warnings.append(runner.box.UNSAFE)
    return report


def _name(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("with a submission file, forward=, backward= and layer= are names (strings)")
