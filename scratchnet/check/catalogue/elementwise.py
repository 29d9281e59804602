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


def elementwise(name: str, *, about: str, equations: str, mistakes: tuple[Mistake, ...], **more: Any) -> OpSpec:
    """The spec of an element-wise activation: ``out, cache = NAME_forward(x)``,
    ``dx = NAME_backward(dout, cache)``, checked on the shapes of :func:`elementwise_cases` against
    the library's layer ``more["layer"]`` (default: the name capitalised)."""
    layer = more.pop("layer", name.capitalize())
    return OpSpec(name=name, about=about, results=("out", "dx"), cases=elementwise_cases,
                  expected=activation_expected(getattr(layers, layer)),
                  signature=f"out, cache = {name}_forward(x)\ndx = {name}_backward(dout, cache)",
                  equations=equations, doc="docs/activations.md", layer=layer, mistakes=mistakes,
                  **more)  # fmt: skip


SIGMOID_ON_INPUT = Mistake("derivative taken on the input", "your dx is dout * x * (1 - x): the derivative "
                           "is sigma(x) * (1 - sigma(x)), on the output, not on the input",
                           _sig_input)  # fmt: skip
TANH_ON_INPUT = Mistake("derivative taken on the input", "your dx is dout * (1 - x**2): the derivative is "
                        "1 - tanh(x)**2, on the output", _tanh_input)  # fmt: skip
def _sigmoid_derivative(c):
    return {"dx": c["dout"] * sigmoid(c["x"]) * (1 - sigmoid(c["x"]))}


SOFTPLUS_AS_SIGMOID = Mistake("derivative of the sigmoid used", "your dx is dout * s * (1 - s) with "
                              "s = sigmoid(x), the sigmoid's derivative: softplus's derivative is the sigmoid "
                              "itself", _sigmoid_derivative)  # fmt: skip

SPECS = (
    elementwise("relu", about="ReLU", equations="out = max(x, 0); dx = dout * (x > 0)", layer="ReLU",
                mistakes=(missing_upstream(lambda x: (x > 0).astype(float)),)),
    elementwise("sigmoid", about="the logistic sigmoid",
                equations="out = 1 / (1 + exp(-x)); dx = dout * out * (1 - out)",
                mistakes=(SIGMOID_ON_INPUT, missing_upstream(lambda x: sigmoid(x) * (1 - sigmoid(x))))),
    elementwise("tanh", about="tanh", equations="out = tanh(x); dx = dout * (1 - out**2)",
                mistakes=(TANH_ON_INPUT, missing_upstream(lambda x: 1 - np.tanh(x) ** 2))),
    # an op the courses do not name: called as any element-wise op (the relu convention), by its names
    elementwise("softplus", about="softplus, a smooth ReLU (beta = 1)",
                equations="out = log(1 + exp(x)) (computed as max(x, 0) + log(1 + exp(-|x|))); "
                          "dx = dout * sigmoid(x)",
                mistakes=(SOFTPLUS_AS_SIGMOID, missing_upstream(sigmoid)), convention="relu",
                forward="softplus_forward", backward="softplus_backward"),
)  # fmt: skip
