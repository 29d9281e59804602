"""What the sandbox costs: a class of 40 submissions graded with ``--jobs 2``, in the sandbox and
without it, alternately.

    python bench/bench_check_class.py                 # conv2d, 40 submissions, 3 rounds
    python bench/bench_check_class.py --op dense --students 20 --rounds 5 --no-write

The class: the students' correct loops (``tests/check_submissions/loops.py``), and every third
one with a classic mistake written in (the catalogue's, as the tests plant them), so that the
grader's reports are as varied as a real class's. Each round grades the class twice in fresh
processes (``scratchnet check OP FOLDER --out DIR --jobs 2``, then the same with ``--no-sandbox``; the
order alternates between rounds); the figures are the medians of the rounds' wall times and the
overhead per submission is (sandbox - no sandbox) / students. Writes
``bench/RESULTS-check-class.{json,md}`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

LOOPS = ROOT / "tests" / "check_submissions" / "loops.py"
# a mistake per op, as tests/test_check.py writes it into the loops (marker -> the student's line)
BUGS = {
    "conv2d": [("conv-db", "db = dout.sum(axis=(0, 2, 3)) / N"), ("conv-dx", "dx = dxp")],
    "dense": [("affine-db", "db = dout[0]"), ("affine-dw", "dw = (x.reshape(len(x), -1).T @ dout).T")],
}


def make_class(folder: Path, op: str, students: int) -> None:
    text = LOOPS.read_text()
    for k in range(students):
        source = text
        if k % 3 == 2 and op in BUGS:
            marker, line = BUGS[op][(k // 3) % len(BUGS[op])]
            lines = text.splitlines()
            at = next(i for i, ln in enumerate(lines) if ln.rstrip().endswith(f"# {marker}"))
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            lines[at] = f"{indent}{line}  # {marker}"
            source = "\n".join(lines)
        (folder / f"student{k:02d}.py").write_text(source + "\n")


def grade(op: str, folder: Path, sandbox: bool) -> float:
    out = Path(tempfile.mkdtemp()) / "grades"
    cmd = [sys.executable, "-m", "scratchnet", "check", op, str(folder), "--out", str(out), "--jobs", "2"]
    start = time.perf_counter()
    subprocess.run(cmd + ([] if sandbox else ["--no-sandbox"]), capture_output=True, check=False)
    seconds = time.perf_counter() - start
    shutil.rmtree(out.parent)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--op", default="conv2d")
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp()) / "class"
    folder.mkdir()
    make_class(folder, args.op, args.students)
    times: dict[str, list[float]] = {"sandbox": [], "no sandbox": []}
    for r in range(args.rounds):
        for sandbox in ((True, False) if r % 2 == 0 else (False, True)):
            times["sandbox" if sandbox else "no sandbox"].append(grade(args.op, folder, sandbox))
    shutil.rmtree(folder.parent)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    per = (med["sandbox"] - med["no sandbox"]) / args.students
    result = {"op": args.op, "students": args.students, "jobs": 2, "rounds": args.rounds, "seconds": times,
              "median": med, "overhead_per_submission_s": per, "ratio": med["sandbox"] / med["no sandbox"],
              "cpu": common.cpu_name(), "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    print(json.dumps(result, indent=1))
    if not args.no_write:
        (HERE / "RESULTS-check-class.json").write_text(json.dumps(result, indent=1) + "\n")
        (HERE / "RESULTS-check-class.md").write_text(
            f"# The grader's sandbox: {args.students} `{args.op}` submissions, `--jobs 2`\n\n"
            f"Machine: {result['cpu']} (2 cores). Date: {result['date']}. Medians of {args.rounds} rounds, "
            "each grading the class in the sandbox and without it (alternating order).\n\n"
            f"Reproduce: `python bench/bench_check_class.py --op {args.op} --students {args.students}`\n\n"
            "| | wall s (median) | rounds |\n|---|---:|---|\n"
            + "".join(f"| {k} | {med[k]:.2f} | {', '.join(f'{t:.2f}' for t in v)} |\n"
                      for k, v in times.items())
            + f"\nOverhead of the sandbox: **{per * 1000:+.0f} ms per submission** "
            f"(ratio {result['ratio']:.2f}).\n"
        )  # fmt: skip


if __name__ == "__main__":
    main()
