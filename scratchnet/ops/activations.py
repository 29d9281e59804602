r"""Element-wise activations. Each ``*_backward`` takes ``dout`` and the cache and returns ``dx``.

=========  =============================================  =================================
name       forward                                        backward
=========  =============================================  =================================
ReLU       :math:`y = \max(x, 0)`                         :math:`g\,[x > 0]`
LeakyReLU  :math:`y = x` if :math:`x>0` else :math:`a x`  :math:`g` or :math:`a g`
Sigmoid    :math:`y = 1/(1+e^{-x})`                       :math:`g\, y (1-y)`
Tanh       :math:`y = \tanh x`                            :math:`g\,(1-y^2)`
=========  =============================================  =================================

(:math:`g = \partial L/\partial y`.) At the kink :math:`x = 0`, ReLU and LeakyReLU use the
derivative of the left branch (0 and :math:`a`), as PyTorch does. Every op takes the calling
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
