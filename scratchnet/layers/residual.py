r"""``Residual``: a skip connection around a block, :math:`y = x + f(x)`, or with a projection
shortcut :math:`y = s(x) + f(x)`.

Forward: :math:`y = x + f(x)` for any block :math:`f` (a layer or a ``Sequential``) whose output
has its input's shape; with ``shortcut=s`` (a layer, e.g. a 1x1 convolution of stride 2 where the
block halves the maps and doubles the channels, as in ResNet), :math:`y = s(x) + f(x)`, the two of
one shape. Backward, with :math:`g = \partial L/\partial y`: the sum has two paths to :math:`x`,
the skip and the block, and the chain rule adds them,

.. math::
    \frac{\partial L}{\partial x} = \Big(\frac{\partial s}{\partial x}\Big)^{\!\top} g
    + \Big(\frac{\partial f}{\partial x}\Big)^{\!\top} g ,

the first term being :math:`g` itself for the identity, the second what ``block.backward(g)``
returns; each path's parameter gradients are its own (the identity has none). The identity path
is why deep residual networks train: the gradient reaches early layers undiminished by the
block's Jacobian. Derivation:
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
    """``y = x + block(x)``, or ``shortcut(x) + block(x)`` (see the module docstring).
    ``block``, ``shortcut``: a layer or a ``Sequential``.

    Equations (1) and (2) of ``docs/residual.md``.
    """

    def __init__(self, block: Any, shortcut: Any = None) -> None:
        super().__init__()
        for what, layer in (("block", block), ("shortcut", shortcut)):
            if layer is not None and not isinstance(layer, Layer):
                raise TypeError(f"Residual: the {what} {layer!r} is not a layer")
        self.block = block
        self.shortcut = shortcut

    def __repr__(self) -> str:
        inner = repr(self.block).replace("\n", "\n  ")
        if self.shortcut is None:
            return f"Residual({inner})"
        skip = repr(self.shortcut).replace("\n", "\n  ")
        return f"Residual({inner},\n  shortcut={skip})"

    # --- shapes --------------------------------------------------------------------------------
    def check_input(self, shape: tuple) -> tuple:
        out = self.block.check_input(tuple(shape))
        skip = tuple(shape) if self.shortcut is None else self.shortcut.check_input(tuple(shape))
        if tuple(out) != tuple(skip):
            how = "x" if self.shortcut is None else "shortcut(x)"
            raise ValueError(f"Residual: the block maps {format_shape(tuple(shape))} to "
                             f"{format_shape(tuple(out))} but {how} is {format_shape(tuple(skip))}; "
                             f"y = {how} + block(x) needs the two of one shape"
                             + ("" if self.shortcut else " (give a shortcut that projects x)"))  # fmt: skip
        return tuple(out)

    def macs(self, input_shape: Shape) -> int:
        skip = 0 if self.shortcut is None else self.shortcut.macs(tuple(input_shape))
        return int(self.block.macs(tuple(input_shape))) + int(skip)

    def summary_rows(self, input_shape: Shape, depth: int = 0,
                     seen: set[int] | None = None) -> tuple[list[Row], Shape]:  # fmt: skip
        """A line where the block opens, the block's rows one level in, the shortcut's, a line
        where the two paths join."""
        shape = self.output_shape(input_shape)  # the two paths must agree
        seen = set() if seen is None else seen
        inner, _ = self.block.summary_rows(input_shape, depth + 1, seen)
        rows = [Row(depth, "Residual: y = x + block(x), block:" if self.shortcut is None else
                    "Residual: y = shortcut(x) + block(x), block:", None), *inner]  # fmt: skip
        if self.shortcut is not None:
            skip, _ = self.shortcut.summary_rows(input_shape, depth + 1, seen)
            rows += [Row(depth, "shortcut:", None), *skip]
        joins = "+ x (the skip path joins)" if self.shortcut is None else "+ (the shortcut joins)"
        return [*rows, Row(depth, joins, tuple(shape))], tuple(shape)

    # --- the passes ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        fx = self.block.forward(x)
        sx = x if self.shortcut is None else self.shortcut.forward(x)
        if fx.shape != sx.shape:
            self.check_input(x.shape)
        return sx + fx

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        through_block = self.block.backward(dout, need_dx=need_dx)
        if self.shortcut is None:
            return dout + through_block if need_dx else None
        through_skip = self.shortcut.backward(dout, need_dx=need_dx)
        return through_skip + through_block if need_dx else None
