r"""Fully connected (affine) layer: :math:`Y = XW + b`.

* ``x``: shape ``(N, D_in)``; ``w``: ``(D_in, D_out)``; ``b``: ``(D_out,)``; ``y``: ``(N, D_out)``.
  Inputs ``(N, ..., D_in)`` (e.g. a sequence ``(N, T, D_in)``) apply the layer to the last axis:
  the leading axes are flattened into rows, so the formulas below hold with :math:`N` rows.

Backward, with :math:`G = \partial L/\partial Y`:

.. math::
    \frac{\partial L}{\partial X} = G W^\top,\qquad
    \frac{\partial L}{\partial W} = X^\top G,\qquad
    \frac{\partial L}{\partial b} = \mathbf 1^\top G .

Derivation: ``docs/activations.md`` (dense layer section).
"""

from __future__ import annotations

import numpy as np

from .record import OpRecord


def dense_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, bool]]:
    """``y = x @ w + b``. Returns ``(y, cache)``.

    Equation (6) of ``docs/activations.md``.
    """
    y = x @ w
    if b is not None:
        y += b
    return y, (x, w, b is not None)


def dense_backward(
    dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray, bool], need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Returns ``(dx, dw, db)`` with shapes ``(N, ..., D_in)``, ``(D_in, D_out)``, ``(D_out,)``.

    Equation (7) of ``docs/activations.md``.
    """
    x, w, has_bias = cache
    rows = dout.reshape(-1, dout.shape[-1])
    dw = x.reshape(-1, x.shape[-1]).T @ rows
    db = rows.sum(axis=0) if has_bias else None
    dx = dout @ w.T if need_dx else None
    return dx, dw, db


RECORDS = (
    OpRecord(name="dense", forward=dense_forward, backward=dense_backward, layers=("Dense",), family="dense",
             docs="activations.md", topic="dense (fully connected, on the last axis)"),
)  # fmt: skip
