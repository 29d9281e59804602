r"""``Graph``: a model written as a graph of layer calls, in the spirit of Keras's functional API —
branches, merges, several inputs and outputs, shared layers — whose backward pass nobody writes.

Example (a residual block with a projection shortcut, then two heads)::

    x = Input((3, 32, 32))
    h = ReLU()(BatchNorm2D(16)(Conv2D(3, 16, 3, padding=1)(x)))
    y = Add()(Conv2D(16, 16, 3, padding=1)(h), Conv2D(3, 16, 1)(x))   # the shortcut projects x
    model = Graph(x, [Dense(16 * 32 * 32, 10)(Flatten()(y)), GlobalAvgPool2D()(y)])

Calling a layer on graph values (an ``Input`` or another call's output) computes nothing; it
records the call. ``Graph(inputs, outputs)`` keeps the calls the outputs depend on, in the order
they were made (always an order in which every value is computed before it is read: a
topological order).

**Forward**: the calls in that order, each reading the values it was called on.

**Backward** runs the calls in the reverse order. A value read by several calls (a *fork*: the
input of a residual block, read by the block and by the shortcut) influences the loss through
each of them, and the multivariable chain rule sums over those paths: with :math:`v` read by
calls :math:`y_1 = f_1(v, \dots), \dots, y_K = f_K(v, \dots)`,

.. math::
    \frac{\partial L}{\partial v} = \sum_{k=1}^{K} \Big(\frac{\partial y_k}{\partial v}\Big)^{\!\top}
    \frac{\partial L}{\partial y_k} ,

each term being what one call's ``backward`` returns for that argument. So a value's gradient is
complete once every call that reads it has run backward — which the reverse order guarantees,
since those calls were made after it. (CS231n, lecture 4: "at a fork, the gradients add".) A
layer called several times (a shared layer) has its parameter gradients summed over its calls
(:mod:`scratchnet.layers.calls`). Derivation: ``docs/composition.md``.

The layers are the graph's children (``layers.0``, ``layers.1``, ... in the order of their first
call), so saving, loading, modes, casting, summaries, drawings and data-parallel shards reach
them as in any model; the calls are kept as indices into that list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .layers.base import Layer, Shape, format_shape
from .layers.summary import Row
from .layers.symbolic import Input, Node, Symbol


def _as_list(values: Symbol | Sequence[Symbol], what: str) -> list[Symbol]:
    items = [values] if isinstance(values, Symbol) else list(values)
    if not items or not all(isinstance(v, Symbol) for v in items):
        raise TypeError(f"Graph: the {what} must be graph values (Input(...) or a layer called on one)")
    return items


class Graph(Layer):
    """A model from ``inputs`` (one ``Input`` or a list) to ``outputs`` (one value or a list);
    see the module docstring. ``forward(*xs)`` takes one array per input and returns one array
    per output (a tuple if several); ``backward(douts)`` takes one gradient per output and
    returns one per input.

    Equations (1) and (2) of ``docs/composition.md``.
    """

    def __init__(self, inputs: Input | Sequence[Input], outputs: Symbol | Sequence[Symbol]) -> None:
        super().__init__()
        ins, outs = _as_list(inputs, "inputs"), _as_list(outputs, "outputs")
        if not all(isinstance(i, Input) for i in ins):
            raise TypeError("Graph: every input must be an Input(...)")
        self._single_in, self._single_out = isinstance(inputs, Symbol), isinstance(outputs, Symbol)
        nodes = _needed(outs)
        missing = sorted({p.name for n in nodes for p in n.parents if isinstance(p, Input) and p not in ins})
        if missing:
            raise ValueError(f"Graph: the outputs depend on inputs not given to Graph(...): {missing}")
        unused = [i.name for i in ins if not any(i in n.parents for n in nodes) and i not in outs]
        if unused:
            raise ValueError(f"Graph: the inputs {unused} reach no output")
        index: dict[int, int] = {}  # id(layer) -> its position among the graph's layers, first call first
        layers: list[Layer] = []
        for n in nodes:
            if id(n.layer) not in index:
                index[id(n.layer)] = len(layers)
                layers.append(n.layer)
        slot = {s.id: k for k, s in enumerate([*ins, *nodes])}
        self.layers = layers
        self.input_shapes = [i.shape for i in ins]
        self.input_names = [i.name for i in ins]
        # each call: (index of its layer in self.layers, the slots of its arguments); its output
        # goes to slot len(inputs) + its position
        self._steps = [(index[id(n.layer)], tuple(slot[p.id] for p in n.parents)) for n in nodes]
        self._outputs = tuple(slot[o.id] for o in outs)

    def named_children(self) -> Iterator[tuple[str, Layer]]:
        return ((f"layers.{k}", m) for k, m in enumerate(self.layers))

    # --- the passes -------------------------------------------------------------------------------
    def forward(self, *xs: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        if len(xs) != len(self.input_shapes):
            names = ", ".join(self.input_names)
            raise ValueError(f"Graph: expected {len(self.input_shapes)} input(s) ({names}), got {len(xs)}")
        for x, shape, name in zip(xs, self.input_shapes, self.input_names, strict=True):
            if tuple(x.shape[1:]) != shape:
                raise ValueError(f"Graph: input {name!r} expects samples of shape {format_shape(shape)}, "
                                 f"got a batch of shape {format_shape(tuple(x.shape))}")  # fmt: skip
        values: list[Any] = list(xs)
        for k, args in self._steps:
            values.append(self.layers[k].forward(*(values[a] for a in args)))
        outs = tuple(values[o] for o in self._outputs)
        return outs[0] if self._single_out else outs

    def backward(self, douts: Any, *, need_dx: bool = True) -> Any:
        """Every call's backward in the reverse order, the gradients of a value read by several
        calls summed (the module docstring); returns one gradient per input (``None`` with
        ``need_dx=False``)."""
        douts = (douts,) if self._single_out else tuple(douts)
        if len(douts) != len(self._outputs):
            raise ValueError(f"Graph: expected {len(self._outputs)} upstream gradients, one per output, "
                             f"got {len(douts)}")  # fmt: skip
        grads: dict[int, np.ndarray] = {}
        for slot, g in zip(self._outputs, douts, strict=True):
            _accumulate(grads, slot, g)
        n_in = len(self.input_shapes)
        for pos in range(len(self._steps) - 1, -1, -1):
            k, args = self._steps[pos]
            g = grads.pop(n_in + pos)
            wanted = need_dx or any(a >= n_in for a in args)
            result = self.layers[k].backward(g, need_dx=wanted)
            if not wanted:
                continue
            for a, ga in zip(args, result if len(args) > 1 else (result,), strict=True):
                _accumulate(grads, a, ga)
        if not need_dx:
            return None
        dxs = tuple(grads.get(i) for i in range(n_in))
        return dxs[0] if self._single_in else dxs

    # --- shapes and the summary ---------------------------------------------------------------------
    def shapes(self, *input_shapes: Shape) -> list[tuple]:
        """The shape (per sample) of every value: the inputs', then each call's output."""
        shapes: list[tuple] = [tuple(s) for s in (input_shapes or self.input_shapes)]
        for k, args in self._steps:
            full = self.layers[k].check_input(*(("N", *shapes[a]) for a in args))
            shapes.append(tuple(full[1:]))
        return shapes

    def check_input(self, *shapes: tuple) -> tuple:
        values = self.shapes(*(tuple(s[1:]) for s in shapes))
        outs = [(shapes[0][0], *values[o]) for o in self._outputs]
        return outs[0] if self._single_out else tuple(outs)

    def output_shape(self, input_shape: Shape | None = None) -> Shape:
        values = self.shapes(*([input_shape] if input_shape is not None else []))
        outs = [values[o] for o in self._outputs]
        return outs[0] if self._single_out else tuple(outs)

    def macs(self, input_shape: Shape | None = None) -> int:
        return sum(r.macs for r in self.summary_rows(input_shape)[0])

    def summary_rows(self, input_shape: Shape | None = None, depth: int = 0,
                     seen: set[int] | None = None) -> tuple[list[Row], Shape]:  # fmt: skip
        """A row per call (a block's rows for a block), naming the values a call reads when it is
        not simply the previous call's output: an input by its name, ``#k`` for the output of the
        graph's ``k``-th call (the row numbers, when every call is a single layer)."""
        seen = set() if seen is None else seen
        shapes = self.shapes(*([input_shape] if input_shape is not None and self._single_in else
                               (input_shape or [])))  # fmt: skip
        n_in = len(self.input_shapes)
        rows = [Row(depth, f"input {name}", shapes[i]) for i, name in enumerate(self.input_names)]
        for pos, (k, args) in enumerate(self._steps):
            layer = self.layers[k]
            if len(args) == 1:
                inner, _ = layer.summary_rows(shapes[args[0]], depth, seen)
            else:
                again = id(layer) in seen
                seen.add(id(layer))
                inner = [Row(depth, repr(layer), shapes[n_in + pos], layer, 0, 0, again, shapes[args[0]])]
            if args != (n_in + pos - 1,):
                reads = ", ".join(_value_name(a, n_in, self.input_names) for a in args)
                inner[0] = Row(inner[0].depth, f"{inner[0].text}  <- {reads}", *_rest(inner[0]))
            rows += inner
        outs = [shapes[o] for o in self._outputs]
        return rows, outs[0] if self._single_out else tuple(outs)

    def summary(self, input_shape: Shape | None = None, print_fn: Any = print) -> str:
        """As :meth:`Layer.summary`; the input shape defaults to the graph's ``Input``."""
        return super().summary(input_shape if input_shape is not None else self.input_shapes[0], print_fn)


def _needed(outputs: list[Symbol]) -> list[Node]:
    """The calls the outputs depend on, in the order they were made (a topological order)."""
    found: dict[int, Node] = {}
    stack = [o for o in outputs if isinstance(o, Node)]
    while stack:
        n = stack.pop()
        if n.id not in found:
            found[n.id] = n
            stack.extend(p for p in n.parents if isinstance(p, Node))
    return [found[i] for i in sorted(found)]


def _accumulate(grads: dict[int, np.ndarray], slot: int, g: np.ndarray) -> None:
    """Add ``g`` to the gradient of a value (never in place: ``g`` may be another's array)."""
    grads[slot] = g if slot not in grads else grads[slot] + g


def _value_name(slot: int, n_in: int, names: list[str]) -> str:
    return names[slot] if slot < n_in else f"#{slot - n_in + 1}"


def _rest(row: Row) -> tuple:
    return (row.shape, row.layer, row.params, row.macs, row.again, row.input_shape)
