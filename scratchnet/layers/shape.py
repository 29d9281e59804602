"""Layers that only change the shape of their input."""

from __future__ import annotations

import math

import numpy as np

from ..ops._util import is_channels_last
from ..ops.workspace import scratch
from .base import Layer, shape_error


class Flatten(Layer):
    """``(N, d1, d2, ...) -> (N, d1*d2*...)``; backward reshapes the gradient back."""

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) < 2:
            raise shape_error(self, "(N, d1, ...) with at least 2 axes", shape)
        return (shape[0], math.prod(shape[1:]))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        self._cache = (x.shape, is_channels_last(x))
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """The gradient reshaped back, stored in the memory layout the input had (a
        channels-last input gets a channels-last gradient, so the layers before stay fast)."""
        shape, channels_last = self._saved()
        if not need_dx:
            return None
        dx = dout.reshape(shape)
        if channels_last and not is_channels_last(dx):
            out = scratch(self.workspace, "dx", shape, dout.dtype, channels_last=True, output=True)
            np.copyto(out, dx)
            dx = out
        return dx


class Identity(Layer):
    """``y = x``; backward passes the gradient through unchanged."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._cache = True
        return x

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        self._saved()
        return dout if need_dx else None


class Reshape(Layer):
    """``(N, ...) -> (N, *shape)`` (same number of values per sample); backward reshapes back.

    E.g. ``Reshape((28, 28))`` turns ``(N, 1, 28, 28)`` images into sequences of 28 rows of 28
    values for a recurrent layer.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def extra_repr(self) -> str:
        return str(self.shape)

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) < 1 or math.prod(shape[1:]) != math.prod(self.shape):
            raise shape_error(self, f"(N, ...) with {math.prod(self.shape)} values per sample", shape)
        return (shape[0], *self.shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        self._cache = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        shape = self._saved()
        return dout.reshape(shape) if need_dx else None
