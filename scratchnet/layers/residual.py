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

The block's layers are the residual's: ``modules()``/``named_modules()`` yield them, so models
save, load, fuse, summarise, draw and shard through a residual as through a nested
``Sequential``; :func:`walk` gives the structure (where a block opens and where its skip joins).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .base import Layer, Shape, format_shape


class Residual(Layer):
    """``y = x + block(x)`` (see the module docstring). ``block``: a layer or a ``Sequential``."""

    def __init__(self, block: Any) -> None:
        super().__init__()
        if not (hasattr(block, "forward") and hasattr(block, "backward")):
            raise TypeError(f"Residual: {block!r} is not a layer")
        self.block = block

    def __repr__(self) -> str:
        inner = repr(self.block).replace("\n", "\n  ")
        return f"Residual({inner})"

    def _saved(self) -> object:
        if self._cache is None:
            raise RuntimeError(f"Residual({type(self.block).__name__}): backward() called before forward()")
        return self._cache

    # --- a container: its layers are the block's -------------------------------------------
    def modules(self) -> Iterator[Layer]:
        yield from self.block.modules()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        if hasattr(self.block, "named_modules"):
            yield from self.block.named_modules(prefix)
        else:
            yield prefix.rstrip("."), self.block

    def train(self, mode: bool = True) -> Residual:
        self.training = mode
        self.block.train(mode)
        return self

    def astype(self, dtype: np.dtype | type) -> Residual:
        self.block.astype(dtype)
        return self

    def num_parameters(self) -> int:
        return sum(m.num_parameters() for m in self.modules())

    def parameters(self, prefix: str = "") -> list:
        return [p for name, m in self.named_modules(prefix) for p in m.parameters(f"{name}.")]

    # --- shapes --------------------------------------------------------------------------------
    def check_input(self, shape: tuple) -> tuple:
        out = _block_output(self.block, tuple(shape))
        if tuple(out) != tuple(shape):
            raise ValueError(f"Residual: the block maps {format_shape(tuple(shape))} to "
                             f"{format_shape(tuple(out))}; y = x + block(x) needs a block that keeps the shape")
        return tuple(shape)

    def macs(self, input_shape: Shape) -> int:
        return int(self.block.macs(tuple(input_shape)))

    # --- the passes ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        fx = self.block.forward(x)
        if fx.shape != x.shape:
            self.check_input(x.shape)
        self._cache = True
        return x + fx

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        self._saved()
        through_block = self.block.backward(dout, need_dx=need_dx)
        return dout + through_block if need_dx else None


def _block_output(block: Any, shape: tuple) -> tuple:
    """The block's full output shape for a full input ``shape`` (batch axis first)."""
    if hasattr(block, "layers"):  # a Sequential
        for layer in block.layers:
            shape = _block_output(layer, shape)
        return shape
    return tuple(block.check_input(shape))


def walk(model: Any, depth: int = 0) -> Iterator[tuple[str, int, Any]]:
    """The structure of a model: ``("layer", depth, layer)`` for each leaf layer in order,
    ``("open", depth, residual)`` before a residual block's layers (which come at ``depth + 1``)
    and ``("add", depth, residual)`` where its skip path joins. What ``summary`` and ``plot``
    draw."""
    for layer in getattr(model, "layers", [model]):
        if isinstance(layer, Residual):
            yield "open", depth, layer
            yield from walk(layer.block, depth + 1)
            yield "add", depth, layer
        elif hasattr(layer, "layers"):
            yield from walk(layer, depth)
        else:
            yield "layer", depth, layer
