"""The checker's class tooling and a course's policy: notebooks and folders as submissions, a
roster, the summary, a run that resumes, a missing function, the seed, hidden cases, weights, a
filter, a teacher's own cases and op, Gradescope's settings and autograder zip.

These run in the sandbox where it works here and without it elsewhere (``sandbox=None``); what the
sandbox itself must withstand is ``tests/test_check_sandbox.py``.
"""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scratchnet.check import Course, check_op, grade_class
from scratchnet.check.classroom import autograder_zip, read_roster
from scratchnet.check.grade import spec_of
from scratchnet.cli import main

HERE = Path(__file__).parent / "check_submissions"
LOOPS = (HERE / "loops.py").read_text()
RESULTS = set(spec_of("dense").results)


def _notebook(code_cells: list[str]) -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# my answers\n"]}]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": c}
              for c in code_cells]  # fmt: skip
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_class_of_files_notebooks_and_folders_with_a_roster(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(LOOPS)
    (folder / "bob.ipynb").write_text(_notebook(["%matplotlib inline\n!pip install nothing\nimport numpy as np",
                                                 LOOPS]))  # fmt: skip
    (folder / "carol").mkdir()
    (folder / "carol" / "helpers.py").write_text(LOOPS)
    (folder / "carol" / "submission.py").write_text("from helpers import affine_forward, affine_backward\n")
    (folder / "dan.py").write_text(LOOPS.replace("db = dout.sum(axis=0)  # affine-db", "db = dout[0]"))
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nalice,a@x\nbob,b@x\ncarol,c@x\ndan,d@x\nerin,e@x\n")
    assert read_roster(roster) == ["alice", "bob", "carol", "dan", "erin"]
    run = grade_class("dense", folder, tmp_path / "out", roster=roster)
    by = {r.submission: r for r in run.reports}
    assert [r.submission for r in run.reports] == ["alice", "bob", "carol", "dan", "erin"]
    assert by["alice"].passed and by["bob"].passed and by["carol"].passed, by["carol"].text()
    assert by["dan"].mistakes() == ["db not summed over the batch"]
    assert by["erin"].verdict == "no submission" and by["erin"].max_score == by["alice"].max_score > 0
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "5 students: 3 passed every check, 1 handed in nothing" in summary
    assert "    1  db not summed over the batch" in summary
    assert (tmp_path / "out" / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_interrupted_run_resumes_with_what_was_done(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        (folder / f"{name}.py").write_text(LOOPS)
    out = tmp_path / "out"
    finished = []

    def stop_after_two(report):
        finished.append(report.submission)
        if len(finished) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grade_class("relu", folder, out, on_report=stop_after_two)
    assert sorted(p.stem for p in (out / "progress").glob("*.json")) == sorted(finished)
    (folder / finished[0]).with_suffix(".py").write_text(LOOPS + "\n# changed after the first run\n")
    run = grade_class("relu", folder, out)
    # the run stopped before the end (a submission already started may finish: it is saved too); the
    # changed file is graded again, the others kept
    assert len(finished) < 4 and sorted(run.resumed) == sorted(finished[1:])
    assert all(r.passed for r in run.reports) and len(run.reports) == 4


def test_a_missing_backward_is_not_found_and_the_forward_still_graded(tmp_path):
    path = tmp_path / "half.py"
    path.write_text(LOOPS.replace("def affine_backward(", "def afine_backward("))
    report = check_op("dense", path, verbose=False)
    verdicts = {c.name: c.verdict for c in report.checks if c.case == 1}
    assert verdicts["out"] == "passed" and verdicts["dx"] == verdicts["dw"] == "not found"
    assert "no backward function named affine_backward" in report.text()


def test_a_filter_lets_the_courses_own_assertion_pass(tmp_path):
    head = "def conv_forward_naive(x, w, b, conv_param):\n"
    check = "    assert (x.shape[{a}] + 2 * conv_param['pad'] - w.shape[{a}]) % conv_param['stride'] == 0\n"
    asserts = check.format(a=2) + check.format(a=3)  # CS231n's own check
    strict = LOOPS.replace(head, head + asserts)
    path = tmp_path / "cs231n.py"
    path.write_text(strict)
    assert not check_op("conv2d", path, verbose=False).passed  # a stride that does not divide: crashed
    course = tmp_path / "course.py"
    course.write_text(
        "def keep(op, case):\n    if op != 'conv2d':\n        return True\n"
        "    (H, W), (HH, WW) = case['x'].shape[2:], case['w'].shape[2:]\n"
        "    return all((n + 2 * case['pad'] - k) % case['stride'] == 0 for n, k in ((H, HH), (W, WW)))\n"
    )
    report = check_op("conv2d", path, course=Course.load(course), verbose=False)
    assert report.passed and 0 < len(report.cases) < 6


def test_hidden_cases_count_but_are_not_shown_and_weights_weigh(tmp_path):
    path = tmp_path / "dan.py"
    path.write_text(LOOPS.replace("db = dout.sum(axis=0)  # affine-db", "db = dout[0]"))
    course = tmp_path / "course.py"
    course.write_text("HIDDEN = {'dense': [2, 3]}\nWEIGHTS = {'db': 3, 'interleaved': 0.5}\n"
                      "CASE_WEIGHTS = {'dense': {1: 2}}\n")  # fmt: skip
    report = check_op("dense", path, course=Course.load(course), verbose=False)
    # per case: out, dx, dw 1 each, db 3, inputs 1, interleaved 0.5 = 7.5; case 1 counts twice
    assert report.max_score == 7.5 * 5
    wrong_db = [c.case for c in report.checks if c.name == "db" and not c.passed]  # the 3 cases with N > 1
    assert report.score == report.max_score - sum(3 * (2 if k == 1 else 1) for k in wrong_db)
    text = report.text()
    assert " case 2: hidden" in text and " case 3: hidden" in text and spec_of("dense").name in text
    hidden_lines = [ln for ln in text.splitlines() if ln.startswith("  case 2 ")]
    assert hidden_lines and not any(":" in ln.split("  ")[-1] for ln in hidden_lines)  # no mistake shown
    data = report.gradescope(visibility="after_due_date", hidden_visibility="hidden")
    hidden = [t for t in data["tests"] if t["name"].startswith("dense case 2 (hidden)")]
    assert hidden and all(t["visibility"] == "hidden" and t["output"] in ("passed", "wrong") for t in hidden)


def test_a_courses_own_cases_and_op(tmp_path):
    course = tmp_path / "course.py"
    course.write_text('''
import numpy as np
from scratchnet.check import OpSpec

def leaky_cases(rng):
    return [{"x": rng.standard_normal((3, 4)), "dout_seed": 5}, {"x": rng.standard_normal(6), "dout_seed": 6}]

def leaky_expected(case):
    x = case["x"]
    if "dout" not in case:
        case["dout"] = np.random.default_rng(case["dout_seed"]).standard_normal(x.shape)
    return {"out": np.where(x > 0, x, 0.1 * x), "dx": case["dout"] * np.where(x > 0, 1, 0.1)}

OPS = {"leaky-relu": OpSpec(name="leaky-relu", about="leaky ReLU, slope 0.1", forward="leaky_forward",
                            backward="leaky_backward", results=("out", "dx"), cases=leaky_cases,
                            expected=leaky_expected, signature="", equations="", doc="", convention="relu")}
CASES = {"dense": [{"x": np.ones((2, 3)), "w": np.eye(3), "b": np.zeros(3), "dout_seed": 9}]}
''')
    mine = tmp_path / "mine.py"
    mine.write_text("import numpy as np\n\ndef leaky_forward(x):\n    return np.where(x > 0, x, 0.1 * x), x\n\n"
                    "def leaky_backward(dout, x):\n    return dout * np.where(x > 0, 1, 0.1)\n")  # fmt: skip
    policy = Course.load(course)
    report = check_op("leaky-relu", mine, course=policy, verbose=False)
    assert report.passed and len(report.cases) == 2 and report.max_score == 2 * 4
    dense = check_op("dense", HERE / "loops.py", course=policy, verbose=False)
    assert dense.passed and len(dense.cases) == 5 and dense.cases[-1] == "x (2, 3), w (3, 3), b (3,)"


def test_the_seed_changes_every_input(tmp_path):
    c0, c7 = (Course(seed=s).draw(spec_of("dense")) for s in (0, 7))
    for a, b in zip(c0, c7, strict=True):
        assert not np.array_equal(a["x"], b["x"]) and a["dout_seed"] != b["dout_seed"]


def test_gradescopes_autograder_zip(tmp_path, capsys):
    course = tmp_path / "course.py"
    course.write_text("SEED = 3\n")
    path = tmp_path / "autograder.zip"
    assert main(["check", "conv2d", "--autograder", str(path), "--course", str(course), "--seed", "5"]) == 0
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["course.py", "run_autograder", "setup.sh"]
        run = z.read("run_autograder").decode()
        mode = z.getinfo("run_autograder").external_attr >> 16
    assert mode & stat.S_IXUSR
    assert "scratchnet check conv2d /autograder/submission --in-container --format gradescope" in run
    assert "--course /autograder/source/course.py --seed 5" in run
    assert "--report /autograder/results/results.json" in run
    assert autograder_zip("relu", tmp_path / "b.zip").is_file()


def test_without_a_working_sandbox_a_class_is_refused_and_a_file_warned(tmp_path, monkeypatch, capsys):
    from scratchnet.check import sandbox

    monkeypatch.setattr(sandbox, "works", lambda: sandbox.MISSING)
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(LOOPS)
    assert main(["check", "relu", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["check", "relu", str(folder), "--out", str(tmp_path / "out"), "--no-sandbox"]) == 0
    assert "WARNING: graded WITHOUT a sandbox" in (tmp_path / "out" / "reports" / "alice.txt").read_text()
    report = check_op("relu", folder / "alice.py", verbose=False)  # a student's own file: run, with the warning
    assert report.passed and not report.sandboxed and report.warnings == [sandbox.UNSAFE]


def test_a_run_with_a_course_file_resumes_until_the_file_changes(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(LOOPS)
    course = tmp_path / "course.py"
    course.write_text("def keep(op, case):\n    return True\n")
    out = tmp_path / "out"
    assert grade_class("relu", folder, out, course=Course.load(course)).resumed == []
    assert grade_class("relu", folder, out, course=Course.load(course)).resumed == ["alice"]
    course.write_text("HIDDEN = {'relu': [1]}\ndef keep(op, case):\n    return True\n")
    assert grade_class("relu", folder, out, course=Course.load(course)).resumed == []
