"""Slow, obviously-correct loop implementations of conv and pooling (forward only).

For tests and for reading: they follow the defining sums literally, one output element at a time.
Never used in a training path. The fast ops in :mod:`scratchnet.ops.conv` and
:mod:`scratchnet.ops.pool` are checked against these.
"""

from __future__ import annotations

import numpy as np

from ._util import conv_output_size, pad2d, pair


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride=1, padding=0) -> np.ndarray:
    """``y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] * xpad[n, c, sh*i+u, sw*j+v]``."""
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    N, _, H, W = x.shape
    Co, _, kh, kw = w.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    xp = pad2d(x, ph, pw)
    y = np.zeros((N, Co, Ho, Wo), dtype=np.result_type(x, w))
    for n in range(N):
        for o in range(Co):
            for i in range(Ho):
                for j in range(Wo):
                    patch = xp[n, :, sh * i : sh * i + kh, sw * j : sw * j + kw]
                    y[n, o, i, j] = np.sum(patch * w[o]) + (0 if b is None else b[o])
    return y


def pool2d_naive(x: np.ndarray, kernel_size, stride=None, mode: str = "max") -> np.ndarray:
    """Max (``mode="max"``) or average (``mode="avg"``) over each window, one at a time."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)
    reduce = np.max if mode == "max" else np.mean
    y = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    y[n, c, i, j] = reduce(x[n, c, sh * i : sh * i + kh, sw * j : sw * j + kw])
    return y
