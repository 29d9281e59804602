r"""Embedding: a lookup table of vectors, and the gradient that adds up where ids repeat.

Shapes: ids ``x`` of any shape ``S`` (integers in ``[0, V)``), table ``E`` ``(V, D)``, output ``(*S, D)``.

Forward :math:`y_{n,t} = E_{x_{n,t}}` (a gather). Each row :math:`E_v` is read by every position
holding :math:`v`, so its gradient is the sum over those positions (gradients add where a value
is used several times, ``docs/composition.md``):
:math:`\partial L/\partial E_v = \sum_{(n,t):\,x_{n,t}=v} \partial L/\partial y_{n,t}`. The ids get
no gradient. Computed as one stable sort of the ids and one ``np.add.reduceat`` over the rows of
equal ids (no Python loop, no ``np.add.at``). Derivation: ``docs/recurrent.md``.
"""

from __future__ import annotations

import numpy as np

from .record import OpRecord


def embedding_forward(x: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, tuple[int, int]]]:
    """``y = E[x]`` ``(*x.shape, D)``; the cache is the ids and the table's shape."""
    return E[x], (x, E.shape)


def embedding_backward(dout: np.ndarray, cache: tuple[np.ndarray, tuple[int, int]]) -> np.ndarray:
    """``dE`` ``(V, D)``: row ``v`` is the sum of ``dout`` over the positions whose id is ``v``
    (zero for ids not used)."""
    x, (V, D) = cache
    ids = x.reshape(-1)
    rows = dout.reshape(-1, D)
    grad = np.zeros((V, D), dtype=dout.dtype)
    if ids.size == 0:
        return grad
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    grad[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)  # one sum per id
    return grad


RECORDS = (
    OpRecord(name="embedding", forward=embedding_forward, backward=embedding_backward, layers=("Embedding",),
             family="recurrent", docs="recurrent.md", topic="embedding (repeated ids add up)"),
)  # fmt: skip
