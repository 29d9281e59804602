"""The affine (dense) layer on ``x`` reshaped to ``(N, D)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import layers
from ..spec import Arrays, Mistake, OpSpec, with_dout


def dense_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for k, (xs, M) in enumerate([((4, 6), 3), ((3, 2, 4), 5), ((1, 7), 2), ((5, 3, 2, 2), 4)]):
        D = int(np.prod(xs[1:]))
        out.append({"x": rng.standard_normal(xs), "w": rng.standard_normal((D, M)), "b": rng.standard_normal(M),
                    "dout_seed": 400 + k})  # fmt: skip
    return out


def dense_expected(case: dict[str, Any]) -> Arrays:
    x = case["x"]
    layer = layers.Dense(*case["w"].shape).astype(np.float64)
    layer.params["W"], layer.params["b"] = case["w"].copy(), case["b"].copy()
    out = layer.forward(x.reshape(len(x), -1))
    dx = layer.backward(with_dout(case, out.shape)).reshape(x.shape)
    return {"out": out, "dx": dx, "dw": layer.grads["W"], "db": layer.grads["b"]}


def _dense_mistakes() -> tuple[Mistake, ...]:
    return (
        Mistake(
            "dW transposed",
            "your dW is (dout^T x), the transpose of the true dW = x^T dout (shape (D, M), like W)",
            lambda c: {"dw": dense_expected(c)["dw"].T},
        ),
        Mistake(
            "db not summed over the batch",
            "your db is the first row of dout: db = dout.sum(axis=0)",
            lambda c: {"db": c["dout"][0]} if len(c["x"]) > 1 else {},
        ),
        Mistake(
            "db averaged over the batch",
            "your db is divided by N: db = dout.sum(axis=0)",
            lambda c: {"db": c["dout"].mean(axis=0)} if len(c["x"]) > 1 else {},
        ),
        Mistake(
            "dx not reshaped",
            "your dx has the flattened shape (N, D): reshape it to x's shape",
            lambda c: {"dx": dense_expected(c)["dx"].reshape(len(c["x"]), -1)} if c["x"].ndim > 2 else {},
        ),
    )


SPECS = (
    OpSpec(
        name="dense",
        about="affine (fully connected) layer on x reshaped to (N, D)",
        results=("out", "dx", "dw", "db"),
        cases=dense_cases,
        expected=dense_expected,
        signature="out, cache = affine_forward(x, w, b)    # x (N, d1, ..., dk), w (D, M) with D = "
                  "d1*...*dk, b (M,)\n"
                  "dx, dw, db = affine_backward(dout, cache)",
        equations="out = x.reshape(N, D) @ w + b; dx = (dout @ w.T).reshape(x.shape); dw = x.reshape(N, "
                  "D).T @ dout; "
                  "db = dout.sum(axis=0)",
        doc="docs/activations.md",
        layer="Dense",
        mistakes=_dense_mistakes(),
    ),
)  # fmt: skip
