"""A convolution followed by a 2x2 max-pool, from the two loop versions: what the fused op of
:mod:`scratchnet.ops.convpool` computes in one pass. Derivation: ``docs/conv.md``.
"""

from __future__ import annotations

import numpy as np

from .conv import conv2d_backward_naive, conv2d_naive
from .pool import pool2d_backward_naive, pool2d_naive


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
