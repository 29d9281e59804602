"""Pooling as its definition reads: one window at a time, max (ties: the first maximum in
row-major order, as PyTorch) or mean; the backward pass routes each window's gradient to its
maximum or spreads it evenly. The fast path of :mod:`scratchnet.ops.pool` is tested against these.
Derivation: ``docs/pooling.md``.
"""

from __future__ import annotations

import numpy as np

from .._util import conv_output_size, pair


def _windows(x_shape: tuple[int, ...], kernel_size, stride, step=None):
    """``(output index, input window)`` of every window; ``step``: the windows start at
    ``step * (i, j)`` instead of ``stride * (i, j)`` (the outputs stay the stride's)."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    th, tw = (sh, sw) if step is None else pair(step, "stride")
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    yield (n, c, i, j), (n, c, slice(th * i, th * i + kh), slice(tw * j, tw * j + kw))


def pool2d_naive(x: np.ndarray, kernel_size, stride=None, mode: str = "max") -> np.ndarray:
    """Max (``mode="max"``) or average (``mode="avg"``) over each window, one at a time.

    Equations (2) and (5) of ``docs/pooling.md``.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    N, C, H, W = x.shape
    y = np.zeros((N, C, conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)), dtype=x.dtype)
    reduce = np.max if mode == "max" else np.mean
    for out, window in _windows(x.shape, kernel_size, stride):
        y[out] = reduce(x[window])
    return y


def pool2d_backward_naive(
    dout: np.ndarray, x: np.ndarray, kernel_size, stride=None, mode: str = "max", *,
    every_tie: bool = False, divide: bool = True, backward_stride=None,
) -> np.ndarray:  # fmt: skip
    """``dx``: each window's gradient goes to its first maximum in row-major order (``max``) or
    is spread evenly over it (``avg``); overlapping windows add up.

    The mistakes, one switch each: ``every_tie`` (max: every element equal to the maximum gets
    the gradient), ``divide=False`` (avg: every element gets the window's whole gradient),
    ``backward_stride`` (the windows of the backward pass start at ``backward_stride * (i, j)``).

    Equations (3) and (6) of ``docs/pooling.md``.
    """
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for out, window in _windows(x.shape, kernel_size, stride, backward_stride):
        region = dx[window]  # a view: writing to it writes dx
        if mode == "max" and every_tie:
            region += dout[out] * (x[window] == x[window].max())
        elif mode == "max":
            u, v = np.unravel_index(np.argmax(x[window]), region.shape)  # argmax: the first maximum
            region[u, v] += dout[out]
        else:
            region += dout[out] / (region.size if divide else 1)
    return dx
