"""The element-wise activations ReLU, sigmoid, tanh and softplus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import layers
from ...ops.activations import sigmoid
from ..spec import Arrays, Mistake, OpSpec, missing_upstream, with_dout


def elementwise_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    shapes = [(4, 5), (2, 3, 4, 4), (7,), (3, 1, 6)]
    return [{"x": rng.standard_normal(s) * 2, "dout_seed": 300 + k} for k, s in enumerate(shapes)]


def activation_expected(kind: type) -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        layer = kind()
        out = layer.forward(case["x"])
        return {"out": out, "dx": layer.backward(with_dout(case, out.shape))}

    return expected


def _sig_input(c):
    return {"dx": c["dout"] * c["x"] * (1 - c["x"])}


def _tanh_input(c):
    return {"dx": c["dout"] * (1 - c["x"] ** 2)}


SPECS = (
    OpSpec(
        name="relu",
        about="ReLU",
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.ReLU),
        signature="out, cache = relu_forward(x)\ndx = relu_backward(dout, cache)",
        equations="out = max(x, 0); dx = dout * (x > 0)",
        doc="docs/activations.md",
        layer="ReLU",
        mistakes=(missing_upstream(lambda x: (x > 0).astype(float)),),
    ),
    OpSpec(
        name="sigmoid",
        about="the logistic sigmoid",
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.Sigmoid),
        signature="out, cache = sigmoid_forward(x)\ndx = sigmoid_backward(dout, cache)",
        equations="out = 1 / (1 + exp(-x)); dx = dout * out * (1 - out)",
        doc="docs/activations.md",
        layer="Sigmoid",
        mistakes=(Mistake("derivative taken on the input", "your dx is dout * x * (1 - x): the derivative is "
                 "sigma(x) * (1 - sigma(x)), on the output, not on the input", _sig_input),
                 missing_upstream(lambda x: sigmoid(x) * (1 - sigmoid(x)))),
    ),
    OpSpec(
        name="tanh",
        about="tanh",
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.Tanh),
        signature="out, cache = tanh_forward(x)\ndx = tanh_backward(dout, cache)",
        equations="out = tanh(x); dx = dout * (1 - out**2)",
        doc="docs/activations.md",
        layer="Tanh",
        mistakes=(Mistake("derivative taken on the input", "your dx is dout * (1 - x**2): the derivative is "
                 "1 - tanh(x)**2, on the output", _tanh_input),
                 missing_upstream(lambda x: 1 - np.tanh(x) ** 2)),
    ),
    OpSpec(
        name="softplus",
        about="softplus, a smooth ReLU (beta = 1)",
        forward="softplus_forward",
        backward="softplus_backward",
        convention="relu",  # called as any element-wise op: out, cache = f(x); dx = g(dout, cache)
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.Softplus),
        signature="out, cache = softplus_forward(x)\ndx = softplus_backward(dout, cache)",
        equations="out = log(1 + exp(x)) (computed as max(x, 0) + log(1 + exp(-|x|))); dx = dout * sigmoid(x)",
        doc="docs/activations.md",
        layer="Softplus",
        mistakes=(Mistake("derivative of the sigmoid used", "your dx is dout * s * (1 - s) with s = "
                          "sigmoid(x): that is the sigmoid's derivative; softplus's derivative is the sigmoid",
                          lambda c: {"dx": c["dout"] * sigmoid(c["x"]) * (1 - sigmoid(c["x"]))}),
                  missing_upstream(sigmoid)),
    ),
)  # fmt: skip
