"""``fuse(model)``: exact rewrites of a ``Sequential`` that make it faster, as a visible step.

Two rewrites, each exact (same outputs and same gradients, up to float round-off of a GEMM that
sums in another order), applied left to right:

* ``ReLU`` then ``MaxPool2D`` becomes ``MaxPool2D`` then ``ReLU``: ``max`` and ``relu`` are both
  non-decreasing, so ``max(relu(a), relu(b)) == relu(max(a, b))``, and the gradient reaches the
  same element (the first maximum; a window whose maximum is negative gets zero either way). The
  ReLU then runs on the 4x smaller pooled tensor.
* ``Conv2D`` then ``MaxPool2D(2)`` (2x2, stride 2) becomes one :class:`~scratchnet.layers.ConvPool2D`
  (:mod:`scratchnet.ops.convpool`), which shares the convolution's parameter arrays.

Only layers of exactly these classes are rewritten: a subclass may compute something else, so it
is left as it is. The rewrites reach into every block: a ``Sequential`` anywhere in the tree
(inside a ``Residual``, or held by a block of one's own as an attribute, a list or a dict entry)
is fused, and the block around it is copied with the fused chain in its place, its own
parameters and every leaf layer shared. ``tests/test_fusion.py`` checks the fused model against the original.
"""

from __future__ import annotations

import copy
from typing import Any

from .layers import Conv2D, ConvPool2D, Layer, MaxPool2D, ReLU
from .model import Sequential


def _is_pool2x2(layer: object) -> bool:
    return type(layer) is MaxPool2D and layer.kernel_size == layer.stride == (2, 2)


def fused_layers(layers: list[Layer | Sequential]) -> list[Layer | Sequential]:
    """The rewritten list of layers (see the module docstring); the layers are shared, not copied."""
    swapped = list(layers)
    i = 0
    while i + 1 < len(swapped):
        if type(swapped[i]) is ReLU and type(swapped[i + 1]) is MaxPool2D:
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            i += 1  # the moved ReLU is not swapped again
        i += 1
    out: list[Layer | Sequential] = []
    i = 0
    while i < len(swapped):
        layer = swapped[i]
        if layer.has_children():
            out.append(fuse(layer))
        elif type(layer) is Conv2D and i + 1 < len(swapped) and _is_pool2x2(swapped[i + 1]):
            out.append(ConvPool2D.from_conv(layer))
            i += 1
        else:
            out.append(layer)
        i += 1
    return out


def fuse(model: Layer) -> Layer:
    """A model computing the same function faster (see the module docstring): a new
    ``Sequential`` for a chain, a copy of a block with its chains fused, a leaf as it is.

    The parameters are shared with ``model``: training either trains both. Layer indices, and
    so the names in ``state_dict``, may change.
    """
    if isinstance(model, Sequential):
        return Sequential(*fused_layers(list(model.layers)))
    if not model.has_children():
        return model
    fused = copy.copy(model)  # the same parameter arrays, its own caches, gradients and memory
    for attr in model._child_attrs:
        setattr(fused, attr, _fused_value(getattr(model, attr)))
    return fused


def _fused_value(value: Any) -> Any:
    """An attribute's value with the layers in it fused (lists, tuples and dicts rebuilt)."""
    if isinstance(value, Layer):
        return fuse(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value):
        return type(value)(fuse(v) if isinstance(v, Layer) else v for v in value)
    if isinstance(value, dict) and any(isinstance(v, Layer) for v in value.values()):
        return {k: fuse(v) if isinstance(v, Layer) else v for k, v in value.items()}
    return value
