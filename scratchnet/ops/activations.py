r"""Element-wise activations. Each ``*_backward`` takes ``dout`` and the cache and returns ``dx``.

* ReLU: :math:`y = \max(x, 0)`; backward :math:`g\,[x > 0]`
* LeakyReLU: :math:`y = x` if :math:`x>0` else :math:`a x`; backward :math:`g` or :math:`a g`
* Sigmoid: :math:`y = 1/(1+e^{-x})`; backward :math:`g\, y (1-y)`
* Tanh: :math:`y = \tanh x`; backward :math:`g\,(1-y^2)`
* ELU: :math:`y = x` if :math:`x>0` else :math:`a(e^x-1)`; backward :math:`g` or :math:`g\,(y + a)`
* SiLU: :math:`y = x\,\sigma(x)`; backward :math:`g\,\sigma(x)\,(1 + x(1-\sigma(x)))`
* GELU: :math:`y = x\,\Phi(x)`; backward :math:`g\,(\Phi(x) + x\,\varphi(x))`
* GELU, tanh form: :math:`y = \tfrac x2 (1 + \tanh u)`, :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`;
  backward :math:`g\,(\tfrac12(1+\tanh u) + \tfrac x2(1-\tanh^2 u)\,u')`

(:math:`g = \partial L/\partial y`; :math:`\Phi`, :math:`\varphi` the standard normal CDF and
density, :math:`\Phi(x) = \frac12(1 + \operatorname{erf}(x/\sqrt2))`, ``erf`` from SciPy.) At the
kink :math:`x = 0`, ReLU, LeakyReLU and ELU use the derivative of the left branch (0, :math:`a`
and :math:`a`), as PyTorch does. Every op takes the calling
layer's workspace ``ws`` (ReLU, the hot one, keeps its output and mask there; the others
allocate). Derivations: ``docs/activations.md``.
"""

from __future__ import annotations

import numpy as np

from ._util import stored_channels_last
from .workspace import Workspace, scratch


