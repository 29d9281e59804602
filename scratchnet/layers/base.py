"""The layer contract shared by every layer.

A layer owns

* ``params``: trainable arrays by name (e.g. ``"W"``, ``"b"``); may be replaced by assignment,
  the layer always reads the current array;
* ``grads``: same keys and shapes as ``params``, (over)written by :meth:`Layer.backward`;
* ``buffers``: non-trainable state saved with the model (e.g. batch-norm running statistics);
* ``training``: train/eval mode;
* ``rng``: the random generator of layers that draw random numbers (dropout), else ``None``;
* ``workspace``: the scratch memory its ops reuse from call to call
  (:mod:`scratchnet.ops.workspace`); arrays a layer returns are new unless a model turned on
  ``workspace.reuse_outputs``, which makes them valid until the layer's next call.

``forward(x)`` caches what ``backward(dout)`` needs and returns the output; ``backward`` returns
the gradient w.r.t. the input and fills ``grads``. A layer never updates its own parameters:
that is the optimizer's job (:mod:`scratchnet.optim`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..ops.workspace import Workspace

Shape = tuple[int, ...]


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
    def grad(self) -> np.ndarray | None:
        g = self.layer.grads.get(self.key)
        for other in self.tied:
            h = other.layer.grads.get(other.key)
            if h is not None:
                g = h if g is None else g + h
        return g

    def __repr__(self) -> str:
        return f"Parameter({self.name}, shape={self.value.shape}, dtype={self.value.dtype})"


def format_shape(shape: tuple) -> str:
    """``(4, 1, 28, 28)``; symbolic entries such as ``"N"`` are printed bare: ``(N, 1, 28, 28)``."""
    items = [str(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def shape_error(layer: object, expected: str, got: tuple) -> ValueError:
    """A ``ValueError`` naming the layer, the expected input shape and the one received."""
    return ValueError(f"{layer!r}: expected input of shape {expected}, got {format_shape(got)}")


class Layer:
    """Base class of all layers (see the module docstring for the contract)."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training: bool = True
        self.rng: np.random.Generator | None = None
        self.workspace = Workspace()
        self._cache: object = None

    # --- the contract -------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Gradient w.r.t. the input; ``need_dx=False`` lets a first layer skip computing it."""
        raise NotImplementedError

    def output_shape(self, input_shape: Shape) -> Shape:
        """Output shape for an input of ``input_shape`` (both without the batch axis).

        Raises ``ValueError`` if the layer cannot take such an input.
        """
        return self.check_input(("N", *input_shape))[1:]

    def check_input(self, shape: tuple) -> tuple:
        """Validate a full input shape (batch axis first, possibly the symbol ``"N"``) and
        return the full output shape; raises ``ValueError`` naming the layer. Identity here."""
        return tuple(shape)

    def macs(self, input_shape: Shape) -> int:
        """Multiply-accumulates of one forward pass for one sample (GEMM work only)."""
        return 0

    # --- conveniences -------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> Layer:
        self.training = mode
        return self

    def eval(self) -> Layer:
        return self.train(False)

    def parameters(self, prefix: str = "") -> list[Parameter]:
        return [Parameter(self, k, prefix + k) for k in self.params]

    def modules(self) -> Iterator[Layer]:
        """The leaf layers (just ``self`` for a leaf)."""
        yield self

    def astype(self, dtype: np.dtype | type) -> Layer:
        """Cast parameters and buffers to ``dtype`` in place (e.g. ``np.float64``)."""
        for d in (self.params, self.buffers):
            for k, v in d.items():
                d[k] = v.astype(dtype)
        self.grads.clear()
        return self

    def num_parameters(self) -> int:
        return sum(int(v.size) for v in self.params.values())

    def _saved(self) -> object:
        """The forward cache, or a clear error if ``backward`` comes first."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return self._cache

    def _set_grad(self, key: str, g: np.ndarray) -> None:
        """Store a gradient in the dtype of its parameter."""
        self.grads[key] = g.astype(self.params[key].dtype, copy=False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def make_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``Generator`` from a seed, an existing generator, or fresh OS entropy (``None``)."""
    return np.random.default_rng(rng)


def he_normal(shape: Shape, fan_in: int, rng: np.random.Generator, dtype: np.dtype | type) -> np.ndarray:
    r"""Kaiming/He initialisation :math:`\mathcal N(0, 2/\text{fan\_in})`, suited to ReLU nets."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
