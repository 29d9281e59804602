r"""1-D convolution and cross-correlation of two vectors, modes ``valid``, ``same`` and ``full``.

For a signal :math:`x` of length :math:`n` and a kernel :math:`w` of length :math:`k \le n`, the
**full cross-correlation** slides :math:`w` over :math:`x` zero-padded by :math:`k-1` on both sides:

.. math::
    y^{full}_i = \sum_{j=0}^{k-1} w_j\, \tilde x_{i+j},\qquad \tilde x = [0^{k-1}, x, 0^{k-1}],\quad
    i = 0 \dots n+k-2.

The modes keep a window of it (NumPy's ``np.correlate`` / ``np.convolve`` conventions):
``valid`` the :math:`n-k+1` positions where :math:`w` lies inside :math:`x` (start :math:`k-1`),
``same`` :math:`n` positions centred (start :math:`\lfloor (k-1)/2 \rfloor`), ``full`` all. The
**convolution** flips the kernel first: :math:`(x * w) = \operatorname{xcorr}(x, w^{\leftarrow})`,
:math:`w^{\leftarrow}_j = w_{k-1-j}` (CNN "convolutions" are cross-correlations: no flip).

Backward, with :math:`g` the upstream gradient placed back into a zero :math:`g^{full}`:

.. math::
    \frac{\partial L}{\partial \tilde x_m} = \sum_j g^{full}_{m-j} w_j \quad (\text{a full
    convolution of } g^{full} \text{ with } w),

    \frac{\partial L}{\partial w_j} = \sum_i g^{full}_i \tilde x_{i+j} \quad(\text{a valid
    cross-correlation of } \tilde x \text{ with } g^{full}),

and :math:`\partial L/\partial x` is the centre of :math:`\partial L/\partial \tilde x`; a flipped
kernel's gradient is flipped back. Every sum is a ``sliding_window_view`` and one product.
Derivation and the worked example ``[1,2,3,4]`` with ``[1,0,2]``: ``docs/exercises.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .record import OpRecord

MODES = ("valid", "same", "full")


class Conv1DCache(NamedTuple):
    x_padded: np.ndarray
    kernel: np.ndarray  # as slid over x (flipped for a convolution)
    flip: bool
    start: int  # where the mode's window starts in the full output
    n: int


def _window(n: int, k: int, mode: str) -> tuple[int, int]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not 1 <= k <= n:
        raise ValueError(f"the kernel (length {k}) must not be longer than the signal (length {n})")
    return {"valid": (k - 1, n - k + 1), "same": ((k - 1) // 2, n), "full": (0, n + k - 1)}[mode]


def conv1d_forward(x: np.ndarray, w: np.ndarray, mode: str = "valid", flip: bool = False
                   ) -> tuple[np.ndarray, Conv1DCache]:  # fmt: skip
    """Cross-correlation (``flip=False``) or convolution (``flip=True``) of vectors ``x`` and ``w``.

    Equation (10) of ``docs/conv.md``.
    """
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 1 or w.ndim != 1:
        raise ValueError(f"conv1d: expected two vectors, got shapes {x.shape} and {w.shape}")
    n, k = len(x), len(w)
    start, length = _window(n, k, mode)
    kernel = w[::-1] if flip else w
    x_padded = np.pad(x, k - 1)
    full = sliding_window_view(x_padded, k) @ kernel  # (n + k - 1,)
    return full[start : start + length], Conv1DCache(x_padded, kernel, flip, start, n)


def conv1d_backward(dout: np.ndarray, cache: Conv1DCache) -> tuple[np.ndarray, np.ndarray]:
    """``(dx, dw)`` for :func:`conv1d_forward`."""
    x_padded, kernel, flip, start, n = cache
    k = len(kernel)
    g_full = np.zeros(n + k - 1, dtype=np.result_type(dout, kernel))
    g_full[start : start + len(dout)] = dout
    # d x_padded[m] = sum_j g_full[m - j] kernel[j]: slide the flipped kernel over g_full padded by k-1
    dx_padded = sliding_window_view(np.pad(g_full, k - 1), k) @ kernel[::-1]
    dkernel = sliding_window_view(x_padded, len(g_full)) @ g_full  # (k,)
    return dx_padded[k - 1 : k - 1 + n], dkernel[::-1] if flip else dkernel


RECORDS = (
    OpRecord(name="conv1d", forward=conv1d_forward, backward=conv1d_backward, layers=("Conv1D",), family="conv",
             docs="conv.md", topic="1-D convolution"),
)  # fmt: skip