def relu_forward(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``y = max(x, 0)``; the cache is the boolean mask ``x > 0`` (1 byte per element, in the
    workspace under ``"mask"`` when one is given). Both keep ``x``'s memory layout."""
    cl = stored_channels_last(x)
    y = np.maximum(x, 0, out=scratch(ws, "y", x.shape, x.dtype, channels_last=cl, output=True))
    return y, np.greater(x, 0, out=scratch(ws, "mask", x.shape, bool, channels_last=cl))


def relu_backward(dout: np.ndarray, mask: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * [x > 0]``."""
    dx = scratch(ws, "dx", mask.shape, dout.dtype, channels_last=stored_channels_last(mask), output=True)
    return np.multiply(dout, mask, out=dx)


def leaky_relu_forward(
    x: np.ndarray, negative_slope: float = 0.01, ws: Workspace | None = None
) -> tuple[np.ndarray, tuple]:
    """``y = x`` where ``x > 0``, else ``negative_slope * x``."""
    mask = x > 0
    slope = np.asarray(negative_slope, dtype=x.dtype)
    return np.where(mask, x, x * slope), (mask, slope)


def leaky_relu_backward(dout: np.ndarray, cache: tuple, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout`` where ``x > 0``, else ``negative_slope * dout``."""
    mask, slope = cache
    return np.where(mask, dout, dout * slope.astype(dout.dtype))


def sigmoid(x: np.ndarray) -> np.ndarray:
    r"""Numerically stable logistic function :math:`1/(1+e^{-x})`.

    Uses :math:`e^{-|x|}` so that no ``exp`` ever overflows: for :math:`x \ge 0` it is
    :math:`1/(1+e^{-x})`, for :math:`x<0` the equal :math:`e^{x}/(1+e^{x})`.
    """
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)


def sigmoid_forward(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``y = sigmoid(x)``; the cache is ``y``."""
    y = sigmoid(x)
    return y, y


def sigmoid_backward(dout: np.ndarray, y: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * y * (1 - y)``."""
    return dout * y * (1 - y)


def tanh_forward(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``y = tanh(x)``; the cache is ``y``."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dout: np.ndarray, y: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * (1 - y**2)``."""
    return dout * (1 - y * y)


def elu_forward(x: np.ndarray, alpha: float = 1.0, ws: Workspace | None = None) -> tuple[np.ndarray, tuple]:
    """``y = x`` where ``x > 0``, else ``alpha * (exp(x) - 1)`` (``expm1``: exact near 0); the
    cache is ``(mask, y, alpha)``."""
    mask = x > 0
    a = np.asarray(alpha, dtype=x.dtype)
    y = np.where(mask, x, a * np.expm1(np.minimum(x, 0)))  # min: no overflow in the unused branch
    return y, (mask, y, a)


def elu_backward(dout: np.ndarray, cache: tuple, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout`` where ``x > 0``, else ``dout * alpha * exp(x) = dout * (y + alpha)``."""
    mask, y, a = cache
    return np.where(mask, dout, dout * (y + a))


def silu_forward(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, tuple]:
    """``y = x * sigmoid(x)`` (also called swish); the cache is ``(x, sigmoid(x))``."""
    s = sigmoid(x)
    return x * s, (x, s)


def silu_backward(dout: np.ndarray, cache: tuple, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``: the product rule on ``x s``
    with ``s' = s (1 - s)``."""
    x, s = cache
    return dout * (s * (1 + x * (1 - s)))


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_CUBIC = 0.044715


def gelu_forward(x: np.ndarray, approximate: str = "none", ws: Workspace | None = None
                 ) -> tuple[np.ndarray, tuple]:  # fmt: skip
    """``y = x * Phi(x)`` (``approximate="none"``, exact with ``erf``) or PyTorch's tanh form
    ``y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))`` (``approximate="tanh"``)."""
    if approximate == "tanh":
        t = np.tanh(np.asarray(_SQRT_2_OVER_PI, x.dtype) * (x + np.asarray(_GELU_CUBIC, x.dtype) * x * x * x))
        return np.asarray(0.5, x.dtype) * x * (1 + t), (x, t, approximate)
    from scipy.special import erf

    cdf = np.asarray(0.5, x.dtype) * (1 + erf(x * np.asarray(np.sqrt(0.5), x.dtype)))
    return x * cdf, (x, cdf, approximate)


def gelu_backward(dout: np.ndarray, cache: tuple, ws: Workspace | None = None) -> np.ndarray:
    """Exact: ``dx = dout * (Phi(x) + x * phi(x))``, ``phi(x) = exp(-x^2/2) / sqrt(2 pi)`` (the
    product rule on ``x Phi(x)``, ``Phi' = phi``). Tanh form: with ``u = sqrt(2/pi) (x + 0.044715
    x^3)`` and ``t = tanh u``, ``dx = dout * (0.5 (1 + t) + 0.5 x (1 - t^2) u')``,
    ``u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)``."""
    x, aux, approximate = cache
    dt = x.dtype
    if approximate == "tanh":
        t = aux
        du = np.asarray(_SQRT_2_OVER_PI, dt) * (1 + np.asarray(3 * _GELU_CUBIC, dt) * x * x)
        return dout * (np.asarray(0.5, dt) * (1 + t) + np.asarray(0.5, dt) * x * (1 - t * t) * du)
    pdf = np.exp(np.asarray(-0.5, dt) * x * x) * np.asarray(1 / np.sqrt(2 * np.pi), dt)
    return dout * (aux + x * pdf)


# --- softmax over the last axis -----------------------------------------------------------------
# Softmax over the last axis, its backward pass (a Jacobian-vector product) and its Jacobian.
#
# .. math::
#     p_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j \ (\text{any constant: the
#     result does not change, see below}),\qquad
#     \frac{\partial p_i}{\partial x_j} = p_i(\delta_{ij} - p_j),\quad
#     J = \operatorname{Diag}(p) - p\,p^\top .
#
# Backward, for an upstream gradient :math:`g`: :math:`\partial L/\partial x = J^\top g = p \odot
# (g - \langle g, p\rangle)` — one product, one sum and one subtraction, never the :math:`K\times K`
# matrix. Facts checked in ``tests/test_exercises.py`` and derived in ``docs/exercises.md``:
# invariance to adding a constant to every :math:`x_i`; with two classes :math:`p_1 = \sigma(x_1 -
# x_2)`; the :math:`K-1`-parameter form (fix :math:`x_K = 0`); :math:`J` against finite differences.


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum: stable for huge logits."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_forward(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``p = softmax(x)`` over the last axis; the cache is ``p``."""
    p = softmax(x)
    return p, p


def softmax_backward(dout: np.ndarray, p: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """``dx = p * (dout - sum(dout * p))`` over the last axis: the product with the Jacobian."""
    return p * (dout - np.sum(dout * p, axis=-1, keepdims=True))


def softmax_jacobian(x: np.ndarray) -> np.ndarray:
    """``J[..., i, j] = dp_i / dx_j = p_i (delta_ij - p_j)``, i.e. ``Diag(p) - p p^T``."""
    p = softmax(np.asarray(x))
    return p[..., :, None] * (np.eye(p.shape[-1]) - p[..., None, :])
