"""Check your own implementation of an op against scratchnet's proven one, with the mistake named.

    scratchnet check conv2d my_conv.py                     # a student's file: one line per case and check
    scratchnet check conv2d submissions/ --out grades/     # a teacher's class, each in a sandbox
    scratchnet check conv2d --template > my_conv.py        # a skeleton to fill in
    scratchnet check --list                                 # the ops

From Python (a notebook): :func:`check_op`; a class: :func:`grade_class`. The cases, the expected
results and the catalogue of classic mistakes are in :mod:`scratchnet.check.ops`; the two calling
conventions in :mod:`scratchnet.check.adapters`; a course's policy in
:mod:`scratchnet.check.policy`; the sandbox in :mod:`scratchnet.check.sandbox`, the process a
submission runs in in :mod:`scratchnet.check.child` and how it is run and read back in
:mod:`scratchnet.check.runner`; a class's files in :mod:`scratchnet.check.classroom`. See
``docs/checking.md``.
"""

from __future__ import annotations

import re

from .adapters import CONVENTIONS
from .classroom import autograder_zip, grade_class
from .grade import check_op
from .ops import OPS, OpSpec
from .policy import Course
from .report import Check, Report

__all__ = [
    "OPS",
    "Check",
    "Course",
    "OpSpec",
    "Report",
    "autograder_zip",
    "catalogue_markdown",
    "check_op",
    "grade_class",
    "list_ops",
    "summary_line",
    "template",
]


def summary_line(report: Report) -> str:
    """A student's line of a class's run: name, points, verdict, mistakes."""
    from .report import points

    mistakes = f" ({'; '.join(report.mistakes())})" if report.mistakes() else ""
    score = f"{points(report.score)}/{points(report.max_score)}"
    return f"{report.submission:<28} {score:>9} {report.verdict}{mistakes}"


def list_ops() -> str:
    """The ops that can be checked, one line each: name, what it is, the functions looked for,
    the layer class, the number of cases and of catalogued mistakes."""
    from .grade import make_cases

    lines = [f"{'op':<11} {'functions looked for':<48} {'layer':<20} cases mistakes  what"]
    for name, spec in OPS.items():
        funcs = spec.forward + (f" / {spec.backward}" if spec.backward else "")
        n = len(make_cases(spec)[0])
        layer = spec.layer if spec.layer and CONVENTIONS[spec.convention or name].layer else "-"
        lines.append(f"{name:<11} {funcs:<48} {layer:<20} {n:>5} {len(spec.mistakes):>8}  {spec.about}")
    return "\n".join(lines) + "\n"


def catalogue_markdown() -> str:
    """The catalogue of mistakes as a Markdown table (``docs/checking.md`` carries it)."""
    lines = ["| op | mistake | what the report says |", "|---|---|---|"]
    for name, spec in OPS.items():
        for m in spec.mistakes:
            says = m.says.replace("{key}", "output").replace("|", "\\|")
            lines.append(f"| `{name}` | {m.name} | {says} |")
    return "\n".join(lines) + "\n"


_CALL = re.compile(r"^\s*(?P<ret>[\w, ]+?)\s*=\s*(?P<name>\w+)\((?P<args>[^)]*)\)\s*(?:#\s*(?P<note>.*))?$")


def template(op: str) -> str:
    """A skeleton file for ``op``: the functions to write with their signatures, the shapes and the
    equations, ready for ``scratchnet check OP FILE``."""
    from .grade import spec_of

    spec = spec_of(op)
    equations = "\n".join(f"    {line}" for line in spec.equations.splitlines())
    head = (f'"""{spec.name}: {spec.about}.\n\nWrite the functions below, then check them:\n\n'
            f"    scratchnet check {spec.name} THIS_FILE.py\n\n"
            "The equations to implement (derived step by step in "
            f"scratchnet's {spec.doc}):\n\n{equations}\n\nInputs are float64 NumPy arrays; do not modify them "
            'in place.\n"""\n\nimport numpy as np\n')  # fmt: skip
    calls: list[tuple[re.Match, list[str]]] = []
    for line in spec.signature.splitlines():
        m = _CALL.match(line)
        if m is not None:
            calls.append((m, [m["note"]] if m["note"] else []))
        elif calls and line.lstrip().startswith("#"):  # a continuation of the call's comment
            calls[-1][1].append(line.strip().lstrip("#").strip())
    parts = [head]
    for m, notes in calls:
        shapes = "".join(f"\n    {n}" for n in notes)
        parts.append(f'\n\ndef {m["name"]}({m["args"]}):\n    """Returns {m["ret"]}.\n{shapes}\n    """\n'
                     f'    raise NotImplementedError("{m["name"]}: not written yet")\n')  # fmt: skip
    return "".join(parts)

