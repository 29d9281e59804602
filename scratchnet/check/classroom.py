"""Grading a class: a folder of submissions, each in its own sandbox, results written as each one
finishes (an interrupted run resumes), and the class's reports at the end.

    scratchnet check conv2d submissions/ --out grades/ --jobs 2 --roster roster.csv

A submission is a ``.py`` file, a notebook (``.ipynb``: its code cells) or a folder of the
student's (its entry file found by :func:`scratchnet.check.submission.find_entry`), named by its file
or folder name without the extension. The run's folder (``--out``) is the grader's: it must be new,
or one of its own runs (then the submissions already graded with the same settings and the same
files are kept). It receives, each file written atomically and no symbolic link ever followed:

- ``progress/NAME.json``: each report as the submission finishes;
- ``results.json`` (every report), ``results.csv`` (a row per student), ``reports/NAME.txt`` (the
  readable report of each, a fresh folder each run), ``summary.txt`` and ``histogram.png`` (the
  score distribution and how often each named mistake was made), and with ``--format gradescope``
  ``gradescope.json`` (each submission's ``results.json``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sandbox as box
from .grade import check_op
from .report import NOT_FOUND, Check, Report, points

MARKER = ".scratchnet-check.json"
NO_SUBMISSION, GRADER_ERROR = "no submission", "grader error"


@dataclass
class ClassRun:
    """A class's reports (roster order, then the others), what was resumed, and the files written."""

    reports: list[Report]
    resumed: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def discover(folder: Path) -> dict[str, Path]:
    """The submissions of ``folder`` by name: its ``.py`` and ``.ipynb`` files and its folders
    (hidden names and ``__pycache__`` left out; a symbolic link is listed, and refused later)."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith((".", "__")) or not (p.is_dir() or p.suffix in (".py", ".ipynb")):
            continue
        name = p.stem if p.suffix in (".py", ".ipynb") else p.name
        found[name if name not in found else p.name] = p
    if not found:
        raise FileNotFoundError(f"scratchnet check: no submission (.py, .ipynb or a folder) in {folder}")
    return found


def read_roster(path: Path) -> list[str]:
    """The students' names: the roster CSV's first column (a header row is skipped when its first
    cell is ``name``, ``id``, ``student`` or ``email``)."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and r[0].strip()]
    if rows and rows[0][0].strip().lower() in ("name", "id", "student", "email", "sid"):
        rows = rows[1:]
    return [r[0].strip() for r in rows]


def digest(path: Path) -> str:
    """A fingerprint of a submission's files (a resumed run grades again what changed)."""
    h = hashlib.sha256()
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    )
    for f in files:
        h.update(str(f.relative_to(path.parent)).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read(64 << 20)).digest())
    return h.hexdigest()


