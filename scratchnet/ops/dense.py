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


def _lead_order(x: np.ndarray) -> tuple[int, ...]:
    """The leading axes of ``x`` from the largest stride to the smallest: flattened in that order
    they are a view, not a copy, also when ``x`` is a transposed view (e.g. an LSTM's
    feature-major states, or a batch-major view of time-major memory)."""
    return tuple(sorted(range(x.ndim - 1), key=lambda k: -abs(x.strides[k])))


def _rows(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``a``'s leading axes taken in ``order`` and flattened: ``(rows, a.shape[-1])``."""
    return a.transpose(*order, a.ndim - 1).reshape(-1, a.shape[-1])


def _unrows(rows: np.ndarray, like: tuple[int, ...], order: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`_rows`: ``(rows, D)`` back to the leading shape ``like`` (a view)."""
    lead = rows.reshape(*(like[k] for k in order), rows.shape[-1])
    return lead.transpose(*np.argsort(order), len(order))


def dense_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, bool]]:
    """``y = x @ w + b``. Returns ``(y, cache)``. The leading axes of ``x`` are flattened in
    memory order (:func:`_lead_order`), so that no input is copied; ``y`` has the same order.

    Equation (6) of ``docs/activations.md``.
    """
    order = _lead_order(x)
    y = _rows(x, order) @ w
    if b is not None:
        y += b
    return _unrows(y, x.shape[:-1], order), (x, w, b is not None)


def dense_backward(
    dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray, bool], need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Returns ``(dx, dw, db)`` with shapes ``(N, ..., D_in)``, ``(D_in, D_out)``, ``(D_out,)``.

    Equation (7) of ``docs/activations.md``.
    """
    x, w, has_bias = cache
    order = _lead_order(x)  # the rows of dout in the order of x's
    rows = _rows(dout, order)
    dw = _rows(x, order).T @ rows
    db = rows.sum(axis=0) if has_bias else None
    dx = _input_gradient(rows, w, x, order) if need_dx else None
    return dx, dw, db


def _input_gradient(rows: np.ndarray, w: np.ndarray, x: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``dx = dout @ w.T`` in the memory layout of ``x``: a feature-major ``x`` (its last axis the
    outermost in memory, as an LSTM's states) gets a feature-major ``dx``, which its producer reads
    a step at a time as contiguous rows (char-lstm's shard: 8 ms of strided reads less)."""
    strides = [abs(s) for s, n in zip(x.strides[:-1], x.shape[:-1], strict=True) if n > 1]
    if strides and abs(x.strides[-1]) > max(strides):
        dx_t = (w @ rows.T).reshape(w.shape[0], *(x.shape[k] for k in order))  # (D_in, rows...)
        return dx_t.transpose(*(1 + np.argsort(order)), 0)
    return _unrows(rows @ w.T, x.shape[:-1], order)


RECORDS = (
    OpRecord(name="dense", forward=dense_forward, backward=dense_backward, layers=("Dense",), family="dense",
             docs="activations.md", topic="dense (fully connected, on the last axis)"),
)  # fmt: skip
