r"""The 2x2 max-pool as a two-level tournament that records its winners (written once).

For the window :math:`\begin{bmatrix} a & b \\ c & d \end{bmatrix}`:

.. math::
    t = \max(a, b),\quad u = \max(c, d),\quad y = \max(t, u),

    r_t = [b > a],\quad r_b = [d > c],\quad r = [u > t].

Strict comparisons keep the earlier element on ties, so the winner is the first maximum in
row-major order (PyTorch's rule). A window holding a NaN outputs NaN and its winner is its *last*
NaN in row-major order, as in PyTorch (whose scan takes an element when ``val > max`` or ``val``
is NaN): each comparison is then also won by a NaN challenger, :math:`r_t = [b > a] \lor [b \ne b]`,
and likewise :math:`r_b` and :math:`r`. Those extra passes run only on the blocks whose output
holds a NaN (one maximum per block tells). The backward pass needs only the three boolean arrays:
:math:`g_1 = g\,r` (the bottom row won), :math:`g_0 = g - g_1`, then
:math:`\partial b = g_0 r_t`, :math:`\partial a = g_0 - \partial b`, :math:`\partial d = g_1 r_b`,
:math:`\partial c = g_1 - \partial d`. Every product is exactly :math:`g` or 0, so the routing is
exact. Six element-wise passes each way.

Used by :func:`scratchnet.ops.pool.maxpool2d_forward` (on strided views of an image, a few images
at a time) and by :func:`scratchnet.ops.convpool.convpool2d_forward` (on the four contiguous
blocks of a convolution's output rows). Derivation: ``docs/pooling.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .record import OpRecord


class Winners(NamedTuple):
    """Which element won each window, as three boolean arrays shaped like the output."""

    right_in_top: np.ndarray  # b > a
    right_in_bottom: np.ndarray  # d > c
    bottom_row: np.ndarray  # max(c, d) > max(a, b)


def tournament_forward(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    out: np.ndarray,
    bottom_max: np.ndarray,
    winners: Winners,
) -> None:
    """``out = max(a, b, c, d)`` element-wise, recording the winners; ``bottom_max`` is scratch.

    All arrays have the same shape (views allowed); ``out`` must not alias the inputs.

    Equation (4) of ``docs/pooling.md``.
    """
    np.maximum(a, b, out=out)  # the top row's maximum, for now
    np.greater(b, a, out=winners.right_in_top)
    np.maximum(c, d, out=bottom_max)
    np.greater(d, c, out=winners.right_in_bottom)
    np.greater(bottom_max, out, out=winners.bottom_row)
    np.maximum(out, bottom_max, out=out)
    if out.size and np.isnan(out.max()):  # max propagates NaN (one SIMD pass): a NaN wins (PyTorch)
        for won, challenger in zip(winners, (b, d, bottom_max), strict=True):
            np.logical_or(won, np.isnan(challenger), out=won)


def tournament_backward(
    g: np.ndarray,
    winners: Winners,
    da: np.ndarray,
    db: np.ndarray,
    dc: np.ndarray,
    dd: np.ndarray,
    g_top: np.ndarray,
    g_bottom: np.ndarray,
) -> None:
    """Route the window gradients ``g`` to the winners: writes ``da, db, dc, dd`` (the gradients
    of the four window elements); ``g_top`` and ``g_bottom`` are scratch.

    Equation (4) of ``docs/pooling.md``.
    """
    np.multiply(g, winners.bottom_row, out=g_bottom)
    np.subtract(g, g_bottom, out=g_top)
    np.multiply(g_top, winners.right_in_top, out=db)
    np.subtract(g_top, db, out=da)
    np.multiply(g_bottom, winners.right_in_bottom, out=dd)
    np.subtract(g_bottom, dd, out=dc)


RECORDS = (
    OpRecord(name="tournament", forward=tournament_forward, backward=tournament_backward, layers=(),
             family="pool", docs="pooling.md", topic="the 2x2 max-pool as a tournament"),
)  # fmt: skip
