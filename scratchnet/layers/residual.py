r"""``Residual``: a skip connection around a block, :math:`y = x + f(x)`.

Forward: :math:`y = x + f(x)` for any block :math:`f` (a layer or a ``Sequential``) whose output
has its input's shape. Backward, with :math:`g = \partial L/\partial y`: the sum has two paths to
:math:`x`, the identity and the block, and the chain rule adds them,

.. math::
    \frac{\partial L}{\partial x} = g + \Big(\frac{\partial f}{\partial x}\Big)^{\!\top} g ,

the second term being what ``block.backward(g)`` returns; the block's parameter gradients are its
own (the skip path has no parameters). The identity path is why deep residual networks train:
the gradient reaches early layers undiminished by the block's Jacobian. Derivation:
``docs/residual.md``.

The block is the residual's child (named ``block``: its parameters are ``"block.0.W"``, ...),
registered like any layer's children (:mod:`scratchnet.layers.base`), so models save, load,
fuse, summarise, draw and shard through a residual as through any block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer, Shape, format_shape
from .summary import Row


class Residual(Layer):
    """``y = x + block(x)`` (see the module docstring). ``block``: a layer or a ``Sequential``."""

    def __init__(self, block: Any) -> None:
        super().__init__()
        if not isinstance(block, Layer):
            raise TypeError(f"Residual: {block!r} is not a layer")
        self.block = block

    def __repr__(self) -> str:
        inner = repr(self.block).replace("\n", "\n  ")
        return f"Residual({inner})"

    # --- shapes --------------------------------------------------------------------------------
    def check_input(self, shape: tuple) -> tuple:
        out = self.block.check_input(tuple(shape))
        if tuple(out) != tuple(shape):
            raise ValueError(f"Residual: the block maps {format_shape(tuple(shape))} to "
                             f"{format_shape(tuple(out))}; y = x + block(x) needs a block that keeps the shape")
        return tuple(shape)

    def macs(self, input_shape: Shape) -> int:
        return int(self.block.macs(tuple(input_shape)))

    def summary_rows(self, input_shape: Shape, depth: int = 0,
                     seen: set[int] | None = None) -> tuple[list[Row], Shape]:  # fmt: skip
        """A line where the block opens, the block's rows one level in, a line where the skip joins."""
        self.output_shape(input_shape)  # the block must keep the shape
        inner, _ = self.block.summary_rows(input_shape, depth + 1, set() if seen is None else seen)
        shape = tuple(input_shape)
        return [Row(depth, "Residual: y = x + block(x), block:", None), *inner,
                Row(depth, "+ x (the skip path joins)", shape)], shape  # fmt: skip

    # --- the passes ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        fx = self.block.forward(x)
        if fx.shape != x.shape:
            self.check_input(x.shape)
        return x + fx

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        through_block = self.block.backward(dout, need_dx=need_dx)
        return dout + through_block if need_dx else None
