"""Max and average pooling: cases (ties included), expected results from the library's layers, and
the mistakes (switches of the textbook loops)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import layers
from ...ops.naive import pool2d_backward_naive
from ..spec import Arrays, Mistake, OpSpec, with_dout


def pool_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for k, (N, C, H, W, ph, pw, s) in enumerate([(2, 3, 8, 8, 2, 2, 2), (1, 2, 7, 9, 3, 3, 2),
                                                 (2, 2, 6, 6, 2, 3, 1), (3, 1, 5, 7, 2, 2, 3)]):  # fmt: skip
        x = rng.standard_normal((N, C, H, W))
        out.append({"x": x, "ph": ph, "pw": pw, "stride": s, "dout_seed": 200 + k})
    ties = np.zeros((2, 2, 6, 6))  # zeros after a ReLU: whole windows of equal values
    ties[:, :, ::3, ::2] = 1.0
    out.append({"x": ties, "ph": 2, "pw": 2, "stride": 2, "dout_seed": 299, "ties": True})
    return out


def _pool_layer(case: dict[str, Any], kind: type) -> Any:
    return kind((case["ph"], case["pw"]), case["stride"])


def pool_expected(kind: type) -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        pool = _pool_layer(case, kind)
        out = pool.forward(case["x"])
        return {"out": out, "dx": pool.backward(with_dout(case, out.shape))}

    return expected


def _pool_backward(c: dict[str, Any], mode: str, **mistake: Any) -> Arrays:
    """The textbook pooling backward pass on a case, with one mistake switched on."""
    return {"dx": pool2d_backward_naive(c["dout"], c["x"], (c["ph"], c["pw"]), c["stride"], mode, **mistake)}


def _maxpool_mistakes() -> tuple[Mistake, ...]:
    def spread(c, share):
        return _pool_backward(c, "avg", divide=share)

    def every_tie(c):
        return _pool_backward(c, "max", every_tie=True) if c.get("ties") else {}  # random inputs have no ties

    def no_stride(c):
        return _pool_backward(c, "max", backward_stride=1) if c["stride"] != 1 else {}

    return (
        Mistake(
            "gradient spread over the window",
            "your dx shares each window's gradient equally among its "
            "elements (that is average pooling's backward): max pooling sends it all to the maximum",
            lambda c: spread(c, True),
        ),
        Mistake(
            "gradient copied to the whole window",
            "your dx gives every element of a window the window's whole gradient: only the maximum gets it",
            lambda c: spread(c, False),
        ),
        Mistake(
            "gradient to every tie",
            "where several elements tie for a window's maximum your dx gives the "
            "gradient to each of them: it goes to exactly one (the first in row-major order, as "
            "PyTorch does), or the gradient is counted several times",
            every_tie,
        ),
        Mistake(
            "stride ignored in backward",
            "your backward pass takes windows at steps of 1 instead of the stride",
            no_stride,
        ),
    )


def _avgpool_mistakes() -> tuple[Mistake, ...]:
    def not_divided(c):
        return _pool_backward(c, "avg", divide=False)

    return (
        Mistake(
            "gradient not divided by the window size",
            "your dx gives every element the window's "
            "whole gradient: each gets dout / (pool_height * pool_width)",
            not_divided,
        ),
    )


SPECS = (
    OpSpec(
        name="maxpool2d",
        about="max pooling, any window and stride (ties: the first maximum)",
        results=("out", "dx"),
        cases=pool_cases,
        expected=pool_expected(layers.MaxPool2D),
        signature="out, cache = max_pool_forward_naive(x, pool_param)    # x (N, C, H, W),\n"
                  "#   pool_param = {'pool_height': ph, 'pool_width': pw, 'stride': s}\n"
                  "dx = max_pool_backward_naive(dout, cache)",
        equations="out[n, c, i, j] = max over the window x[n, c, s*i : s*i + ph, s*j : s*j + pw]\n"
                  "dx: each dout[n, c, i, j] goes to its window's maximum (the first one, row-major, on ties)",
        doc="docs/pooling.md",
        layer="MaxPool2D",
        mistakes=_maxpool_mistakes(),
    ),
    OpSpec(
        name="avgpool2d",
        about="average pooling, any window and stride",
        results=("out", "dx"),
        cases=pool_cases,
        expected=pool_expected(layers.AvgPool2D),
        signature="out, cache = avg_pool_forward_naive(x, pool_param)    # as max_pool_forward_naive\n"
                  "dx = avg_pool_backward_naive(dout, cache)",
        equations="out[n, c, i, j] = mean of the window; dx: each element of a window gets dout / (ph * pw)",
        doc="docs/pooling.md",
        layer="AvgPool2D",
        mistakes=_avgpool_mistakes(),
    ),
)  # fmt: skip
