"""Slow, obviously-correct loop twins of the fast conv and pooling passes, forward and backward.

For tests and for reading: they follow the defining sums literally, one output element (one
window) at a time. Never used in a training path. The fast ops in :mod:`scratchnet.ops.conv`,
:mod:`scratchnet.ops.pool` and :mod:`scratchnet.ops.convpool` are checked against these on random
configurations (``tests/test_ops.py``, the ``reference`` check of the op table).
"""

from __future__ import annotations

import numpy as np

from ._util import conv_output_size, pad2d, pair


def _conv_geometry(x: np.ndarray, w: np.ndarray, stride, padding, dilation=1):
    (sh, sw), (ph, pw), (dh, dw) = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    _, _, H, W = x.shape
    _, _, kh, kw = w.shape
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    out = conv_output_size(H, span_h, sh, ph), conv_output_size(W, span_w, sw, pw)
    return (sh, sw), (ph, pw), (dh, dw), (span_h, span_w), out


def _receptive_field(n: int, i: int, j: int, stride, dilation, span) -> tuple:
    """The index of the taps of output ``(i, j)`` of image ``n`` in the padded input."""
    (sh, sw), (dh, dw), (span_h, span_w) = stride, dilation, span
    return (n, slice(None), slice(sh * i, sh * i + span_h, dh), slice(sw * j, sw * j + span_w, dw))


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride=1, padding=0,
                 dilation=1) -> np.ndarray:  # fmt: skip
    r""":math:`y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\,\tilde x_{n,c,\,s_h i + d_h u,\,s_w j + d_w v}`
    (:math:`\tilde x` the padded input, :math:`s` the stride, :math:`d` the dilation).

    Equation (2) of ``docs/conv.md``.
    """
    st, (ph, pw), dil, span, (Ho, Wo) = _conv_geometry(x, w, stride, padding, dilation)
    xp = pad2d(x, ph, pw)
    y = np.zeros((x.shape[0], w.shape[0], Ho, Wo), dtype=np.result_type(x, w))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[_receptive_field(n, i, j, st, dil, span)]
                    y[n, o, i, j] = np.sum(patch * w[o]) + (0 if b is None else b[o])
    return y


def conv2d_backward_naive(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride=1, padding=0, dilation=1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dw, db)`` by the chain rule, one output element at a time: each ``dout[n,o,i,j]``
    adds ``dout * w[o]`` to its receptive field of ``dxpad`` and ``dout * patch`` to ``dw[o]``;
    ``db[o]`` sums ``dout[:, o]``. The padded border of ``dxpad`` is dropped at the end.

    Equation (1) of ``docs/exercises.md``.
    """
    st, (ph, pw), dil, span, (Ho, Wo) = _conv_geometry(x, w, stride, padding, dilation)
    xp = pad2d(x, ph, pw)
    dxp = np.zeros(xp.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=dxp.dtype)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for i in range(Ho):
                for j in range(Wo):
                    window = _receptive_field(n, i, j, st, dil, span)
                    dxp[window] += dout[n, o, i, j] * w[o]
                    dw[o] += dout[n, o, i, j] * xp[window]
    H, W = x.shape[2:]
    return dxp[:, :, ph : ph + H, pw : pw + W], dw, dout.sum(axis=(0, 2, 3))


def _windows(x_shape: tuple[int, ...], kernel_size, stride):
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    yield (n, c, i, j), (n, c, slice(sh * i, sh * i + kh), slice(sw * j, sw * j + kw))


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
    dout: np.ndarray, x: np.ndarray, kernel_size, stride=None, mode: str = "max"
) -> np.ndarray:
    """``dx``: each window's gradient goes to its first maximum in row-major order (``max``) or
    is spread evenly over it (``avg``); overlapping windows add up.

    Equations (3) and (6) of ``docs/pooling.md``.
    """
    dx = np.zeros(x.shape, dtype=dout.dtype)
    for out, window in _windows(x.shape, kernel_size, stride):
        region = dx[window]  # a view: writing to it writes dx
        if mode == "max":
            u, v = np.unravel_index(np.argmax(x[window]), region.shape)  # argmax: the first maximum
            region[u, v] += dout[out]
        else:
            region += dout[out] / region.size
    return dx


def convpool2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride=1, padding=0,
                     dilation=1) -> np.ndarray:  # fmt: skip
    """``maxpool2d(conv2d(x), 2)`` from the two loop versions."""
    return pool2d_naive(conv2d_naive(x, w, b, stride, padding, dilation), 2)


def convpool2d_backward_naive(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride=1, padding=0, dilation=1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chain rule through the two loop versions: pool backward, then conv backward."""
    y = conv2d_naive(x, w, b, stride, padding, dilation)
    return conv2d_backward_naive(pool2d_backward_naive(dout, y, 2), x, w, stride, padding, dilation)
