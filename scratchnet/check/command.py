"""``scratchnet check``: its options and what it runs (the command line's part of the checker;
:mod:`scratchnet.cli` adds it to the other commands)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import Course, check_op, classroom, list_ops, summary_line, template
from .report import VISIBILITIES


def add_check_parser(sub: Any) -> None:
    """The ``check`` command of the command line's subcommands ``sub``."""
    p = sub.add_parser(
        "check", help="check a student's implementation of an op (a file, or a folder of submissions)",
        description="Run an op's cases against your implementation: one line per case and check, the "
                    "first failure in detail, the classic mistake named. Each submission runs in a sandbox of "
                    "its own (bubblewrap) under limits; exit status 0 only if every check passed.",
        epilog="examples:\n  scratchnet check --list\n  scratchnet check conv2d --template > my_conv.py\n"
               "  scratchnet check conv2d my_conv.py\n"
               "  scratchnet check maxpool2d submissions/ --out grades/ --jobs 2 --roster roster.csv\n"
               "  scratchnet check conv2d submission.py --report results.json --format gradescope\n"
               "  scratchnet check conv2d --autograder autograder.zip --seed 7",
        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("op", nargs="?", help="the op (scratchnet check --list): conv2d, maxpool2d, lstm, ...")
    p.add_argument("submission", nargs="?", help="a .py file, or a folder whose every .py file is a submission")
    p.add_argument("--list", action="store_true", help="list the ops, their functions and their mistakes")
    p.add_argument("--template", action="store_true", help="print a skeleton to fill in for OP")
    p.add_argument(
        "--forward", metavar="NAME", help="the forward function's name (default: the courses' usual)"
    )
    p.add_argument("--backward", metavar="NAME", help="the backward function's name")
    p.add_argument(
        "--layer", metavar="NAME", help="the layer class's name (default: scratchnet's, e.g. Conv2D)"
    )
    p.add_argument("--style", choices=("functional", "layer"),
                   help="the convention (default: functions if found, else the class)")  # fmt: skip
    p.add_argument("--out", metavar="DIR", help="a class's folder of reports (default: check-OP/); new, "
                   "or an earlier run's, which is resumed")  # fmt: skip
    p.add_argument("--report", metavar="FILE.json", help="one submission's report (a file, or a student's "
                   "folder graded alone)")  # fmt: skip
    p.add_argument("--format", choices=("json", "gradescope"), default="json",
                   help="scratchnet's JSON, or Gradescope's results.json (default: json)")  # fmt: skip
    p.add_argument("--visibility", default="visible", choices=VISIBILITIES,
                   help="Gradescope: when students see the results (default: visible)")  # fmt: skip
    p.add_argument("--hidden-visibility", default="after_published", choices=VISIBILITIES,
                   help="Gradescope: when students see the hidden cases' tests (default: after_published)")
    p.add_argument("--time-limit", type=float, default=30.0, metavar="SECONDS",
                   help="per submission, CPU and wall clock (default: 30)")  # fmt: skip
    p.add_argument("--memory-limit", type=int, default=1024, metavar="MB",
                   help="per submission, address space (default: 1024)")  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at a time (default: 1)")
    p.add_argument("--seed", type=int, help="draw other inputs (hard-coded answers then fail; default: 0)")
    p.add_argument("--hidden", metavar="CASES", help="cases counted but not shown, e.g. 5,6 or 4-6")
    p.add_argument("--cases", metavar="CASES", help="only these cases, e.g. 1-3")
    p.add_argument("--course", metavar="FILE.py", help="the course's policy: seed, hidden cases, weights, a "
                   "filter, cases and ops of its own (see docs/checking.md)")  # fmt: skip
    p.add_argument("--roster", metavar="FILE.csv", help="the class's roster (first column: the submission's "
                   "name): who handed in nothing")  # fmt: skip
    p.add_argument("--entry", metavar="NAME", help="the file to check in a student's folder")
    p.add_argument("--autograder", metavar="FILE.zip", help="write Gradescope's autograder zip for OP")
    p.add_argument("--no-sandbox", action="store_true", help="run without the sandbox (only code you trust; "
                   "every report says so)")  # fmt: skip
    p.add_argument("--in-container", action="store_true", help="each submission is alone in a container "
                   "(Gradescope's autograder): no sandbox of its own")  # fmt: skip
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """``scratchnet check ...``: an op's list, template, Gradescope zip, one submission or a class."""
    if args.list:
        print(list_ops(), end="")
        return 0
    if not args.op:
        raise ValueError("scratchnet check: which op? (scratchnet check --list)")
    if args.template:
        print(template(args.op), end="")
        return 0
    gradescope = {"visibility": args.visibility, "hidden_visibility": args.hidden_visibility}
    if args.autograder:
        path = classroom.autograder_zip(args.op, args.autograder, course=args.course, seed=args.seed,
                                        **gradescope)  # fmt: skip
        print(f"Gradescope autograder: {path} (upload it as the assignment's autograder)")
        return 0
    if not args.submission:
        raise ValueError(f"scratchnet check {args.op}: give a submission file or folder (or --template)")
    course = Course.load(args.course) if args.course else Course()
    course.hidden.setdefault(args.op, set()).update(numbers(args.hidden))
    course.only = numbers(args.cases) or None
    sandbox = "container" if args.in_container else False if args.no_sandbox else None
    opts = {"forward": args.forward, "backward": args.backward, "layer": args.layer, "style": args.style,
            "time_limit": args.time_limit, "memory_limit_mb": args.memory_limit, "seed": args.seed,
            "course": course, "entry": args.entry}  # fmt: skip
    path = Path(args.submission)
    if path.is_dir() and not args.entry and not args.report:  # a class
        out = Path(args.out or f"check-{args.op}")
        run = classroom.grade_class(args.op, path, out, jobs=args.jobs, roster=args.roster,
                                    gradescope=gradescope if args.format == "gradescope" else None,
                                    on_report=lambda r: print(summary_line(r), flush=True),
                                    sandbox=True if sandbox is None else sandbox, **opts)  # fmt: skip
        for name in run.resumed:
            print(f"{name:<28} (graded in an earlier run: kept)")
        print(classroom.summary(run.reports), end="")
        print(f"reports: {out}/ (results.json, results.csv, reports/, summary.txt, histogram.png)")
        return 0 if all(r.passed for r in run.reports) else 1
    report = check_op(args.op, path, sandbox=sandbox, **opts)
    if args.report:
        written = classroom.write_report(report, Path(args.report), args.format, gradescope)
        print(f"report: {written}")
    return 0 if report.passed else 1


def numbers(text: str | None) -> set[int]:
    """``"1,3-5"`` -> {1, 3, 4, 5}."""
    out: set[int] = set()
    for part in filter(None, (text or "").replace(" ", "").split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out
