"""The checker of students' code (``scratchnet check``, ``scratchnet.check``).

- Correct implementations are never flagged: a student's literal loops
  (``check_submissions/loops.py``), scratchnet's own slow twins and its layers in the layer
  convention pass every case of every op.
- Each catalogued mistake is recognised: the buggy submission is the correct loops with the one
  line a student gets wrong changed (``BUGS`` below), and the report must name the mistake.
- The limits hold: a looping, a memory-hungry, a crashing, an exiting, a stdin-reading submission
  each get their verdict, and the others in the same folder are still graded.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sandbox_needed import needs_sandbox

from scratchnet.check import OPS, catalogue_markdown, check_op, grade_class, list_ops, template
from scratchnet.check.adapters import CONVENTIONS
from scratchnet.check.classroom import write_report
from scratchnet.check.grade import close, difference
from scratchnet.cli import main

HERE = Path(__file__).parent / "check_submissions"
LOOPS = HERE / "loops.py"
unix_only = pytest.mark.skipif(sys.platform == "win32", reason="resource limits need a POSIX system")


@pytest.mark.parametrize("op", list(OPS))
def test_a_students_correct_loops_pass_every_case(op):
    report = check_op(op, LOOPS, verbose=False)
    assert report.passed, report.text()
    assert report.max_score >= 2 * len(report.cases) and report.style == "functional"


@pytest.mark.parametrize("op", [op for op, c in CONVENTIONS.items() if c.layer])
def test_the_librarys_layers_pass_in_the_layer_convention(op):
    report = check_op(op, HERE / "library_layers.py", verbose=False)
    assert report.passed and report.style == "layer", report.text()


@pytest.mark.parametrize("op", ["conv2d", "maxpool2d", "avgpool2d", "embedding"])
def test_the_librarys_loop_twins_pass(op):
    report = check_op(op, HERE / "library_twins.py", verbose=False)
    assert report.passed, report.text()


# the student reads the blocks as [i, f, g, o] (PyTorch's order)
GATES_IFGO = "ai, af, ag, ao = a[:, :H], a[:, H:2*H], a[:, 2*H:3*H], a[:, 3*H:]"
# (op, the mistake the report must name, {marker: the line the student wrote instead})
BUGS: list[tuple[str, str, dict[str, str]]] = [
    ("conv2d", "flipped kernel", {"conv-kernel": "k = w[:, :, ::-1, ::-1]"}),
    ("conv2d", "padding left in dx", {"conv-dx": "dx = dxp"}),
    ("conv2d", "stride ignored in backward", {"conv-backward-stride": "st = 1"}),
    ("conv2d", "dW kernel axes transposed",
     {"conv-dw": "dw[f] += (dout[n, f, i, j] * xp[window]).transpose(0, 2, 1)"}),
    ("conv2d", "dW from the first image only",
     {"conv-dw": "dw[f] += dout[n, f, i, j] * xp[window] * (n == 0)"}),
    ("conv2d", "dW averaged over the batch", {"conv-return": "return dx, dw / N, db"}),
    ("conv2d", "db not summed over the batch", {"conv-db": "db = dout[0].sum(axis=(1, 2))"}),
    ("conv2d", "db averaged over the batch", {"conv-db": "db = dout.sum(axis=(0, 2, 3)) / N"}),
    ("maxpool2d", "gradient spread over the window",
     {"pool-argmax": "dx[n, ch, r, c] += dout[n, ch, i, j] / window.size; continue"}),
    ("maxpool2d", "gradient copied to the whole window",
     {"pool-argmax": "dx[n, ch, r, c] += dout[n, ch, i, j]; continue"}),
    ("maxpool2d", "gradient to every tie",
     {"pool-argmax": "dx[n, ch, r, c] += (window == window.max()) * dout[n, ch, i, j]; continue"}),
    ("maxpool2d", "stride ignored in backward",
     {"pool-windows": "for i, j, (r, c) in [(i, j, (slice(i, i + pool_param['pool_height']), "
                      "slice(j, j + pool_param['pool_width']))) for i in range(dout.shape[2]) "
                      "for j in range(dout.shape[3])]:"}),
    ("avgpool2d", "gradient not divided by the window size", {"avg-area": "area = 1"}),
    ("relu", "upstream gradient missing", {"relu-dx": "return (cache > 0).astype(float)"}),
    ("sigmoid", "derivative taken on the input", {"sigmoid-forward": "return out, x"}),
    ("sigmoid", "upstream gradient missing", {"sigmoid-dx": "return s * (1 - s)"}),
    ("softplus", "derivative of the sigmoid used", {"softplus-dx": "return dout * s * (1 - s)"}),
    ("softplus", "upstream gradient missing", {"softplus-dx": "return s"}),
    ("tanh", "derivative taken on the input", {"tanh-forward": "return out, x"}),
    ("tanh", "upstream gradient missing", {"tanh-dx": "return 1 - t**2"}),
    ("dense", "dW transposed", {"affine-dw": "dw = dout.T @ x.reshape(len(x), -1)"}),
    ("dense", "db not summed over the batch", {"affine-db": "db = dout[0]"}),
    ("dense", "db averaged over the batch", {"affine-db": "db = dout.mean(axis=0)"}),
    ("dense", "dx not reshaped", {"affine-dx": "dx = dout @ w.T"}),
    ("softmax-ce", "gradient not divided by N", {"softmax-dx": "return loss, dx"}),
    ("softmax-ce", "loss summed, not averaged", {"softmax-loss": "loss = -np.log(p[np.arange(N), y]).sum()"}),
    ("hinge", "gradient not divided by N", {"svm-dx": "return loss, dx"}),
    ("hinge", "loss summed, not averaged", {"svm-loss": "loss = margins.sum()"}),
    ("hinge", "the correct class counted", {"svm-correct": "pass"}),
    ("bce", "gradient not divided by the number of elements", {"bce-dx": "dx = 1 / (1 + np.exp(-x)) - y"}),
    ("bce", "sigmoid left out of the gradient", {"bce-dx": "dx = (x - y) / x.size"}),
    ("mse", "gradient not divided by the number of elements", {"mse-dx": "dx = 2 * (x - y)"}),
    ("mse", "factor 2 missing", {"mse-dx": "dx = (x - y) / x.size"}),
    ("dropout", "p read as the drop probability",
     {"dropout-mask": "mask = (np.random.rand(*x.shape) < 1 - p) / p"}),
    ("dropout", "kept units not rescaled", {"dropout-mask": "mask = (np.random.rand(*x.shape) < p) * 1.0"}),
    ("dropout", "test output rescaled", {"dropout-test": "out = x * p"}),
    ("dropout", "mask applied at test time", {"dropout-test": "out = x * (np.random.rand(*x.shape) < p) / p"}),
    ("dropout", "backward not rescaled",
     {"dropout-dx": "return dout * (mask > 0) if dropout_param['mode'] == 'train' else dout"}),
    ("dropout", "backward without the mask",
     {"dropout-dx": "return dout / dropout_param['p'] if dropout_param['mode'] == 'train' else dout"}),
    ("batchnorm", "batch statistics treated as constants", {"bn-dx": "dx = g / std"}),
    ("batchnorm", "the mean's term missing",
     {"bn-dx": "dx = (N * g - xhat * (g * xhat).sum(axis=0)) / (N * std)"}),
    ("batchnorm", "the variance's term missing", {"bn-dx": "dx = (N * g - g.sum(axis=0)) / (N * std)"}),
    ("batchnorm", "unbiased variance in the forward pass", {"bn-var": "var = x.var(axis=0, ddof=1)"}),
    ("rnn", "the next step's gradient not carried back",
     {"rnn-carry": "dx[:, t], dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t], cache[t])"}),
    ("lstm-step", "wrong gate order", {"lstm-gates": GATES_IFGO}),
    ("lstm", "wrong gate order", {"lstm-gates": GATES_IFGO}),
    ("lstm", "the next step's gradient not carried back",
     {"lstm-carry": "upstream = dh[:, t]; dprev_c = np.zeros((N, H))"}),
    ("embedding", "repeated ids overwritten", {"embedding-add": "dW[x] = dout"}),
]  # fmt: skip


def buggy(tmp_path: Path, edits: dict[str, str]) -> Path:
    """The correct loops with each marked line replaced (its indentation kept)."""
    lines = LOOPS.read_text().splitlines()
    for marker, new in edits.items():
        hits = [i for i, line in enumerate(lines) if line.rstrip().endswith(f"# {marker}")]
        assert len(hits) == 1, f"marker {marker} must mark exactly one line of loops.py"
        indent = re.match(r"\s*", lines[hits[0]]).group()
        lines[hits[0]] = indent + new
    path = tmp_path / "buggy.py"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("op", "mistake", "edits"), BUGS, ids=[f"{op}: {m}" for op, m, _ in BUGS])
def test_each_catalogued_mistake_is_caught_and_named(tmp_path, op, mistake, edits):
    report = check_op(op, buggy(tmp_path, edits), verbose=False)
    assert not report.passed
    assert mistake in report.mistakes(), report.text()
    says = next(c.says for c in report.checks if c.mistake == mistake)
    assert says and says in report.text()


def test_every_catalogued_mistake_has_a_test():
    tested = {(op, m) for op, m, _ in BUGS}
    catalogue = {(op, m.name) for op, spec in OPS.items() for m in spec.mistakes}
    assert catalogue == tested


def test_the_catalogue_never_matches_the_right_answer():
    """A mistake equal to the expected result on a case would name a mistake nobody made."""
    from scratchnet.check.grade import make_cases

    for op, spec in OPS.items():
        cases, expected = make_cases(spec)
        for case, exp in zip(cases, expected, strict=True):
            if spec.observe:  # dropout: the mask of the courses' own draw
                spec.observe(case, {})
                exp = spec.expected(case)
            for m in spec.mistakes:
                for key, value in m.compute(case).items():
                    assert not close(value, exp[key], spec.tolerance(case, key)), (op, m.name, key)


def test_the_report_gives_the_worst_element_of_the_first_failure(tmp_path, capsys):
    report = check_op("conv2d", buggy(tmp_path, {"conv-db": "db = dout.sum(axis=(0, 2, 3)) / N"}))
    text = capsys.readouterr().out
    assert text == report.text()
    first = report.first_failure
    assert (first.case, first.name, first.verdict) == (1, "db", "wrong")
    assert "first failure: case 1, db: wrong" in text
    assert re.search(r"worst element db\[\d+\]: expected -?[\d.e+-]+, got -?[\d.e+-]+ \(error", text)
    assert "  case 1  out         passed" in text
    assert "  case 1  db          wrong: db averaged over the batch" in text
    # every case and check has its line
    assert len(re.findall(r"^  case \d+  ", text, flags=re.M)) == report.max_score == 36  # 6 cases x 6 checks


def test_difference_names_the_index_and_the_values():
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[1, 2] = 0.5
    assert difference("dx", got, expected).splitlines() == [
        "shape (2, 3); 1 of 6 elements differ",
        "worst element dx[1, 2]: expected 0, got 0.5 (error 0.5, relative 1)",
    ]
    assert difference("dx", np.zeros((3, 2)), expected) == "dx has shape (3, 2), expected (2, 3)"
    assert not close(np.full((2, 3), np.nan), expected)


def test_a_wrong_shape_is_reported_and_the_mistake_still_named(tmp_path):
    report = check_op("conv2d", buggy(tmp_path, {"conv-dx": "dx = dxp"}), verbose=False)
    dx = next(c for c in report.checks if c.name == "dx" and not c.passed)
    assert "dx has shape (2, 3, 9, 9), expected (2, 3, 7, 7)" in dx.detail


def test_the_template_is_a_file_the_checker_runs(tmp_path, capsys):
    for op in OPS:
        text = template(op)
        compile(text, op, "exec")
        assert f"scratchnet check {op}" in text and OPS[op].doc in text
    path = tmp_path / "my_conv.py"
    assert main(["check", "conv2d", "--template"]) == 0
    path.write_text(capsys.readouterr().out)
    report = check_op("conv2d", path, verbose=False)
    assert report.verdict == "crashed" and report.score == 0
    assert "NotImplementedError: conv_forward_naive: not written yet" in report.text()


def test_the_list_names_every_op_and_its_functions(capsys):
    assert main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    assert out == list_ops()
    for op, spec in OPS.items():
        assert re.search(rf"^{re.escape(op)} +{spec.forward}", out, flags=re.M)


def test_the_exit_status_is_zero_only_when_everything_passes(tmp_path, capsys):
    assert main(["check", "relu", str(LOOPS)]) == 0
    assert main(["check", "relu", str(buggy(tmp_path, {"relu-dx": "return dout"}))]) == 1
    out = capsys.readouterr().out
    assert "16/16 points; 16 of 16 checks passed" in out and "verdict: wrong" in out


def test_names_given_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("import numpy as np\n\ndef fwd(x):\n    return np.maximum(x, 0), x\n\n"
                    "def bwd(dout, x):\n    return dout * (x > 0)\n")  # fmt: skip
    assert main(["check", "relu", str(path)]) == 1
    out = capsys.readouterr().out
    assert "no forward function named relu_forward; the file defines: bwd, fwd" in out
    assert main(["check", "relu", str(path), "--forward", "fwd", "--backward", "bwd"]) == 0


def test_from_a_notebook_functions_and_classes_of_ones_own(capsys):
    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, x):
        return dout * (x >= 0)  # the same at every x but 0: the random cases have no zero

    assert check_op("relu", forward=relu_forward, backward=relu_backward, verbose=False).passed

    class Sigmoid:
        def forward(self, x):
            self.out = 1 / (1 + np.exp(-x))
            return self.out

        def backward(self, dout):
            return dout * self.out  # forgot (1 - out)

    report = check_op("sigmoid", layer=Sigmoid)
    assert not report.passed and report.style == "layer" and report.functions == ["Sigmoid"]
    assert "case 1  dx          wrong" in capsys.readouterr().out


BACKWARD = "\n\ndef relu_backward(d, c):\n    return d\n"
SUBMISSIONS = {
    "alice.py": LOOPS.read_text(),
    "bob_loops_forever.py": "def relu_forward(x):\n    while True:\n        pass\n" + BACKWARD,
    "carol_allocates.py": "import numpy as np\n\ndef relu_forward(x):\n    keep = []\n    while True:\n"
                          "        keep.append(np.ones(2**24))\n" + BACKWARD,
    "dave_crashes.py": "def relu_forward(x):\n    return x.nonexistent(), None\n" + BACKWARD,
    "erin_exits.py": "import sys\n\ndef relu_forward(x):\n    sys.exit(3)\n" + BACKWARD,
    "frank_reads_stdin.py": "def relu_forward(x):\n    input('press enter')\n    return x, x\n" + BACKWARD,
    "grace_os_exit.py": "import os\n\ndef relu_forward(x):\n    os._exit(7)\n" + BACKWARD,
}  # fmt: skip


@unix_only
def test_a_folder_is_graded_whatever_each_submission_does(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name, text in SUBMISSIONS.items():
        (folder / name).write_text(text)
    out = tmp_path / "grades"
    run = grade_class("relu", folder, out, jobs=2, time_limit=3, memory_limit_mb=600, sandbox=None)
    by = {r.submission: r for r in run.reports}
    assert {name: r.verdict for name, r in by.items()} == {
        "alice": "passed",
        "bob_loops_forever": "stopped: time limit",
        "carol_allocates": "stopped: memory limit",
        "dave_crashes": "crashed",
        "erin_exits": "exited",
        "frank_reads_stdin": "crashed",
        "grace_os_exit": "exited",
    }
    assert "AttributeError: 'numpy.ndarray' object has no attribute 'nonexistent'" in by["dave_crashes"].text()
    assert "EOFError" in by["frank_reads_stdin"].text()
    assert "the submission called exit (3)" in by["erin_exits"].text()
    assert "it ended its own process with status 7" in by["grace_os_exit"].text()
    # the stopped submission's later cases are reported as not run
    bob = by["bob_loops_forever"]
    assert {c.verdict for c in bob.checks if c.case > 1} == {"not run"} and bob.seconds < 15

    data = json.loads((out / "results.json").read_text())
    assert [s["submission"] for s in data["submissions"]] == sorted(by)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert (rows[0]["submission"], rows[0]["score"], rows[0]["max_score"]) == ("alice", "16.0", "16.0")
    student = out / "reports" / "bob_loops_forever.txt"
    assert student in run.written and "stopped: time limit" in student.read_text()
    assert "stopped: time limit" in (out / "summary.txt").read_text()


def test_the_gradescope_format(tmp_path):
    report = check_op("dense", buggy(tmp_path, {"affine-db": "db = dout[0]"}), verbose=False)
    path = tmp_path / "results.json"
    write_report(report, path, fmt="gradescope", gradescope={"visibility": "after_due_date"})
    data = json.loads(path.read_text())
    # 4 cases of 6 checks (out, dx, dw, db, inputs, interleaved); db of the 3 cases with N > 1 is wrong
    assert data["max_score"] == 24 and data["score"] == 21
    assert len(data["tests"]) == 24 and all(t["max_score"] == 1 for t in data["tests"])
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert len(failed) == 3 and all("db not summed over the batch" in t["output"] for t in failed)
    assert data["output"] == report.text() and data["execution_time"] == round(report.seconds, 3) > 0
    assert data["visibility"] == "after_due_date"
    assert {t["visibility"] for t in data["tests"]} == {"after_due_date"}


@needs_sandbox  # the command line sandboxes by default
def test_the_command_line_for_a_teacher(tmp_path, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "a.py").write_text(LOOPS.read_text())
    (folder / "b.py").write_text(buggy(tmp_path, {"mse-dx": "dx = 2 * (x - y)"}).read_text())
    out = tmp_path / "grades"
    assert main(["check", "mse", str(folder), "--out", str(out), "--format", "gradescope"]) == 1
    printed = capsys.readouterr().out
    # 3 cases of 3 checks: loss, dx and the inputs left as they were (a loss has no cache to interleave)
    assert re.search(r"^a +9/9 +passed$", printed, flags=re.M)
    assert re.search(r"^b +6/9 +wrong \(gradient not divided by the number of elements\)$", printed, flags=re.M)
    data = json.loads((out / "gradescope.json").read_text())
    assert set(data) == {"a", "b"} and data["a"]["score"] == 9.0


def test_the_submission_is_never_imported_by_the_grader(tmp_path):
    path = tmp_path / "loud.py"
    path.write_text("import sys\nsys.modules['scratchnet'].HACKED = True\n" + LOOPS.read_text())
    import scratchnet

    check_op("relu", path, verbose=False)
    assert not hasattr(scratchnet, "HACKED") and "submission" not in sys.modules


def test_inputs_a_submission_writes_into_harm_no_other_check_and_are_named(tmp_path):
    path = tmp_path / "inplace.py"
    path.write_text("import numpy as np\n\ndef relu_forward(x):\n    np.maximum(x, 0, out=x)\n"
                    "    return x, x\n\ndef relu_backward(dout, cache):\n    dout[cache <= 0] = 0\n"
                    "    return dout\n")  # fmt: skip
    report = check_op("relu", path, verbose=False)
    assert all(c.passed for c in report.checks if c.name != "inputs")
    inputs = [c for c in report.checks if c.name == "inputs"]
    # every case but the one whose x has no negative element (nothing for np.maximum to change)
    assert [c.mistake for c in inputs].count("input changed in place") == len(inputs) - 1 == 3
    assert inputs[0].detail == "changed in place: x by the forward call, dout by the backward call"


def test_a_note_when_the_submission_imports_a_library_with_gradients(tmp_path):
    report = check_op("conv2d", HERE / "library_twins.py", verbose=False)
    assert report.passed and report.notes == ["the submission imports scratchnet"]


def test_the_docs_carry_the_catalogue_and_the_ops_as_they_are():
    """docs/checking.md's list of ops, catalogue and count of mistakes are the checker's
    (``python site/checking.py`` writes them)."""
    import sys

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "checking.md").read_text()
    assert catalogue_markdown() in doc and list_ops() in doc
    sys.path.insert(0, str(root / "site"))
    import checking

    assert checking.refreshed(doc) == doc, "run: python site/checking.py"
