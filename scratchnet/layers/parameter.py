"""``Parameter``: the handle on a trainable array that optimizers hold (tied arrays: one handle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .base import Layer


class Parameter:
    """A handle on one trainable array: ``layer.params[key]`` and ``layer.grads[key]``.

    Optimizers hold handles, not arrays, so that replacing ``layer.params[key]`` by assignment
    is always seen. **Tied** parameters (several layers holding the very same array, e.g.
    ``b.params["W"] = a.params["W"]``) get one handle whose ``tied`` lists the other uses: its
    gradient is the sum of the gradients of every use (the chain rule through a shared
    variable), and an optimizer updates the array once.
    """

    __slots__ = ("key", "layer", "name", "tied")

    def __init__(self, layer: Layer, key: str, name: str | None = None) -> None:
        self.layer = layer
        self.key = key
        self.name = name or key
        self.tied: list[Parameter] = []

    @property
    def value(self) -> np.ndarray:
        return self.layer.params[self.key]

    @value.setter
    def value(self, new: np.ndarray) -> None:
        self.layer.params[self.key] = new

    @property
    def trainable(self) -> bool:
        """Whether the optimizers update it: its layer is not frozen (:meth:`Layer.freeze`)."""
        return self.layer.trainable

    @property
    def grad(self) -> np.ndarray | None:
        g = self.layer.grads.get(self.key)
        for other in self.tied:
            h = other.layer.grads.get(other.key)
            if h is not None:
                g = h if g is None else g + h
        return g

    def __repr__(self) -> str:
        return f"Parameter({self.name}, shape={self.value.shape}, dtype={self.value.dtype})"
