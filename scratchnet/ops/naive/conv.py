"""The convolution as its definition reads: loops over images, output channels and output
positions, one receptive field at a time. Read this first; the fast path of
:mod:`scratchnet.ops.conv` (im2col + one GEMM) computes the same numbers and is tested against
these loops (the ``reference`` check of ``tests/op_table.py``).

The backward pass has three switches, each one classic mistake made on purpose (``flip``: a true
convolution instead of the cross-correlation; ``keep_padding``: ``dx`` returned with its zero
border; ``backward_stride``: the windows slid by another stride than the forward's). The checker
of students' code (:mod:`scratchnet.check.ops`) computes its catalogued wrong answers with them,
so that a mistake is this one switch away from the right answer, not a second implementation.
Derivation: ``docs/conv.md``.
"""

from __future__ import annotations

import numpy as np

from .._util import conv_output_size, pad2d, pair
from ..conv import dilated


def _conv_geometry(x: np.ndarray, w: np.ndarray, stride, padding, dilation=1):
    (sh, sw), (ph, pw), (dh, dw) = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    _, _, H, W = x.shape
    _, _, kh, kw = w.shape
    span_h, span_w = dilated(kh, dh), dilated(kw, dw)
    out = conv_output_size(H, span_h, sh, ph), conv_output_size(W, span_w, sw, pw)
    return (sh, sw), (ph, pw), (dh, dw), (span_h, span_w), out


def _receptive_field(n: int, i: int, j: int, stride, dilation, span) -> tuple:
    """The index of the taps of output ``(i, j)`` of image ``n`` in the padded input."""
    (sh, sw), (dh, dw), (span_h, span_w) = stride, dilation, span
    return (n, slice(None), slice(sh * i, sh * i + span_h, dh), slice(sw * j, sw * j + span_w, dw))


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride=1, padding=0,
                 dilation=1, *, flip: bool = False) -> np.ndarray:  # fmt: skip
    r""":math:`y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\,\tilde x_{n,c,\,s_h i + d_h u,\,s_w j + d_w v}`
    (:math:`\tilde x` the padded input, :math:`s` the stride, :math:`d` the dilation).
    ``flip=True``: the kernel flipped in both axes first (a true convolution, the mistake).

    Equation (2) of ``docs/conv.md``.
    """
    st, (ph, pw), dil, span, (Ho, Wo) = _conv_geometry(x, w, stride, padding, dilation)
    xp = pad2d(x, ph, pw)
    wk = w[:, :, ::-1, ::-1] if flip else w
    y = np.zeros((x.shape[0], w.shape[0], Ho, Wo), dtype=np.result_type(x, w))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[_receptive_field(n, i, j, st, dil, span)]
                    y[n, o, i, j] = np.sum(patch * wk[o]) + (0 if b is None else b[o])
    return y


def conv2d_backward_naive(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride=1, padding=0, dilation=1, *,
    flip: bool = False, keep_padding: bool = False, backward_stride=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """``(dx, dw, db)`` by the chain rule, one output element at a time: each ``dout[n,o,i,j]``
    adds ``dout * w[o]`` to its receptive field of ``dxpad`` and ``dout * patch`` to ``dw[o]``;
    ``db[o]`` sums ``dout[:, o]``. The padded border of ``dxpad`` is dropped at the end.

    The mistakes, one switch each: ``flip`` (the gradients of the true convolution: the flipped
    kernel's, ``dw`` flipped back by the chain rule through the flip), ``keep_padding`` (``dxpad``
    returned whole), ``backward_stride`` (the windows of the backward pass start at
    ``backward_stride * (i, j)`` instead of ``stride * (i, j)``).

    Equation (1) of ``docs/exercises.md``.
    """
    st, (ph, pw), dil, span, (Ho, Wo) = _conv_geometry(x, w, stride, padding, dilation)
    if backward_stride is not None:
        st = pair(backward_stride, "stride")
    xp = pad2d(x, ph, pw)
    wk = w[:, :, ::-1, ::-1] if flip else w
    dxp = np.zeros(xp.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=dxp.dtype)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for i in range(Ho):
                for j in range(Wo):
                    window = _receptive_field(n, i, j, st, dil, span)
                    dxp[window] += dout[n, o, i, j] * wk[o]
                    dw[o] += dout[n, o, i, j] * xp[window]
    H, W = x.shape[2:]
    dx = dxp if keep_padding else dxp[:, :, ph : ph + H, pw : pw + W]
    return dx, dw[:, :, ::-1, ::-1] if flip else dw, dout.sum(axis=(0, 2, 3))
