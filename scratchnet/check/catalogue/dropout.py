"""Inverted dropout: checked against the mask read off the submission's own output."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import Arrays, Mistake, OpSpec


def dropout_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Large inputs (so the kept fraction can be measured) without zeros (so the mask can be read
    off the output); ``p`` is the probability of *keeping* a unit, as in the courses'
    ``dropout_param``. The mask is the submission's own, fixed by the seed it is given."""
    out = []
    for k, (shape, p) in enumerate([((200, 50), 0.5), ((100, 80), 0.8), ((300, 30), 0.3)]):
        x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
        out.append({"x": x, "p": p, "seed": k, "dout": rng.standard_normal(shape)})
    return out


def dropout_observe(case: dict[str, Any], got: Arrays) -> None:
    """The mask, read off the submission's training output (``x`` has no zeros); when there is no
    usable output, the mask of the courses' draw ``np.random.seed(seed); rand(*x.shape) < p``."""
    out = got.get("out")
    if out is not None and np.shape(out) == case["x"].shape:
        case["mask"] = np.asarray(out) != 0
    else:
        case["mask"] = np.random.RandomState(case["seed"]).rand(*case["x"].shape) < case["p"]


def dropout_expected(case: dict[str, Any]) -> Arrays:
    x, m, p = case["x"], case["mask"], case["p"]
    return {"out": x * m / p, "kept": np.asarray(p), "test": x, "dx": case["dout"] * m / p}


def dropout_tolerance(case: dict[str, Any], key: str) -> float | None:
    """The kept fraction of n Bernoulli(p) draws has standard deviation sqrt(p (1 - p) / n): five of
    them is a bound a correct mask passes but for one time in ~3.5 million."""
    p, n = case["p"], case["x"].size
    return 5 * np.sqrt(p * (1 - p) / n) if key == "kept" else None


def _dropout_mistakes() -> tuple[Mistake, ...]:
    return (
        Mistake(
            "p read as the drop probability",
            "your forward keeps a fraction 1 - p of the units: in "
            "this convention p is the probability of keeping one (mask = rand(*x.shape) < p)",
            lambda c: {"kept": np.asarray(1 - c["p"])} if c["p"] != 0.5 else {},
        ),
        Mistake(
            "kept units not rescaled",
            "your training output is x * mask: inverted dropout divides by "
            "p (out = x * mask / p) so that the test pass needs no change",
            lambda c: {"out": c["x"] * c["mask"]},
        ),
        Mistake(
            "test output rescaled",
            "your test-mode output is scaled: with inverted dropout the test pass is the identity, out = x",
            lambda c: {"test": c["x"] * c["p"]},
        ),
        Mistake(
            "mask applied at test time",
            "your test-mode output drops units: at test time out = x",
            lambda c: {"test": c["x"] * c["mask"] / c["p"]},
        ),
        Mistake(
            "backward not rescaled",
            "your dx is dout * mask: divide by p as the forward pass does",
            lambda c: {"dx": c["dout"] * c["mask"]},
        ),
        Mistake(
            "backward without the mask",
            "your dx is dout / p for every unit: the dropped units get no gradient (dx = dout * mask / p)",
            lambda c: {"dx": c["dout"] / c["p"]},
        ),
    )


SPECS = (
    OpSpec(
        name="dropout",
        about="inverted dropout, p the probability of keeping a unit",
        results=("out", "kept", "test", "dx"),
        cases=dropout_cases,
        expected=dropout_expected,
        signature="out, cache = dropout_forward(x, dropout_param)\n"
                  "#   dropout_param = {'p': keep, 'mode': 'train' or 'test', 'seed': s}\n"
                  "dx = dropout_backward(dout, cache)",
        equations="train: mask = rand(*x.shape) < p; out = x * mask / p; dx = dout * mask / p. test: out = x\n"
                  "checked: out against the mask read off your output, the kept fraction, the test pass, dx",
        doc="docs/activations.md",
        layer="Dropout",
        mistakes=_dropout_mistakes(),
        forward_results=3,
        tolerance=dropout_tolerance,
        observe=dropout_observe,
    ),
)  # fmt: skip
