"""``MaxPool2D`` and ``AvgPool2D``: stateful wrappers around :mod:`scratchnet.ops.pool`."""

from __future__ import annotations

import numpy as np

from ..ops._util import pair
from ..ops.pool import (
    avgpool2d_backward,
    avgpool2d_forward,
    global_avgpool2d_backward,
    global_avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from ..shapes import pool2d_shape
from .base import Layer, shape_error


class _Pool2D(Layer):
    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{self!r}: kernel_size and stride must be >= 1")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 4:
            raise shape_error(self, "(N, C, H, W)", shape)
        N, C, H, W = shape
        kh, kw = self.kernel_size
        if kh > H or kw > W:
            raise ValueError(f"{self!r}: kernel {kh}x{kw} is larger than the input {H}x{W}")
        return (N, *pool2d_shape((C, H, W), self.kernel_size, self.stride).output_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        y, self._cache = self._fwd(x, self.kernel_size, self.stride, self.workspace)
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        cache = self._saved()
        return self._bwd(dout, cache, self.workspace) if need_dx else None


class MaxPool2D(_Pool2D):
    r"""Max pooling, :math:`y_{n,c,i,j} = \max_{u,v} x_{n,c,s_h i+u,s_w j+v}` (no padding).

    Backward routes each window's gradient to its first arg-max (row-major order, PyTorch's
    rule); overlapping windows accumulate. Stride defaults to the kernel size. Rows/columns that
    do not fill a window are dropped (``floor``). See :mod:`scratchnet.ops.pool`.
    """

    _fwd = staticmethod(maxpool2d_forward)
    _bwd = staticmethod(maxpool2d_backward)


class AvgPool2D(_Pool2D):
    r"""Average pooling, :math:`y_{n,c,i,j} = \frac{1}{k_h k_w}\sum_{u,v} x_{n,c,s_h i+u,s_w j+v}`.

    Backward spreads each window's gradient evenly over its :math:`k_h k_w` inputs; overlapping
    windows accumulate. Stride defaults to the kernel size. See :mod:`scratchnet.ops.pool`.
    """

    _fwd = staticmethod(avgpool2d_forward)
    _bwd = staticmethod(avgpool2d_backward)


class GlobalAvgPool2D(Layer):
    r"""The mean of each channel: ``(N, C, H, W) -> (N, C)``, :math:`y_{n,c} = \frac{1}{HW}\sum_{h,w}
    x_{n,c,h,w}`; backward :math:`\partial L/\partial x_{n,c,h,w} = g_{n,c}/(HW)`. What replaces
    the flatten + large dense layer of a classifier head (no parameters, any image size)."""

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 4:
            raise shape_error(self, "(N, C, H, W)", shape)
        return tuple(shape[:2])

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        y, self._cache = global_avgpool2d_forward(x)
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        cache = self._saved()
        return global_avgpool2d_backward(dout, cache) if need_dx else None
