r"""Turning a dense network with sigmoid hidden units into the same function with tanh units.

Since :math:`\sigma(a) = \tfrac12(1 + \tanh(a/2))`, a sigmoid unit :math:`h = \sigma(a)` equals
:math:`h = \tfrac12(t + 1)` with :math:`t = \tanh(a/2)`. So, layer by layer:

* the affine layer **into** a sigmoid, :math:`a = xW + b`, is halved: :math:`W' = W/2`,
  :math:`b' = b/2`, and the sigmoid becomes a tanh: :math:`t = \tanh(xW' + b')`;
* the affine layer **after** it, :math:`z = hV + c = \tfrac12(t+1)V + c`, becomes
  :math:`V' = V/2`, :math:`c' = c + \tfrac12 \mathbf 1^\top V` (the column sums of :math:`V`).

Both rules compose for deeper stacks (an affine layer between two sigmoids gets both). The output
of the converted network equals the original's up to rounding (``tests/test_exercises.py``
checks 1e-12 in float64). Derivation: ``docs/exercises.md``.
"""

from __future__ import annotations

import copy

from .layers import Dense, Sigmoid, Tanh
from .model import Sequential


def sigmoid_to_tanh(model: Sequential) -> Sequential:
    """A new ``Sequential`` of ``Dense`` and ``Tanh`` layers computing what ``model`` (``Dense``
    and ``Sigmoid`` layers) computes. ``model`` is not changed."""
    layers = list(model.layers)
    for layer in layers:
        if type(layer) not in (Dense, Sigmoid):
            raise ValueError(f"sigmoid_to_tanh: only Dense and Sigmoid layers, got {layer!r}")
    out = []
    after_sigmoid = False
    for k, layer in enumerate(layers):
        if isinstance(layer, Sigmoid):
            out.append(Tanh())
            after_sigmoid = True
            continue
        dense = copy.deepcopy(layer)
        W, b = dense.params["W"], dense.params.get("b")
        if after_sigmoid:  # its input h = (t + 1) / 2
            if b is None:
                raise ValueError(f"sigmoid_to_tanh: {layer!r} after a sigmoid needs a bias to absorb the shift")
            dense.params["b"] = b + 0.5 * W.sum(axis=0)
            dense.params["W"] = W = W * 0.5
        if k + 1 < len(layers) and isinstance(layers[k + 1], Sigmoid):  # its output goes into tanh(a / 2)
            dense.params["W"] = W * 0.5
            if "b" in dense.params:
                dense.params["b"] = dense.params["b"] * 0.5
        out.append(dense)
        after_sigmoid = False
    return Sequential(*out)
