"""``Dropout``: inverted dropout (see :mod:`scratchnet.ops.dropout`)."""

from __future__ import annotations

import numpy as np

from ..ops.dropout import dropout_backward, dropout_forward, dropout_mask
from .base import Layer
from .init import make_rng

_IDENTITY = "identity"  # cache marker: the last forward was in eval mode (or p == 0)


class Dropout(Layer):
    r"""Inverted dropout with drop probability ``p``.

    Training: :math:`y = x \odot m/(1-p)` with :math:`m \sim \text{Bernoulli}(1-p)` drawn from
    ``self.rng``; backward :math:`\partial L/\partial x = g \odot m/(1-p)`. Eval: identity.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = make_rng(rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._cache = _IDENTITY
            return x
        self._cache = dropout_mask(x.shape, self.p, self.rng, x.dtype)
        return dropout_forward(x, self._cache)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        mask = self._saved()
        if not need_dx:
            return None
        return dout if mask is _IDENTITY else dropout_backward(dout, mask)
