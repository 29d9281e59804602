"""Every registered name, for ``scratchnet names`` and ``docs/names.md``: the one module that
imports every registry (it sits above them all)."""

from __future__ import annotations

from .data import DATASETS
from .losses import LOSSES
from .optim import OPTIMIZERS
from .registry import Registry
from .schedules import SCHEDULES
from .zoo import MODELS


def all_registries() -> list[Registry]:
    """Every registry of the library."""
    return [DATASETS, MODELS, OPTIMIZERS, SCHEDULES, LOSSES]


def names_markdown() -> str:
    """``docs/names.md``: one table per registry (``scratchnet names`` prints it)."""
    lines = [
        "# Names",
        "",
        "Generated from the registries by `scratchnet names > docs/names.md`;",
        "`tests/test_registry.py` fails when this page and the code disagree.",
    ]
    for reg in all_registries():
        plural = reg.kind.capitalize() + ("es" if reg.kind.endswith("s") else "s")
        lines += ["", f"## {plural}", "", "| name | description |", "|---|---|"]
        lines += [f"| `{name}` | {reg.description(name)} |" for name in reg]
    return "\n".join(lines) + "\n"
