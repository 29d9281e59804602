"""A course's policy: which cases, drawn how, shown or hidden, weighted how; the teacher's own
cases and ops. From the command line (``--seed``, ``--hidden``, ``--cases``) or from a file of the
teacher's (``--course course.py``), a Python file that may define any of::

    SEED = 7                                   # other inputs than the default draw (seed 0)
    HIDDEN = {"conv2d": [5, 6]}                # cases counted in the score, their inputs not shown
    WEIGHTS = {"dx": 2, "interleaved": 0.5}    # points per check name (default 1)
    CASE_WEIGHTS = {"conv2d": {1: 3}}          # a factor per case (1-based)
    CASES = {"conv2d": [dict(x=..., w=..., b=..., stride=2, pad=1, dout_seed=5)]}   # added cases
    OPS = {"leaky-relu": OpSpec(...)}         # ops of the course's own (see scratchnet.check.ops)

    def keep(op, case):                        # a filter: here, only strides that divide
        H, HH = case["x"].shape[2], case["w"].shape[2]
        return op != "conv2d" or (H + 2 * case["pad"] - HH) % case["stride"] == 0

The file is the teacher's and runs in the grader (never a student's). Case numbers count after the
filter, the added cases last.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .ops import OPS, OpSpec


@dataclass
class Course:
    """The policy; the defaults are the checker's own (seed 0, every case shown, one point each)."""

    seed: int = 0
    hidden: dict[str, set[int]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    case_weights: dict[str, dict[int, float]] = field(default_factory=dict)
    cases: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    ops: dict[str, OpSpec] = field(default_factory=dict, repr=False)
    keep: Callable[[str, dict[str, Any]], bool] | None = field(default=None, repr=False)
    only: set[int] | None = None  # --cases: the case numbers to run (after the filter)
    source: str = ""  # the SHA-256 of the teacher's file: what a resumed run compares (with the rest)

    @classmethod
    def load(cls, path: str | Path) -> Course:
        """The policy of a teacher's file (see the module's text)."""
        path = Path(path)
        spec = importlib.util.spec_from_file_location("scratchnet_course", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise FileNotFoundError(f"scratchnet check: no course file {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ns = vars(module)
        return cls(seed=int(ns.get("SEED", 0)), source=hashlib.sha256(path.read_bytes()).hexdigest(),
                   hidden={op: {int(k) for k in ks} for op, ks in ns.get("HIDDEN", {}).items()},
                   weights={str(k): float(v) for k, v in ns.get("WEIGHTS", {}).items()},
                   case_weights={op: {int(k): float(v) for k, v in w.items()}
                                 for op, w in ns.get("CASE_WEIGHTS", {}).items()},
                   cases=dict(ns.get("CASES", {})), ops=dict(ns.get("OPS", {})),
                   keep=ns.get("keep"))  # fmt: skip

    def spec(self, op: str) -> OpSpec:
        """The op's spec: the course's own first, then scratchnet's."""
        key = op.lower().replace("_", "-")
        table = {**OPS, **self.ops}
        if key not in table:
            raise KeyError(f"no op {op!r} to check; the ops are: {', '.join(table)} (scratchnet check --list)")
        return table[key]

    def draw(self, spec: OpSpec) -> list[dict[str, Any]]:
        """The op's cases under this policy: drawn with the seed (inputs and upstream gradients),
        filtered, the course's added."""
        cases = spec.cases(np.random.default_rng(self.seed))
        if self.seed:  # the upstream gradients too (their own seeds are fixed per case): none is as at seed 0
            cases = [
                {k: v + 7919 * self.seed if k.endswith("_seed") else v for k, v in c.items()} for c in cases
            ]
        if self.keep is not None:
            cases = [c for c in cases if self.keep(spec.name, c)]
        cases += [dict(c) for c in self.cases.get(spec.name, [])]
        if self.only:
            cases = [c for k, c in enumerate(cases) if k + 1 in self.only]
        if not cases:
            raise ValueError(f"scratchnet check {spec.name}: the course's filter leaves no case")
        return cases

    def weight(self, op: str, case: int, check: str) -> float:
        return self.weights.get(check, 1.0) * self.case_weights.get(op, {}).get(case, 1.0)

    def is_hidden(self, op: str, case: int) -> bool:
        return case in self.hidden.get(op, set())
