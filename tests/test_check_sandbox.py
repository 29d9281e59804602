"""The grader against a hostile class: each attack a clever student can hand in, planted among
honest classmates and graded as a teacher would (``grade_class``, two at a time, in the sandbox).

Every test ends with: each honest classmate graded with full marks, every report as the grader
wrote it, no process of the attacker left, nothing outside the run's folder changed (the class's
files, the installed grader, the host's temporary folder). The sandbox is bubblewrap's: where it
cannot run, these tests are skipped with the reason (CI installs it, so they run there).
"""

from __future__ import annotations

import hashlib
import json
import resource
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sandbox_needed import needs_sandbox

import scratchnet.check
from scratchnet.check import check_op, grade_class
from scratchnet.check import sandbox as box
from scratchnet.check.grade import make_cases, spec_of

HERE = Path(__file__).parent / "check_submissions"
LOOPS = (HERE / "loops.py").read_text()
GRADER = Path(scratchnet.check.__file__).parent
pytestmark = needs_sandbox
OP = "dense"  # a quick op: its loops run in milliseconds
HONEST = ("alice", "bob", "carol")


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def _marker_processes(marker: str) -> list[int]:
    """The processes whose command line holds ``marker`` (an attacker's, left behind)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                continue
    return found


def _temp_checks(host_tmp: Path) -> set[str]:
    return {p.name for p in host_tmp.glob("scratchnet-check-*")}


def grade_among_honest(tmp_path: Path, attacker: str, *, name: str = "mallory", **kwargs) -> dict:
    """Grade ``attacker`` (a file's text, with ``{folder}``, ``{out}``, ``{grader}`` filled in)
    among three honest classmates; checks what every attack must leave intact; returns the
    reports by name and the run."""
    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    for student in HONEST:
        (folder / f"{student}.py").write_text(LOOPS)
    host_tmp = tmp_path / "host-tmp"  # the grader's temporary folders: this test's own, not the machine's
    host_tmp.mkdir()
    text = attacker.replace("{folder}", str(folder)).replace("{out}", str(out)).replace("{grader}", str(GRADER))
    (folder / f"{name}.py").write_text(text.replace("{tmp}", str(host_tmp)))
    watched = [*folder.iterdir(), *GRADER.glob("*.py")]
    before, temps = _hashes(watched), _temp_checks(host_tmp)
    saved, tempfile.tempdir = tempfile.tempdir, str(host_tmp)
    try:
        run = grade_class(kwargs.pop("op", OP), folder, out, jobs=2, sandbox=True, **kwargs)
    finally:
        tempfile.tempdir = saved
    reports = {r.submission: r for r in run.reports}
    for student in HONEST:  # every classmate graded correctly
        assert reports[student].passed, reports[student].text()
    assert _hashes(watched) == before  # the class's files and the installed grader untouched
    assert _temp_checks(host_tmp) <= temps  # no temporary folder left behind
    assert _marker_processes("MALLORY-MARK") == []  # nothing of the attacker still running
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    saved = json.loads((out / "results.json").read_text())["submissions"]
    assert {s["submission"]: s["score"] for s in saved} == {n: r.score for n, r in reports.items()}
    return {"reports": reports, "run": run, "written": written, "out": out, "folder": folder}


def _reports_unchanged(result: dict) -> None:
    assert {p: p.read_bytes() for p in result["out"].rglob("*") if p.is_file()} == result["written"]


ATTACKS = {
    # its own folder, a classmate's file (by the class's real path and by a relative one)
    "classmate's file overwritten": """
import os
for path in ["{folder}/alice.py", "../alice.py", "alice.py", "/job/submission/mallory.py"]:
    try:
        open(path, "w").write("def affine_forward(*a):\\n    return 0, 0\\n")
    except OSError:
        pass
""",
    # every case file it can find: the host's temporary folders, its own job
    "case files replaced": """
import glob, tempfile
for path in glob.glob("{tmp}/scratchnet-check-*/**/*.npz", recursive=True) + glob.glob("/job/*"):
    try:
        open(path, "wb").write(b"garbage")
    except OSError:
        pass
""",
    # the installed grader, where it is on the host and where the sandbox shows it
    "installed package patched": """
import glob
for path in glob.glob("{grader}/*.py") + glob.glob("/grader/scratchnet_worker/*.py"):
    try:
        open(path, "a").write("\\nraise SystemExit('patched')\\n")
    except OSError:
        pass
""",
    # the grader's command line read from /proc, a process left to edit the reports after it exits
    "reports rewritten after exit": """
import os, subprocess, sys
try:
    print(open(f"/proc/{os.getppid()}/cmdline").read())
except OSError:
    pass
code = '''if True:
    import glob, os, time
    while True:
        for p in glob.glob('{out}/**', recursive=True):
            try:
                if os.path.isfile(p):
                    open(p, 'w').write('24/24')
            except OSError:
                pass
        time.sleep(0.01)
'''
subprocess.Popen([sys.executable, "-c", code, "MALLORY-MARK"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
    "the parent signalled": """
import os, signal
for pid in (os.getppid(), 1, -1):
    try:
        os.kill(pid, signal.SIGTERM)
    except (OSError, ProcessLookupError):
        pass
""",
    # garbage into the results pipe: frames of its own, a huge size, then an exit
    "results corrupted": """
import os, sys
fd = int(sys.argv[-1])
os.write(fd, b'{"kind": "case", "case": 0, "size": 99999999999}\\n')
os.write(fd, b'{not json\\n' * 100)
""",
    "1.5 GB printed": """
import sys
chunk = "x" * (1 << 20)
for _ in range(1536):
    sys.stdout.write(chunk)
""",
    "background process": """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)", "MALLORY-MARK"],
                 start_new_session=True)
os_fork = __import__("os").fork()
if os_fork == 0:
    __import__("os").setsid()
    __import__("time").sleep(3600)
""",
    "lifted rlimit": """
import resource
import numpy as np
for which in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC):
    try:
        resource.setrlimit(which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
HOARD = np.ones(3 * 2**30 // 8)  # 3 GB
""",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_harms_no_one_else(tmp_path, attack):
    result = grade_among_honest(tmp_path, ATTACKS[attack] + "\n" + LOOPS, time_limit=20, memory_limit_mb=1024)
    mallory = result["reports"]["mallory"]
    _reports_unchanged(result)
    if attack == "1.5 GB printed":
        assert len(mallory.output) <= box.Limits().output_bytes and mallory.passed
    if attack == "lifted rlimit":
        assert mallory.verdict == "stopped: memory limit"
    if attack == "results corrupted":
        assert mallory.verdict == "crashed" and "could not be read" in mallory.text()
    if attack == "reports rewritten after exit":
        # its parent is the sandbox's own first process: the grader's command line is not in sight
        assert str(result["out"]) not in mallory.output and "-m\x00pytest" not in mallory.output


def test_a_huge_print_is_not_held_by_the_grader(tmp_path):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grade_among_honest(tmp_path, ATTACKS["1.5 GB printed"] + LOOPS)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mb < 300  # the print was 1,536 MB


def test_a_symlink_planted_among_the_reports_is_replaced_not_followed(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name\nalice\nbob\ncarol\nmallory\n")
    first = grade_among_honest(tmp_path, LOOPS)
    out = first["out"]
    (out / "reports" / "bob.txt").unlink()
    (out / "reports" / "bob.txt").symlink_to(roster)
    (out / "results.csv").unlink()
    (out / "results.csv").symlink_to(roster)
    run = grade_class(OP, first["folder"], out, jobs=2, sandbox=True)  # resumed: the same class
    assert sorted(run.resumed) == sorted([*HONEST, "mallory"])
    assert roster.read_text() == "name\nalice\nbob\ncarol\nmallory\n"
    for p in (out / "reports" / "bob.txt", out / "results.csv"):
        assert not p.is_symlink() and p.is_file()
    assert "scratchnet check dense: bob" in (out / "reports" / "bob.txt").read_text()


def test_the_run_folder_must_be_new_or_the_graders_own(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(LOOPS)
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "roster.csv").write_text("alice\n")
    with pytest.raises(ValueError, match="not a scratchnet check run"):
        grade_class(OP, folder, teacher, sandbox=True)
    link = tmp_path / "link"
    link.symlink_to(teacher)
    with pytest.raises(ValueError, match="symbolic link"):
        grade_class(OP, folder, link, sandbox=True)
    assert sorted(p.name for p in teacher.iterdir()) == ["roster.csv"]


def test_a_symlinked_submission_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text(LOOPS)  # correct code: if it were read, the link would pass
    result = grade_among_honest(tmp_path, LOOPS, name="placeholder")
    folder = result["folder"]
    (folder / "eve.py").symlink_to(secret)
    run = grade_class(OP, folder, tmp_path / "again", sandbox=True)
    eve = {r.submission: r for r in run.reports}["eve"]
    assert eve.verdict == "not found" and "symbolic link" in eve.problem and eve.score == 0


def _expected_arrays(seed: int) -> dict[str, np.ndarray]:
    spec = spec_of(OP)
    expected = make_cases(spec, seed)[1]
    return {f"{k}.{key}": v for k, e in enumerate(expected) for key, v in e.items()}


HARD_CODED = """
import numpy as np
ANSWERS = np.load("answers.npz")
CALLS = {"n": 0}

def affine_forward(x, w, b):
    k = CALLS["n"] % 4
    CALLS["n"] += 1
    return ANSWERS[f"{k}.out"], k

def affine_backward(dout, k):
    return ANSWERS[f"{k}.dx"], ANSWERS[f"{k}.dw"], ANSWERS[f"{k}.db"]
"""


def test_hard_coded_answers_fail_with_another_seed(tmp_path):
    student = tmp_path / "class" / "mallory"
    student.mkdir(parents=True)
    (student / "submission.py").write_text(HARD_CODED)
    np.savez(student / "answers.npz", **_expected_arrays(0))
    same = check_op(OP, student, sandbox=True, verbose=False)
    other = check_op(OP, student, sandbox=True, seed=7, verbose=False)
    results = spec_of(OP).results
    assert all(c.passed for c in same.checks if c.name in results)  # seed 0's answers pass seed 0's cases
    assert not any(c.passed for c in other.checks if c.name in results) and other.seed == 7


def test_a_backward_that_writes_into_the_callers_array_fails(tmp_path):
    path = tmp_path / "flip.py"
    flip = "    db = dout.sum(axis=0)  # affine-db\n"
    path.write_text(
        LOOPS.replace(flip, flip + "    w[:] = w[::-1].copy()  # the caller's w, flipped in place\n")
    )
    report = check_op(OP, path, sandbox=True, verbose=False)
    assert all(c.passed for c in report.checks if c.name in spec_of(OP).results)  # right results
    inputs = [c for c in report.checks if c.name == "inputs"]
    assert inputs and all(c.verdict == "wrong" and c.mistake == "input changed in place" for c in inputs)
    assert "backward" in inputs[0].detail and "w" in inputs[0].detail


ALIASED = """
import numpy as np
_BUFFER = {}

def affine_forward(x, w, b):
    flat = x.reshape(len(x), -1)
    buf = _BUFFER.setdefault(flat.shape, np.empty(flat.shape))
    buf[...] = flat  # the cache keeps a view of a buffer that the next call overwrites
    return flat @ w + b, (buf, w, x.shape)

def affine_backward(dout, cache):
    flat, w, shape = cache
    return (dout @ w.T).reshape(shape), flat.T @ dout, dout.sum(axis=0)
"""


def test_a_cache_that_a_later_call_overwrites_fails(tmp_path):
    path = tmp_path / "aliased.py"
    path.write_text(ALIASED)
    report = check_op(OP, path, sandbox=True, verbose=False)
    plain = [c for c in report.checks if c.name in spec_of(OP).results]
    assert all(c.passed for c in plain)  # one call at a time, every result is right
    shared = [c for c in report.checks if c.name == "interleaved"]
    assert shared and all(c.mistake == "cache overwritten by a later call" for c in shared)
    assert "dw" in shared[0].detail


def test_borrowing_is_noted(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(LOOPS)
    dynamic = 'import importlib\nops = importlib.import_module("scratch" + "net.check.ops")\n'
    (folder / "grader_user.py").write_text(dynamic + LOOPS)
    (folder / "copier.py").write_text("from alice import *\n")
    (folder / "execer.py").write_text("exec(open('alice.py').read())\n")
    run = grade_class(OP, folder, tmp_path / "out", sandbox=True)
    by = {r.submission: r for r in run.reports}
    assert any("grader's own code" in n for n in by["grader_user"].notes)
    assert any("classmate's file: alice" in n for n in by["copier"].notes)
    assert any("classmate's file: alice" in n for n in by["execer"].notes)
    assert by["copier"].score == 0 and by["execer"].score == 0  # the classmate's file is not in sight
    assert by["alice"].notes == []
