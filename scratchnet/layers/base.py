"""The layer contract shared by every layer.

A layer owns

* ``params``: trainable arrays by name (e.g. ``"W"``, ``"b"``); may be replaced by assignment,
  the layer always reads the current array;
* ``grads``: same keys and shapes as ``params``, (over)written by :meth:`Layer.backward`;
* ``buffers``: non-trainable state saved with the model (e.g. batch-norm running statistics);
* ``training``: train/eval mode;
* ``trainable``: ``False`` once frozen (:meth:`Layer.freeze`): no parameter gradient, no update;
* ``rng``: the random generator of layers that draw random numbers (dropout), else ``None``;
* ``workspace``: the scratch memory its ops reuse from call to call
  (:mod:`scratchnet.ops.workspace`); arrays a layer returns are new unless a model turned on
  ``workspace.reuse_outputs``, which makes them valid until the layer's next call.

``forward(x)`` caches what ``backward(dout)`` needs and returns the output; ``backward`` returns
the gradient w.r.t. the input and fills ``grads``. A layer never updates its own parameters:
that is the optimizer's job (:mod:`scratchnet.optim`).

**Composition.** A layer's *children* are its attributes that are layers, or lists, tuples or
dicts holding layers (names not starting with ``_``), found when the tree is walked, as
PyTorch's ``nn.Module`` finds what was assigned to it. Every piece of bookkeeping walks that one
tree: :meth:`Layer.parameters` (dotted names such as ``"block.branches.0.W"``),
:meth:`Layer.modules`, :meth:`Layer.state_dict`, ``save``/``load``, ``train``/``eval``,
``astype``, ``num_parameters``, ``summary``, ``plot``, :func:`scratchnet.fuse` and the
data-parallel shards. So a block of one's own is ``__init__``, ``forward`` and ``backward``
(an example in ``docs/composition.md``).

Every ``forward``/``backward`` is wrapped by :mod:`scratchnet.layers.calls`: inputs are checked
and cast at the door, a layer may be called several times in one pass (one cache per call, the
backward calls in reverse order) and its parameter gradients are then the sum over the calls.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from ..io import load_npz, save_npz
from ..ops.workspace import Workspace
from . import calls, summary, symbolic
from .parameter import Parameter

Shape = tuple[int, ...]


def format_shape(shape: tuple) -> str:
    """``(4, 1, 28, 28)``; symbolic entries such as ``"N"`` are printed bare: ``(N, 1, 28, 28)``."""
    items = [str(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def shape_error(layer: object, expected: str, got: tuple) -> ValueError:
    """A ``ValueError`` naming the layer, the expected input shape and the one received."""
    return ValueError(f"{layer!r}: expected input of shape {expected}, got {format_shape(got)}")


_NOT_CHILDREN = frozenset({"params", "grads", "buffers", "workspace", "rng", "training", "trainable"})


def _may_hold(name: str, value: object) -> bool:
    """Whether attribute ``name`` may hold children: a layer, or a list, tuple or dict."""
    return name[0] != "_" and name not in _NOT_CHILDREN and isinstance(value, (Layer, list, tuple, dict))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class Layer:
    """Base class of all layers and blocks (see the module docstring for the contract)."""

    #: ``"ids"``: the input is integer ids, never cast (an ``Embedding``); else ``"float"``
    input_kind: ClassVar[str] = "float"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap the ``forward``/``backward`` a subclass defines (:mod:`scratchnet.layers.calls`)."""
        super().__init_subclass__(**kwargs)
        for name, wrap in (("forward", calls.wrap_forward), ("backward", calls.wrap_backward)):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_scratchnet_wrapped", False):
                setattr(cls, name, wrap(fn))

    def __init__(self) -> None:
        # names of the attributes that may hold children (layers, lists, tuples, dicts), kept by
        # __setattr__ so that walking the tree never scans a leaf's other attributes
        self._child_attrs: dict[str, None] = dict.fromkeys(k for k, v in vars(self).items() if _may_hold(k, v))
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training: bool = True
        self.trainable: bool = True  # False: frozen (no parameter gradient, no update; see freeze)
        self.rng: np.random.Generator | None = None
        self.workspace = Workspace()
        self._cache: object = None  # the current call's cache, while forward or backward runs
        self._calls: list[calls.Call] = []  # forward calls of this pass awaiting their backward
        self._forwards = 0  # forward calls in this pass
        self._backwards = 0  # backward calls in this backward pass
        self._running = False

    # --- the contract -------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Gradient w.r.t. the input; ``need_dx=False`` lets a first layer skip computing it."""
        raise NotImplementedError(f"{type(self).__name__} defines no backward()")

    def output_shape(self, input_shape: Shape) -> Shape:
        """Output shape for an input of ``input_shape`` (both without the batch axis).

        Raises ``ValueError`` if the layer cannot take such an input.
        """
        return self.check_input(("N", *input_shape))[1:]

    def check_input(self, shape: tuple) -> tuple:
        """Validate a full input shape (batch axis first, possibly the symbol ``"N"``) and
        return the full output shape; raises ``ValueError`` naming the layer. Identity for a
        leaf; a block of one's own is run once on zeros to find out."""
        if self.has_children():
            return calls.trace(self, tuple(shape))[1]
        return tuple(shape)

    def macs(self, input_shape: Shape) -> int:
        """Multiply-accumulates of one forward pass for one sample (GEMM work only)."""
        if self.has_children():
            return sum(r.macs for r in self.summary_rows(tuple(input_shape))[0])
        return 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` on arrays; on graph values (:mod:`scratchnet.graph`), the recorded call."""
        if args and isinstance(args[0], symbolic.Symbol):
            return symbolic.call(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # --- the tree of layers -------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        """Assign, and note whether the attribute may hold children (as ``nn.Module`` does)."""
        held = self.__dict__.get("_child_attrs")
        if held is not None and name[0] != "_":
            if _may_hold(name, value):
                held[name] = None
            else:
                held.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self.__dict__.get("_child_attrs", {}).pop(name, None)
        object.__delattr__(self, name)

    def named_children(self) -> Iterator[tuple[str, Layer]]:
        """``(name, layer)`` for each child: attributes that are layers (``"fc1"``), and the
        layers in list, tuple or dict attributes (``"branches.0"``, ``"heads.left"``), read when
        the tree is walked (a list grown after assignment is seen)."""
        d = self.__dict__
        for attr in d.get("_child_attrs", ()):
            value = d.get(attr)
            if isinstance(value, Layer):
                yield attr, value
            elif isinstance(value, (list, tuple)):
                yield from ((f"{attr}.{i}", v) for i, v in enumerate(value) if isinstance(v, Layer))
            elif isinstance(value, dict):
                yield from ((f"{attr}.{k}", v) for k, v in value.items() if isinstance(v, Layer))

    def has_children(self) -> bool:
        return next(self.named_children(), None) is not None

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """``(name, layer)`` for this layer (named ``prefix``, ``""`` by default) and every
        layer below it, depth first; a layer used in several places comes once, at its first."""
        seen: set[int] = set()
        stack: list[tuple[str, Layer]] = [(prefix, self)]
        while stack:  # depth first, children in their order (pushed reversed)
            name, layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            yield name, layer
            children = [(_join(name, n), c) for n, c in layer.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Layer]:
        """This layer and every layer below it, each once."""
        return (m for _, m in self.named_modules())

    def parameters(self, prefix: str = "") -> list[Parameter]:
        """Handles on every trainable array, named by their path (``"0.W"``, ``"fc1.b"``).

        A layer used several times has its parameters listed once; an array held by several
        layers (tied weights) gets one handle, at its first use, whose gradient sums all uses
        (see :class:`Parameter`).
        """
        first: dict[int, Parameter] = {}
        out = []
        for name, layer in self.named_modules(prefix):
            for k in layer.params:
                p = Parameter(layer, k, _join(name, k))
                if id(p.value) in first:
                    first[id(p.value)].tied.append(p)
                else:
                    first[id(p.value)] = p
                    out.append(p)
        return out

    def num_parameters(self) -> int:
        return sum(int(p.value.size) for p in self.parameters())

    # --- modes, dtype -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Layer:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Layer:
        return self.train(False)

    def freeze(self, frozen: bool = True) -> Layer:
        """Freeze this layer and every layer below it (``frozen=False``: unfreeze): their
        parameters get no gradient in the backward pass (a frozen ``Conv2D`` or ``Dense`` does not
        compute it; the input gradient still flows through) and optimizers leave them alone.
        Independent of ``train``/``eval``: a frozen batch norm in training mode still normalises
        with the batch's statistics (call ``eval()`` on it too to use its running ones)."""
        for m in self.modules():
            m.trainable = not frozen
            if frozen:
                m.grads.clear()
        return self

    def unfreeze(self) -> Layer:
        return self.freeze(False)

    def dtype_or_none(self) -> np.dtype | None:
        """The dtype of the first parameter in the tree, ``None`` without parameters."""
        return calls.first_dtype(self.modules())

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first parameter (``float32`` for a layer without parameters)."""
        return self.dtype_or_none() or np.dtype(np.float32)

    def astype(self, dtype: np.dtype | type) -> Layer:
        """Cast every parameter and buffer in place (e.g. to ``np.float64`` for gradient
        checks); arrays held by several layers stay shared."""
        cast: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id -> (original, cast): ids stay unique
        for m in self.modules():
            for d in (m.params, m.buffers):
                for k, v in d.items():
                    d[k] = cast.setdefault(id(v), (v, v.astype(dtype)))[1]
            m.grads.clear()
        return self

    # --- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"<path>.<key>": array}`` for every parameter and buffer."""
        return {_join(name, k): v for name, m in self.named_modules()
                for d in (m.params, m.buffers) for k, v in d.items()}  # fmt: skip

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays from ``state`` into the model (shapes must match; dtype is kept)."""
        if strict:
            expected = self.state_dict()
            missing = sorted(set(expected) - set(state))
            unexpected = sorted(set(state) - set(expected))
            if missing or unexpected:
                raise ValueError(f"state does not match the model: missing {missing}, unexpected {unexpected}")
        for name, m in self.named_modules():
            for d in (m.params, m.buffers):
                for k in d:
                    key = _join(name, k)
                    if key not in state:
                        continue
                    new = np.asarray(state[key])
                    if new.shape != d[k].shape:
                        raise ValueError(f"{key}: saved shape {new.shape}, model has {d[k].shape}")
                    np.copyto(d[k], new, casting="unsafe")  # in place: tied layers keep sharing it

    def save(self, path: str | os.PathLike) -> None:
        """Atomically write the parameters and buffers to ``path`` (``.npz``)."""
        save_npz(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> Layer:
        """Load parameters saved with :meth:`save` (no pickle)."""
        self.load_state_dict(load_npz(path))
        return self

    def predict(
        self, x: np.ndarray, batch_size: int = 1000, transform: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """Outputs for ``x`` in eval mode, ``batch_size`` samples at a time (each batch passed
        through ``transform`` first, e.g. a normaliser); restores the previous modes."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            batches = (x[i : i + batch_size] for i in range(0, len(x), batch_size))
            outs = [self.forward(b if transform is None else transform(b)) for b in batches]
        finally:
            for m, mode in modes:
                m.training = mode
        return np.concatenate(outs) if outs else np.zeros((0,), self.dtype)

    # --- summary and drawing ------------------------------------------------------------------
    def summary_rows(self, input_shape: Shape, depth: int = 0,
                     seen: set[int] | None = None) -> tuple[list[summary.Row], Shape]:  # fmt: skip
        """The rows of :meth:`summary` for an input of ``input_shape`` (one sample) and the
        output shape: one row for a leaf; for a block, its children's rows in the order it
        calls them (found by running it once on zeros). ``seen``: layers already counted."""
        seen = set() if seen is None else seen
        if not self.has_children():
            return summary.leaf_rows(self, tuple(input_shape), depth, seen)
        return summary.block_rows(self, tuple(input_shape), depth, seen)

    def summary(self, input_shape: Shape, print_fn: Callable[[str], None] | None = print) -> str:
        """Table of every layer's output shape, parameter count and multiply-adds.

        Args:
            input_shape: shape of one sample, without the batch axis, e.g. ``(1, 28, 28)``.
            print_fn: where to print the table (``None``: only return it).
        Returns:
            The table as a string. MACs are the multiply-accumulates of one forward pass for
            one sample in conv and dense layers (the GEMM work); totals at the bottom. A layer
            called several times has a row per call and its parameters counted once.
        """
        text = summary.table(self, tuple(input_shape))
        if print_fn is not None:
            print_fn(text)
        return text

    def plot(self, input_shape: Shape, path: str | os.PathLike, title: str = "") -> os.PathLike:
        """Draw the network as blocks labelled with each layer, its output dimensions and its
        parameter count (PNG, SVG or PDF by the suffix of ``path``); see :mod:`scratchnet.diagram`."""
        from ..diagram import plot_architecture

        return plot_architecture(self, input_shape, path, title)

    # --- helpers of the layers ------------------------------------------------------------
    def _saved(self) -> object:
        """The cache of the forward call this backward call belongs to."""
        return self._cache

    def _set_grad(self, key: str, g: np.ndarray) -> None:
        """Store a gradient in the dtype of its parameter."""
        self.grads[key] = g.astype(self.params[key].dtype, copy=False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()})"
        children = list(self.named_children())
        if not children:
            return head
        inner = "\n".join(f"  ({n}): {c!r}".replace("\n", "\n  ") for n, c in children)
        return f"{head[:-1]}\n{inner}\n)"

    def __copy__(self) -> Layer:
        """A copy sharing parameters, buffers and children, with its own calls, gradients and
        scratch memory (``copy.copy``; what :func:`scratchnet.fuse` builds blocks from)."""
        return calls.copy_layer(self, lambda k, v: dict(v) if k in ("grads", "_child_attrs") else v)

    def __deepcopy__(self, memo: dict) -> Layer:
        """A copy with its own parameters, caches and scratch memory (``copy.deepcopy``)."""
        return calls.copy_layer(self, lambda k, v: copy.deepcopy(v, memo), memo)
