"""Which function implements which numbered equation of ``docs/``.

The one home of that fact is the function's (or class's) docstring, on one line::

    Equations (6)–(9) and (3) of ``docs/recurrent.md``.

Read from there three ways: ``help(lstm_backward)`` shows it; on the site the API entry links each
number to its equation (``site/conf.py``), and each equation of the derivation page gets a line
"In the code:" linking back to every function that claims it; ``tests/test_docs.py`` checks that
every claim names an equation that exists and that every numbered equation of a derivation page
is claimed (or is listed there as analysis that no function computes).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

CLAIM = re.compile(r"(?P<word>[Ee]quations?) (?P<nums>\(\d+\)(?:(?:–|, and |, | and )\(\d+\))*)"
                   r" of ``docs/(?P<page>[\w-]+)\.md``")  # fmt: skip
TAG = re.compile(r"\\tag\{(\d+)\}")
DISPLAY = re.compile(r"\$\$(.*?)\$\$", re.S)


def numbers(claimed: str) -> list[int]:
    """``"(6)–(9) and (3)"`` -> ``[6, 7, 8, 9, 3]``: the equations one claim names."""
    out: list[int] = []
    for m in re.finditer(r"\((\d+)\)(?:–\((\d+)\))?", claimed):
        first = int(m[1])
        out.extend(range(first, int(m[2] or first) + 1))
    return out


def claims_in(docstring: str) -> list[tuple[str, int]]:
    """The ``(page, number)`` pairs a docstring claims (``page`` without ``docs/`` and ``.md``)."""
    return [(m["page"], n) for line in docstring.splitlines() for m in CLAIM.finditer(line)
            for n in numbers(m["nums"])]  # fmt: skip


def claims(package: Path) -> dict[tuple[str, int], list[str]]:
    """Every claim of the package's public functions and classes (read from the source, nothing is
    imported): ``(page, number)`` -> the qualified names claiming it, in source order."""
    found: dict[tuple[str, int], list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if any(p.startswith("_") for p in parts if p != "__init__"):
            continue
        module = ".".join(p for p in parts if p != "__init__")
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                for key in claims_in(ast.get_docstring(node) or ""):
                    found.setdefault(key, []).append(f"{module}.{node.name}")
    return found


def numbered(page: Path) -> list[int]:
    """The equation numbers (``\\tag{n}``) of a Markdown page, in order."""
    return [int(n) for body in DISPLAY.findall(page.read_text()) for n in TAG.findall(body)]