# --- the run's folder: the grader's own, written atomically ------------------------------------------
def open_run_folder(out: Path, settings: dict[str, Any]) -> bool:
    """Make ``out`` the run's folder; returns whether an earlier run with the same settings can
    be resumed. Refuses a symbolic link, and a folder that is neither empty nor one of its own."""
    if out.is_symlink():
        raise ValueError(f"scratchnet check: {out} is a symbolic link; give a real folder for the reports")
    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    if marker.is_file() and not marker.is_symlink():
        same = json.loads(marker.read_text()) == settings
        if not same:
            shutil.rmtree(out / "progress", ignore_errors=True)
            write_atomic(marker, json.dumps(settings))
        return same
    if any(out.iterdir()):
        raise ValueError(f"scratchnet check: {out} already holds files that are not a scratchnet check run; "
                         "give a new folder")  # fmt: skip
    write_atomic(marker, json.dumps(settings))
    return False


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``path`` whole or not at all: a new file beside it (never an existing one, never
    through a link), then renamed over ``path`` (a link planted there is replaced, not followed)."""
    if path.parent.is_symlink():
        raise ValueError(f"scratchnet check: {path.parent} is a symbolic link")
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fresh_folder(out: Path, name: str, files: dict[str, str]) -> list[Path]:
    """``out/name`` made anew: written beside, then swapped in (the old one removed without
    following any link in it)."""
    new = Path(tempfile.mkdtemp(dir=out, prefix=f".{name}."))
    for fname, text in files.items():
        write_atomic(new / fname, text)
    new.chmod(0o755)
    target = out / name
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        old = Path(tempfile.mkdtemp(dir=out, prefix=f".{name}-old."))
        os.replace(target, old / name)
        shutil.rmtree(old)
    os.replace(new, target)
    return [target / f for f in files]


# --- grading ---------------------------------------------------------------------------------------
def grade_class(op: str, folder: str | Path, out: str | Path, *, jobs: int = 1,
                roster: str | Path | None = None,
                gradescope: dict[str, str] | None = None, on_report: Callable[[Report], None] | None = None,
                **check: Any) -> ClassRun:  # fmt: skip
    """Grade every submission of ``folder`` into the run's folder ``out`` (see the module's text);
    ``check`` is passed on to :func:`scratchnet.check.check_op` (``sandbox``, ``course``, ...).
    ``on_report`` is called as each submission finishes."""
    folder, out = Path(folder), Path(out)
    subs = discover(folder)
    course = check.get("course")
    seed = check.get("seed") if check.get("seed") is not None else getattr(course, "seed", 0)
    settings = {"op": op, "seed": seed,
                "course": repr(course), "limits": [check.get("time_limit"), check.get("memory_limit_mb")],
                "names": [check.get(k) for k in ("forward", "backward", "layer", "style", "entry")],
                "sandbox": check.get("sandbox")}  # fmt: skip
    if check.get("sandbox") is True and box.works():
        raise box.Unavailable(box.works())
    resumable = open_run_folder(out, settings)
    (out / "progress").mkdir(exist_ok=True)
    run, lock = ClassRun([]), threading.Lock()
    done: dict[str, Report] = {}

    def one(name: str) -> None:
        path = subs[name]
        stamp = digest(path) if not path.is_symlink() else "link"
        saved = out / "progress" / f"{name}.json"
        if resumable and saved.is_file() and not saved.is_symlink():
            data = json.loads(saved.read_text())
            if data.get("digest") == stamp:
                report = Report.from_json(data["report"])
                with lock:
                    done[name] = report
                    run.resumed.append(name)
                return
        report = _grade_one(op, name, path, set(subs) - {name}, check)
        write_atomic(saved, json.dumps({"digest": stamp, "report": report.to_json()}))
        with lock:
            done[name] = report
            if on_report is not None:
                on_report(report)

    pool = ThreadPoolExecutor(max(1, jobs))
    try:  # Ctrl-C (or any error) stops the run: what is finished is saved, nothing more is started
        for future in [pool.submit(one, name) for name in subs]:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    run.reports = _with_roster(done, read_roster(Path(roster)) if roster else None)
    run.written = write_class(run.reports, out, gradescope)
    return run


def _grade_one(op: str, name: str, path: Path, classmates: set[str], check: dict[str, Any]) -> Report:
    """One submission's report; a fault of the grader's own becomes the verdict ``grader error``
    for that submission alone (with the reason), never the end of the run."""
    try:
        if path.is_symlink():
            raise FileNotFoundError(
                f"{path.name} is a symbolic link: refused (a submission is a file or a folder)"
            )
        report = check_op(op, path, classmates=classmates, verbose=False, **check)
    except (FileNotFoundError, ValueError) as exc:  # the submission's own layout: its verdict
        report = Report(op, name, problem=str(exc), checks=[Check(0, "all", NOT_FOUND, str(exc))])
    except Exception as exc:  # the grader's own fault: this submission is not graded, the others are
        report = Report(op, name, problem=f"not graded: {type(exc).__name__}: {exc}",
                        checks=[Check(0, "all", GRADER_ERROR, str(exc))])  # fmt: skip
    report.submission = name
    return report


def _with_roster(done: dict[str, Report], roster: list[str] | None) -> list[Report]:
    """The reports in roster order: a student with nothing handed in gets ``no submission`` on the
    same checks as the others (zero points); one not on the roster gets a note."""
    names = sorted(done)
    if roster is None:
        return [done[n] for n in names]
    model = next((r for r in done.values() if r.checks and r.checks[0].case), None)
    reports = []
    for student in roster:
        if student in done:
            reports.append(done[student])
            continue
        checks = [Check(c.case, c.name, NO_SUBMISSION, weight=c.weight, hidden=c.hidden)
                  for c in model.checks] \
            if model else [Check(0, "all", NO_SUBMISSION)]  # fmt: skip
        reports.append(Report(model.op if model else "", student, cases=list(model.cases) if model else [],
                              problem="nothing handed in", checks=checks))  # fmt: skip
    for n in names:
        if n not in roster:
            done[n].notes.append("not on the roster")
            reports.append(done[n])
    return reports


# --- the class's files ------------------------------------------------------------------------------
def summary(reports: list[Report]) -> str:
    """The class at a glance: counts, the score histogram (ten bins of the maximum), and how many
    students made each named mistake."""
    scored = [r for r in reports if r.max_score]
    top = max((r.max_score for r in scored), default=0)
    lines = [f"{len(reports)} students: {sum(r.passed for r in reports)} passed every check, "
             f"{sum(r.verdict == NO_SUBMISSION for r in reports)} handed in nothing, "
             f"{sum(r.verdict == GRADER_ERROR for r in reports)} not graded (grader error)", "",
             f"scores (of {points(top)}):"]  # fmt: skip
    bins = Counter(min(9, int(10 * r.score / top)) if top else 0 for r in scored)
    for b in range(10):
        lo, hi = top * b / 10, top * (b + 1) / 10
        lines.append(f"  {points(round(lo, 2)):>6} - {points(round(hi, 2)):<6} {'#' * bins[b]} {bins[b] or ''}")
    mistakes = Counter(m for r in reports for m in r.mistakes())
    lines += ["", "named mistakes (students who made each):"]
    lines += [f"  {n:>3}  {m}" for m, n in mistakes.most_common()] or ["  none"]
    verdicts = Counter(r.verdict for r in reports)
    lines += ["", "verdicts:"] + [f"  {n:>3}  {v}" for v, n in verdicts.most_common()]
    return "\n".join(lines) + "\n"


def histogram_png(reports: list[Report]) -> bytes:
    """The score histogram as a PNG (matplotlib's object interface: no global state touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    top = max((r.max_score for r in reports), default=1) or 1
    ax.hist([r.score for r in reports], bins=10, range=(0, top), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"score (of {points(top)})")
    ax.set_ylabel("students")
    ax.set_title(f"{reports[0].op if reports else ''}: {len(reports)} students")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def write_class(reports: list[Report], out: Path, gradescope: dict[str, str] | None = None) -> list[Path]:
    """The class's files into the run's folder (see the module's text)."""
    written = [
        write_atomic(
            out / "results.json",
            json.dumps(
                {"op": reports[0].op if reports else "", "submissions": [r.to_json() for r in reports]},
                indent=1,
            )
            + "\n",
        )
    ]
    rows = [r.csv_row() for r in reports]
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written.append(write_atomic(out / "results.csv", buf.getvalue()))
    written += _fresh_folder(out, "reports", {f"{r.submission}.txt": r.text() for r in reports})
    written.append(write_atomic(out / "summary.txt", summary(reports)))
    written.append(write_atomic(out / "histogram.png", histogram_png(reports)))
    if gradescope is not None:
        data = {r.submission: r.gradescope(**gradescope) for r in reports}
        written.append(write_atomic(out / "gradescope.json", json.dumps(data, indent=1) + "\n"))
    return written


def write_report(
    report: Report, path: Path, fmt: str = "json", gradescope: dict[str, str] | None = None
) -> Path:
    """One submission's report (a student's file, or Gradescope's ``results.json``), atomically."""
    if path.is_symlink():
        raise ValueError(f"scratchnet check: {path} is a symbolic link; refused")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = report.gradescope(**(gradescope or {})) if fmt == "gradescope" else report.to_json()
    return write_atomic(path, json.dumps(data, indent=1) + "\n")


# --- Gradescope's autograder ------------------------------------------------------------------------
def autograder_zip(op: str, path: str | Path, *, course: str | Path | None = None, seed: int | None = None,
                   visibility: str = "visible",
                   hidden_visibility: str = "after_published") -> Path:  # fmt: skip
    """The zip Gradescope's programming assignments take: ``setup.sh`` (installs this scratchnet
    version), ``run_autograder`` (checks ``/autograder/submission`` and writes
    ``/autograder/results/results.json``) and the course's file, if any. Each submission runs in
    a container of Gradescope's own, which is its sandbox (``--in-container``)."""
    from .._version import __version__

    extra = (f" --course /autograder/source/{Path(course).name}" if course else "") + (
        f" --seed {seed}" if seed is not None else "")  # fmt: skip
    setup = ("#!/usr/bin/env bash\nset -euo pipefail\napt-get install -y python3 python3-pip >/dev/null\n"
             f"pip3 install 'scratchnet=={__version__}'\n")  # fmt: skip
    run = ("#!/usr/bin/env bash\n# Gradescope runs this in the submission's own container.\n"
           f"scratchnet check {op} /autograder/submission --in-container --format gradescope "
           f"--visibility {visibility} --hidden-visibility {hidden_visibility}{extra} "
           "--report /autograder/results/results.json || true\n")  # fmt: skip
    path = Path(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", setup), ("run_autograder", run)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
        if course:
            z.write(course, Path(course).name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, buf.getvalue())
