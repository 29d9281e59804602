"""``Sequential``: a chain of layers; forward/backward, modes, parameters, summary, save/load."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

from .io import load_npz, save_npz
from .layers.activations import ReLU
from .layers.base import Layer, Parameter, Shape
from .layers.conv import Conv2D
from .layers.pool import MaxPool2D


class Sequential:
    """Layers applied one after another.

    ``forward(x)`` runs the layers in order; ``backward(grad)`` runs their backward passes in
    reverse, filling every layer's ``grads``, and returns the gradient w.r.t. the input.
    A ``Sequential`` can itself be used as a layer inside another one.

    Execution plan (``fuse=True``, the default), two exact rewrites:

    * a ``ReLU`` directly followed by a ``MaxPool2D`` runs as the pool first, then the ReLU on
      the 4x smaller pooled tensor: ``max(relu(a), relu(b)) == relu(max(a, b))`` and the
      gradient reaches the same element (the first maximum) in both orders;
    * a ``Conv2D`` then followed by a ``MaxPool2D(2)`` (2x2, stride 2) runs as one fused
      convolution + pool (``Conv2D.forward(x, maxpool2x2=True)``), whose output rows come out
      grouped by window element so that pooling is contiguous work.

    ``tests/test_layouts.py`` checks that outputs and every gradient are identical with and
    without fusion. Each executed layer keeps a cache that matches what it computed.

    Example::

        model = Sequential(Conv2D(1, 8, 3, padding=1), ReLU(), MaxPool2D(2),
                           Flatten(), Dense(8 * 14 * 14, 10))
        model.summary((1, 28, 28))
    """

    def __init__(self, *layers: Layer | Sequential, fuse: bool = True) -> None:
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(f"Sequential: item {i} ({layer!r}) is not a layer")
        self.layers: list[Layer | Sequential] = list(layers)
        self.training = True
        self.fuse = fuse

    def execution_plan(self) -> list[tuple[int, ...]]:
        """:meth:`execution_order` with fused ``(conv, pool)`` pairs as 2-tuples."""
        order = self.execution_order()
        plan: list[tuple[int, ...]] = []
        k = 0
        while k < len(order):
            i = order[k]
            if self.fuse and k + 1 < len(order) and type(self.layers[i]) is Conv2D:
                pool = self.layers[order[k + 1]]
                if type(pool) is MaxPool2D and pool.kernel_size == pool.stride == (2, 2):
                    plan.append((i, order[k + 1]))
                    k += 2
                    continue
            plan.append((i,))
            k += 1
        return plan

    def execution_order(self) -> list[int]:
        """Indices of the layers in the order ``forward`` runs them (see the class docstring)."""
        order = list(range(len(self.layers)))
        if self.fuse:
            i = 0
            while i + 1 < len(order):
                if type(self.layers[i]) is ReLU and type(self.layers[i + 1]) is MaxPool2D:
                    order[i], order[i + 1] = i + 1, i
                    i += 2
                else:
                    i += 1
        return order

    # --- the forward / backward passes -----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._plan: list[tuple[int, ...]] = []
        for step in self.execution_plan():
            conv = self.layers[step[0]]
            if len(step) == 2 and _fits_pool(conv, x):
                x = conv.forward(x, maxpool2x2=True)
                self._plan.append(step)
            else:  # not fused (or too small to fuse: the pool layer then reports the problem)
                for i in step:
                    x = self.layers[i].forward(x)
                    self._plan.append((i,))
        return x

    __call__ = forward

    def backward(self, grad: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Backpropagate ``grad`` (d loss / d output) through all layers, last to first.

        With ``need_dx=False`` the input gradient is not computed: layers in front of the first
        layer with parameters are skipped entirely and that layer skips its input gradient
        (what a training step wants; it saves the whole ``col2im`` of a first conv layer).
        """
        plan = getattr(self, "_plan", None)
        if not plan:
            raise RuntimeError("Sequential: backward() called before forward()")
        first_needed = 0
        if not need_dx:
            with_params = [k for k, step in enumerate(plan) if _has_params(self.layers[step[0]])]
            if not with_params:
                return None
            first_needed = with_params[0]
        for k in range(len(plan) - 1, first_needed - 1, -1):
            # a fused (conv, pool) step is undone by the conv alone: its cache holds the pool
            grad = self.layers[plan[k][0]].backward(grad, need_dx=need_dx or k > first_needed)
        return grad

    def predict(
        self, x: np.ndarray, batch_size: int = 1000, transform: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """Outputs for ``x`` in eval mode, ``batch_size`` samples at a time (each batch passed
        through ``transform`` first, e.g. a normaliser); restores the previous mode."""
        was_training = self.training
        self.eval()
        try:
            outs = [
                self.forward(x[i : i + batch_size] if transform is None else transform(x[i : i + batch_size]))
                for i in range(0, len(x), batch_size)
            ]
        finally:
            self.train(was_training)
        return np.concatenate(outs) if outs else np.zeros((0,))

    # --- modes, parameters, shapes ---------------------------------------------------------
    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    def modules(self) -> Iterator[Layer]:
        """All leaf layers, depth first."""
        for layer in self.layers:
            yield from layer.modules()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """``(name, layer)`` for each leaf layer; names are indices joined by dots (``"2.0"``)."""
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Sequential):
                yield from layer.named_modules(f"{prefix}{i}.")
            else:
                yield f"{prefix}{i}", layer

    def parameters(self, prefix: str = "") -> list[Parameter]:
        """Handles on every trainable array, named ``"<layer index>.<key>"`` (e.g. ``"0.W"``)."""
        return [p for name, layer in self.named_modules(prefix) for p in layer.parameters(f"{name}.")]

    def num_parameters(self) -> int:
        return sum(int(p.value.size) for p in self.parameters())

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def macs(self, input_shape: Shape) -> int:
        total, shape = 0, tuple(input_shape)
        for layer in self.layers:
            total += layer.macs(shape)
            shape = layer.output_shape(shape)
        return total

    def astype(self, dtype: np.dtype | type) -> Sequential:
        """Cast all parameters and buffers (e.g. to ``np.float64`` for gradient checks)."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first parameter (``float32`` by default)."""
        params = self.parameters()
        return params[0].value.dtype if params else np.dtype(np.float32)

    def summary(self, input_shape: Shape, print_fn: Callable[[str], None] | None = print) -> str:
        """Table of every layer's output shape, parameter count and multiply-adds.

        Args:
            input_shape: shape of one sample, without the batch axis, e.g. ``(1, 28, 28)``.
            print_fn: where to print the table (``None``: only return it).
        Returns:
            The table as a string. MACs are the multiply-accumulates of one forward pass for
            one sample in conv and dense layers (the GEMM work); totals at the bottom.
        """
        rows = [("#", "layer", "output shape", "params", "MACs")]
        shape = tuple(input_shape)
        total_params = total_macs = 0
        for i, layer in enumerate(self.modules()):
            macs = layer.macs(shape)
            shape = layer.output_shape(shape)
            n = layer.num_parameters()
            total_params += n
            total_macs += macs
            rows.append((str(i + 1), repr(layer), str(shape), f"{n:,}", f"{macs:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]

        def fmt(r: tuple[str, ...]) -> str:
            return "  ".join(
                r[c].rjust(widths[c]) if c in (0, 3, 4) else r[c].ljust(widths[c]) for c in range(5)
            ).rstrip()

        line = "-" * len(fmt(rows[0]))
        lines = [
            f"input shape: {tuple(input_shape)} (per sample, batch axis omitted)",
            line,
            fmt(rows[0]),
            line,
        ]
        lines += [fmt(r) for r in rows[1:]]
        lines += [
            line,
            f"total parameters: {total_params:,}",
            f"total multiply-adds per sample (forward): {total_macs:,} ({2 * total_macs / 1e6:.2f} MFLOP)",
        ]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # --- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"<layer>.<key>": array}`` for every parameter and buffer."""
        out: dict[str, np.ndarray] = {}
        for name, layer in self.named_modules():
            for d in (layer.params, layer.buffers):
                for k, v in d.items():
                    out[f"{name}.{k}"] = v
        return out

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays from ``state`` into the model (shapes must match; dtype is kept)."""
        expected = self.state_dict()
        if strict:
            missing = sorted(set(expected) - set(state))
            unexpected = sorted(k for k in set(state) - set(expected) if not k.startswith("optim."))
            if missing or unexpected:
                raise ValueError(f"state does not match the model: missing {missing}, unexpected {unexpected}")
        for name, layer in self.named_modules():
            for d in (layer.params, layer.buffers):
                for k in d:
                    key = f"{name}.{k}"
                    if key not in state:
                        continue
                    new = np.asarray(state[key])
                    if new.shape != d[k].shape:
                        raise ValueError(f"{key}: saved shape {new.shape}, model has {d[k].shape}")
                    d[k] = new.astype(d[k].dtype, copy=True)

    def save(self, path: str | os.PathLike) -> None:
        """Atomically write the parameters and buffers to ``path`` (``.npz``)."""
        save_npz(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> Sequential:
        """Load parameters saved with :meth:`save` (no pickle)."""
        self.load_state_dict(load_npz(path))
        return self

    # --- container protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer | Sequential:
        return self.layers[i]

    def __iter__(self) -> Iterator[Layer | Sequential]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


def _fits_pool(conv: Conv2D, x: np.ndarray) -> bool:
    """Can the fused conv + 2x2 pool run on ``x`` (conv output at least 2x2)?"""
    if x.ndim != 4 or x.shape[1] != conv.in_channels:
        return False
    _, _, Ho, Wo = conv.check_input(x.shape)
    return Ho >= 2 and Wo >= 2


def _has_params(layer: Layer | Sequential) -> bool:
    return any(m.params for m in layer.modules())
