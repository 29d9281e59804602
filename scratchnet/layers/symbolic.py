"""The symbolic values a graph model is written with (:mod:`scratchnet.graph`): an ``Input``
placeholder, and a ``Node`` for each call of a layer on symbolic values. Calling a layer on a
symbolic value computes nothing: it records the call (``Layer.__call__`` sends it here).
"""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()  # creation order: a node is always made after the values it reads


class Symbol:
    """A value of a graph: the output of an ``Input`` or of a layer's call."""

    def __init__(self, parents: tuple[Symbol, ...], name: str) -> None:
        self.id = next(_ids)
        self.parents = parents
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Input(Symbol):
    """A graph's input: ``Input((1, 28, 28))`` stands for a batch of samples of that shape (the
    batch axis is not part of ``shape``)."""

    def __init__(self, shape: tuple[int, ...], name: str | None = None) -> None:
        super().__init__((), name or "input")
        self.shape = tuple(int(d) for d in shape)

    def __repr__(self) -> str:
        return f"Input({self.shape}, name={self.name!r})"


class Node(Symbol):
    """The output of ``layer`` called on ``parents`` (one value per argument)."""

    def __init__(self, layer: Any, parents: tuple[Symbol, ...]) -> None:
        super().__init__(parents, type(layer).__name__)
        self.layer = layer


def call(layer: Any, args: tuple, kwargs: dict) -> Node:
    """``layer(*args)`` on symbolic values: the node recording it."""
    if kwargs:
        raise TypeError(f"{type(layer).__name__}: a layer called in a graph takes its inputs only, "
                        f"not {', '.join(kwargs)}")  # fmt: skip
    if not all(isinstance(a, Symbol) for a in args):
        raise TypeError(f"{type(layer).__name__}: called on a mix of graph values and arrays; in a graph "
                        "every input of a layer is a graph value (an Input or a layer's output)")  # fmt: skip
    return Node(layer, tuple(args))
