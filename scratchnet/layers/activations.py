"""Element-wise activation layers (no parameters); math in :mod:`scratchnet.ops.activations`."""

from __future__ import annotations

import numpy as np

from ..ops import activations as act
from .base import Layer


class _Elementwise(Layer):
    """An activation given by a forward/backward pair of ops; any input shape. ``_option``
    names the attribute holding the op's parameter (``negative_slope``, ``alpha``, ...), if any:
    the forward op then gets it after ``x``."""

    _fwd = staticmethod(act.relu_forward)
    _bwd = staticmethod(act.relu_backward)
    _option: str | None = None

    def extra_repr(self) -> str:
        return "" if self._option is None else f"{self._option}={getattr(self, self._option)!r}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        options = () if self._option is None else (getattr(self, self._option),)
        y, self._cache = self._fwd(x, *options, ws=self.workspace)
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        cache = self._saved()
        return self._bwd(dout, cache, ws=self.workspace) if need_dx else None


class ReLU(_Elementwise):
    r""":math:`y = \max(x, 0)`; backward :math:`\partial L/\partial x = g\,[x>0]`."""


class Sigmoid(_Elementwise):
    r""":math:`y = 1/(1+e^{-x})` (overflow-free); backward :math:`g\,y(1-y)`."""

    _fwd = staticmethod(act.sigmoid_forward)
    _bwd = staticmethod(act.sigmoid_backward)


class Tanh(_Elementwise):
    r""":math:`y = \tanh x`; backward :math:`g\,(1-y^2)`."""

    _fwd = staticmethod(act.tanh_forward)
    _bwd = staticmethod(act.tanh_backward)


class LeakyReLU(_Elementwise):
    r""":math:`y = x` for :math:`x>0`, else :math:`a x`; backward :math:`g` or :math:`a g`."""

    _fwd = staticmethod(act.leaky_relu_forward)
    _bwd = staticmethod(act.leaky_relu_backward)
    _option = "negative_slope"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)


class ELU(_Elementwise):
    r""":math:`y = x` for :math:`x>0`, else :math:`\alpha(e^x - 1)`; backward :math:`g` or
    :math:`g\,(y + \alpha)` (:math:`\alpha e^x = y + \alpha`: the cached output is enough)."""

    _fwd = staticmethod(act.elu_forward)
    _bwd = staticmethod(act.elu_backward)
    _option = "alpha"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)


class SiLU(_Elementwise):
    r""":math:`y = x\,\sigma(x)` (swish); backward :math:`g\,\sigma(x)(1 + x(1-\sigma(x)))`."""

    _fwd = staticmethod(act.silu_forward)
    _bwd = staticmethod(act.silu_backward)


class Softplus(_Elementwise):
    r""":math:`y = \tfrac1\beta\log(1 + e^{\beta x})` (PyTorch's ``Softplus``, linear where
    :math:`\beta x > 20`); backward :math:`g\,\sigma(\beta x)`."""

    _fwd = staticmethod(act.softplus_forward)
    _bwd = staticmethod(act.softplus_backward)
    _option = "beta"

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = float(beta)


class GELU(_Elementwise):
    r""":math:`y = x\,\Phi(x)`, :math:`\Phi` the standard normal CDF; ``approximate="tanh"``:
    :math:`\tfrac x2(1 + \tanh(\sqrt{2/\pi}(x + 0.044715x^3)))`. Backward
    :math:`g\,(\Phi(x) + x\varphi(x))` (the tanh form's derivative in
    :func:`scratchnet.ops.activations.gelu_backward`)."""

    _fwd = staticmethod(act.gelu_forward)
    _bwd = staticmethod(act.gelu_backward)
    _option = "approximate"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else "approximate='tanh'"


class Softmax(_Elementwise):
    r""":math:`p = \operatorname{softmax}(x)` over the last axis; backward :math:`p\odot(g - \langle g,
    p\rangle)` (the Jacobian :math:`\operatorname{Diag}(p) - pp^\top` times :math:`g`). For
    classification prefer :class:`~scratchnet.losses.SoftmaxCrossEntropy`, which fuses it with the loss.
    """

    _fwd = staticmethod(act.softmax_forward)
    _bwd = staticmethod(act.softmax_backward)
