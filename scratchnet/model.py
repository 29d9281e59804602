"""``Sequential``: a chain of layers; the forward and backward passes through it, in order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .layers.base import Layer, Shape
from .layers.calls import pass_modules
from .layers.summary import Row


class Sequential(Layer):
    """Layers applied one after another: a plain chain.

    ``forward(x)`` runs the layers in order; ``backward(grad)`` runs their backward passes in
    reverse, filling every layer's ``grads``, and returns the gradient w.r.t. the input.
    A ``Sequential`` is a layer: it can be used inside another model or block. Everything else
    (parameters named ``"<index>.<key>"``, modes, ``state_dict``/``save``/``load``, ``predict``,
    ``summary``, ``plot``) is every layer's, from :class:`~scratchnet.layers.Layer`. The same layer
    may stand at several places of the chain: its parameter gradients are then the sum over
    its uses (:mod:`scratchnet.layers.calls`).

    Memory: each layer's ops reuse their output arrays from one step to the next
    (``workspace.reuse_outputs``, see :mod:`scratchnet.ops.workspace`), which is safe because
    each output is consumed by the next layer before its producer runs again (a layer used
    twice has scratch memory per use); what ``forward`` and ``backward`` return to the caller
    is never such an array.

    Faster execution is an explicit step: :func:`scratchnet.fuse` returns an equivalent model
    with convolution + 2x2 max-pool pairs fused (the model zoo builds fused models).

    Example::

        model = Sequential(Conv2D(1, 8, 3, padding=1), ReLU(), MaxPool2D(2),
                           Flatten(), Dense(8 * 14 * 14, 10))
        model.summary((1, 28, 28))
    """

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} ({layer!r}) is not a layer")
        self.layers: list[Layer] = list(layers)
        for layer in self.modules():
            layer.workspace.reuse_outputs = True

    def named_children(self) -> Iterator[tuple[str, Layer]]:
        """The layers, named by their index: ``"0"``, ``"1"``, ..."""
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    # --- the forward / backward passes -----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return self._handed_out(x)

    def _handed_out(self, a: np.ndarray | None) -> np.ndarray | None:
        """``a`` itself, or a copy if it lives in a layer's workspace (reused next step)."""
        if a is not None and any(_owns(m, a) for m in pass_modules(self)):
            return a.copy()
        return a

    def backward(self, grad: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Backpropagate ``grad`` (d loss / d output) through all layers, last to first.

        With ``need_dx=False`` the input gradient is not computed: layers in front of the first
        layer with parameters are skipped entirely and that layer skips its input gradient
        (what a training step wants; it saves the whole ``col2im`` of a first conv layer).
        """
        first_needed = 0
        if not need_dx:
            with_params = [k for k, layer in enumerate(self.layers) if _has_params(layer)]
            if not with_params:
                return None
            first_needed = with_params[0]
        for k in range(len(self.layers) - 1, first_needed - 1, -1):
            grad = self.layers[k].backward(grad, need_dx=need_dx or k > first_needed)
        return self._handed_out(grad)

    # --- shapes ------------------------------------------------------------------------------
    def check_input(self, shape: tuple) -> tuple:
        for layer in self.layers:
            shape = layer.check_input(tuple(shape))
        return tuple(shape)

    def macs(self, input_shape: Shape) -> int:
        total, shape = 0, tuple(input_shape)
        for layer in self.layers:
            total += layer.macs(shape)
            shape = layer.output_shape(shape)
        return total

    def summary_rows(self, input_shape: Shape, depth: int = 0,
                     seen: set[int] | None = None) -> tuple[list[Row], Shape]:  # fmt: skip
        """The layers' rows, in order."""
        rows: list[Row] = []
        shape, seen = tuple(input_shape), set() if seen is None else seen
        for layer in self.layers:
            inner, shape = layer.summary_rows(shape, depth, seen)
            rows += inner
        return rows, shape

    # --- container protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)


def _owns(layer: Layer, a: np.ndarray) -> bool:
    spares = layer.__dict__.get("_spare_workspaces", ())
    return layer.workspace.owns(a) or any(ws.owns(a) for ws in spares)


def _has_params(layer: Layer) -> bool:
    return bool(layer.params) or (layer.has_children() and any(m.params for m in layer.modules()))
