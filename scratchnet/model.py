"""``Sequential``: a chain of layers; forward/backward, modes, parameters, summary, save/load."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

from .io import load_npz, save_npz
from .layers.base import Layer, Parameter, Shape
from .layers.residual import walk


class Sequential:
    """Layers applied one after another: a plain chain.

    ``forward(x)`` runs the layers in order; ``backward(grad)`` runs their backward passes in
    reverse, filling every layer's ``grads``, and returns the gradient w.r.t. the input.
    A ``Sequential`` can itself be used as a layer inside another one.

    Memory: each layer's ops reuse their output arrays from one step to the next
    (``workspace.reuse_outputs``, see :mod:`scratchnet.ops.workspace`), which is safe because
    each output is consumed by the next layer before its producer runs again; what ``forward``
    and ``backward`` return to the caller is never such an array.

    Faster execution is an explicit step: :func:`scratchnet.fuse` returns an equivalent model
    with convolution + 2x2 max-pool pairs fused (the model zoo builds fused models).

    Example::

        model = Sequential(Conv2D(1, 8, 3, padding=1), ReLU(), MaxPool2D(2),
                           Flatten(), Dense(8 * 14 * 14, 10))
        model.summary((1, 28, 28))
    """

    def __init__(self, *layers: Layer | Sequential) -> None:
        for i, layer in enumerate(layers):
            if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
                raise TypeError(f"Sequential: item {i} ({layer!r}) is not a layer")
        self.layers: list[Layer | Sequential] = list(layers)
        self.training = True
        for layer in self.modules():
            layer.workspace.reuse_outputs = True
        self._ran_forward = False

    # --- the forward / backward passes -----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        self._ran_forward = True
        return self._handed_out(x)

    __call__ = forward

    def _handed_out(self, a: np.ndarray | None) -> np.ndarray | None:
        """``a`` itself, or a copy if it lives in a layer's workspace (reused next step)."""
        if a is not None and any(m.workspace.owns(a) for m in self.modules()):
            return a.copy()
        return a

    def backward(self, grad: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Backpropagate ``grad`` (d loss / d output) through all layers, last to first.

        With ``need_dx=False`` the input gradient is not computed: layers in front of the first
        layer with parameters are skipped entirely and that layer skips its input gradient
        (what a training step wants; it saves the whole ``col2im`` of a first conv layer).
        """
        if not self._ran_forward:
            raise RuntimeError("Sequential: backward() called before forward()")
        first_needed = 0
        if not need_dx:
            with_params = [k for k, layer in enumerate(self.layers) if _has_params(layer)]
            if not with_params:
                return None
            first_needed = with_params[0]
        for k in range(len(self.layers) - 1, first_needed - 1, -1):
            grad = self.layers[k].backward(grad, need_dx=need_dx or k > first_needed)
        return self._handed_out(grad)

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
            if hasattr(layer, "named_modules"):  # a nested Sequential, a Residual
                yield from layer.named_modules(f"{prefix}{i}.")
            else:
                yield f"{prefix}{i}", layer

    def parameters(self, prefix: str = "") -> list[Parameter]:
        """Handles on every trainable array, named ``"<layer index>.<key>"`` (e.g. ``"0.W"``).

        An array held by several layers (tied weights) gets one handle, at its first use, whose
        gradient sums all uses (see :class:`~scratchnet.layers.Parameter`).
        """
        first: dict[int, Parameter] = {}
        out = []
        for name, layer in self.named_modules(prefix):
            for p in layer.parameters(f"{name}."):
                if id(p.value) in first:
                    first[id(p.value)].tied.append(p)
                else:
                    first[id(p.value)] = p
                    out.append(p)
        return out

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
        count = 0
        for event, depth, layer in walk(self):
            indent = "  " * depth
            if event == "open":
                layer.output_shape(shape)  # the block must keep the shape
                rows.append(("", f"{indent}Residual: y = x + block(x), block:", "", "", ""))
                continue
            if event == "add":
                rows.append(("", f"{indent}+ x (the skip path joins)", str(shape), "0", "0"))
                continue
            macs = layer.macs(shape)
            shape = layer.output_shape(shape)
            n = layer.num_parameters()
            total_params += n
            total_macs += macs
            count += 1
            rows.append((str(count), indent + repr(layer), str(shape), f"{n:,}", f"{macs:,}"))
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

    def plot(self, input_shape: Shape, path: str | os.PathLike, title: str = "") -> os.PathLike:
        """Draw the network as blocks labelled with each layer, its output dimensions and its
        parameter count (PNG, SVG or PDF by the suffix of ``path``); see :mod:`scratchnet.diagram`."""
        from .diagram import plot_architecture

        return plot_architecture(self, input_shape, path, title)

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
            unexpected = sorted(set(state) - set(expected))
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
                    np.copyto(d[k], new, casting="unsafe")  # in place: tied layers keep sharing it

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


def _has_params(layer: Layer | Sequential) -> bool:
    return any(m.params for m in layer.modules())
