r"""Layers that merge branches: ``Add`` and ``Concat``. Each takes its inputs as separate
arguments, ``Add()(a, b)``, and its ``backward(dout)`` returns a tuple with one gradient per input.

**Add.** :math:`y = \sum_k x_k` (inputs of one shape). Each input reaches :math:`y` with the
Jacobian :math:`I`, so every input receives the upstream gradient unchanged:

.. math::
    \frac{\partial L}{\partial x_k} = \frac{\partial L}{\partial y} \quad\text{for every } k .

**Concat** along ``axis`` (the channels, 1, by default): :math:`y = [x_1, x_2, \dots]`, the
inputs laid side by side. Every element of :math:`y` is exactly one element of one input, so the
gradient of input :math:`k` is the slice of :math:`\partial L/\partial y` that :math:`x_k`
occupies:

.. math::
    \frac{\partial L}{\partial x_k} = \Big(\frac{\partial L}{\partial y}\Big)_{[:,\ o_k : o_k + c_k]},
    \qquad o_k = \sum_{j<k} c_j ,

with :math:`c_k` the size of input :math:`k` along the axis. These are the two ways branches
join (a ResNet's shortcut, an Inception block or a U-Net's skip); where a value *forks* into
several branches the opposite happens, its gradients add (:mod:`scratchnet.graph`). Derivation:
``docs/composition.md``.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, format_shape


class Add(Layer):
    """``y = x_1 + x_2 + ...`` for inputs of one shape; backward: ``dout`` to each input.

    Equation (4) of ``docs/composition.md``.
    """

    def check_input(self, *shapes: tuple) -> tuple:
        first = tuple(shapes[0])
        for s in shapes[1:]:
            if tuple(s[1:]) != first[1:]:
                listed = ", ".join(format_shape(tuple(t)) for t in shapes)
                raise ValueError(f"Add: the inputs have shapes {listed}; they must all have one shape "
                                 "(project a branch to match it)")
        return first

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        if len(xs) < 2:
            raise ValueError(f"Add: takes two or more inputs, got {len(xs)}")
        self.check_input(*(x.shape for x in xs))
        self._cache = len(xs)
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> tuple[np.ndarray, ...] | None:
        n = self._saved()
        return tuple(dout for _ in range(n)) if need_dx else None


class Concat(Layer):
    """``y`` = the inputs side by side along ``axis`` (default 1, the channels of ``(N, C, ...)``);
    backward: each input's slice of ``dout``."""

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        if axis == 0:
            raise ValueError("Concat: axis 0 is the batch; concatenate along a feature axis (1, the channels)")
        self.axis = axis

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def check_input(self, *shapes: tuple) -> tuple:
        first = tuple(shapes[0])
        axis = self.axis % len(first)
        for s in shapes[1:]:
            others = [i for i in range(len(first)) if i not in (0, axis)]
            if len(s) != len(first) or any(s[i] != first[i] for i in others):
                raise ValueError(f"Concat(axis={self.axis}): the inputs have shapes "
                                 f"{', '.join(format_shape(tuple(t)) for t in shapes)}; they must agree on "
                                 "every axis but the one they are joined along")  # fmt: skip
        return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :])

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        if len(xs) < 2:
            raise ValueError(f"Concat: takes two or more inputs, got {len(xs)}")
        self.check_input(*(x.shape for x in xs))
        axis = self.axis % xs[0].ndim
        self._cache = (axis, np.cumsum([x.shape[axis] for x in xs])[:-1])
        return np.concatenate(xs, axis=axis)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> tuple[np.ndarray, ...] | None:
        axis, cuts = self._saved()
        if not need_dx:
            return None
        return tuple(np.ascontiguousarray(d) for d in np.split(dout, cuts, axis=axis))
