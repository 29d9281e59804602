"""What a checkable op is: :class:`OpSpec` (its cases, expected results, calling convention and
catalogue of :class:`Mistake`), and the helpers the catalogue's modules share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .adapters import CONVENTIONS, backward_names

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Mistake:
    """A classic wrong answer: ``compute(case)`` gives the arrays a submission making it would
    return (some of the result keys); ``says`` is the sentence shown when one matches."""

    name: str
    says: str
    compute: Callable[[dict[str, Any]], Arrays]


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    """One checkable op. ``results`` are the checks, in the order the calls return them: the first
    ``forward_results`` come from the forward call, the rest from the backward call. The names of
    its functions are its convention's (:data:`scratchnet.check.adapters.CONVENTIONS`: the first
    of the names the courses use) unless given (an op of a course's own)."""

    name: str
    about: str
    results: tuple[str, ...]  # result keys, the forward output first
    cases: Callable[[np.random.Generator], list[dict[str, Any]]]
    expected: Callable[[dict[str, Any]], Arrays]
    signature: str  # for the template: the call and its shapes
    equations: str
    doc: str
    layer: str | None = None  # the scratchnet class of the layer convention
    mistakes: tuple[Mistake, ...] = field(default=())
    forward_results: int = 1
    # the absolute tolerance of a check when it is not the default's (case, result key) -> atol
    tolerance: Callable[[dict[str, Any], str], float | None] = lambda case, key: None
    # reads what the expected results depend on off the submission's own results (dropout's mask)
    observe: Callable[[dict[str, Any], Arrays], None] | None = None
    # an op of a course's own is called as this op of the table is (its adapters): e.g. "relu" for
    # any elementwise op with ``out, cache = f(x)`` and ``dx = g(dout, cache)``
    convention: str | None = None
    forward: str = ""  # the template's function names (default: the convention's first)
    backward: str | None = ""

    def __post_init__(self) -> None:
        if self.forward == "":
            object.__setattr__(self, "forward", CONVENTIONS[self.convention or self.name].names[0])
        if self.backward == "":
            names = backward_names(self.convention or self.name)
            object.__setattr__(self, "backward", names[0] if names else None)


def with_dout(case: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """The upstream gradient of a case, drawn once for its output shape."""
    if "dout" not in case:
        case["dout"] = np.random.default_rng(case["dout_seed"]).standard_normal(shape)
    return case["dout"]


def missing_upstream(derivative: Callable[[np.ndarray], np.ndarray]) -> Mistake:
    return Mistake(
        "upstream gradient missing",
        "your dx is the local derivative alone: multiply it by dout (the chain rule)",
        lambda c: {"dx": derivative(c["x"])},
    )


def times(key: str, factor: Callable[[dict[str, Any]], float], base: Callable) -> Callable:
    """The mistake of a result off by ``factor(case)`` (none where the factor is 1: N = 1)."""
    return lambda c: {key: base(c)[key] * factor(c)} if factor(c) != 1 else {}
