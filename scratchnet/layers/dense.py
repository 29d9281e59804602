"""``Dense``: a stateful wrapper around :mod:`scratchnet.ops.dense`."""

from __future__ import annotations

import numpy as np

from ..ops.dense import dense_backward, dense_forward
from .base import Layer, Shape, shape_error
from .init import he_normal, make_rng


class Dense(Layer):
    r"""Fully connected layer :math:`y = xW + b`.

    Backward: :math:`\partial L/\partial x = G W^\top`, :math:`\partial L/\partial W = x^\top G`,
    :math:`\partial L/\partial b = \sum_n G_n` (see :mod:`scratchnet.ops.dense`).

    Parameters: ``W`` of shape ``(in_features, out_features)`` (He-normal init), ``b`` of shape
    ``(out_features,)`` (zeros). Input ``(N, in_features)``, output ``(N, out_features)``; an input
    ``(N, ..., in_features)`` (a sequence) is transformed along its last axis.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: np.dtype | type = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        if self.in_features < 1 or self.out_features < 1:
            raise ValueError(f"{self!r}: feature counts must be >= 1")
        gen = make_rng(rng)
        self.params["W"] = he_normal((self.in_features, self.out_features), self.in_features, gen, dtype)
        if bias:
            self.params["b"] = np.zeros(self.out_features, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}" + ("" if "b" in self.params else ", bias=False")

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) < 2 or shape[-1] != self.in_features:
            expected = f"(N, {self.in_features})" + (
                "" if len(shape) <= 2 else f" or (N, ..., {self.in_features})"
            )
            raise shape_error(self, expected, shape)
        return (*shape[:-1], self.out_features)

    def macs(self, input_shape: Shape) -> int:
        self.output_shape(input_shape)
        return int(np.prod(input_shape[:-1], dtype=np.int64)) * self.in_features * self.out_features

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        y, self._cache = dense_forward(x, self.params["W"], self.params.get("b"))
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        if not self.trainable:  # frozen: the input gradient only
            return dout @ self.params["W"].T if need_dx else None
        dx, dw, db = dense_backward(dout, self._saved(), need_dx=need_dx)
        self._set_grad("W", dw)
        if db is not None:
            self._set_grad("b", db)
        return dx
