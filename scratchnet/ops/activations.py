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
layer's workspace ``ws`` (ReLU and GELU, the hot ones, keep their outputs and caches there;
the others allocate). Derivations: ``docs/activations.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from ._util import stored_channels_last
from .record import OpRecord
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
    """``dx = dout * (1 - y**2)``.

    Equation (1) of ``docs/activations.md``.
    """
    return dout * (1 - y * y)


def elu_forward(x: np.ndarray, alpha: float = 1.0, ws: Workspace | None = None) -> tuple[np.ndarray, tuple]:
    """``y = x`` where ``x > 0``, else ``alpha * (exp(x) - 1)`` (``expm1``: exact near 0); the
    cache is ``(mask, y, alpha)``."""
    mask = x > 0
    a = np.asarray(alpha, dtype=x.dtype)
    y = np.where(mask, x, a * np.expm1(np.minimum(x, 0)))  # min: no overflow in the unused branch
    return y, (mask, y, a)


def elu_backward(dout: np.ndarray, cache: tuple, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout`` where ``x > 0``, else ``dout * alpha * exp(x) = dout * (y + alpha)``.

    Equation (2) of ``docs/activations.md``.
    """
    mask, y, a = cache
    return np.where(mask, dout, dout * (y + a))


def silu_forward(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, tuple]:
    """``y = x * sigmoid(x)`` (also called swish); the cache is ``(x, sigmoid(x))``."""
    s = sigmoid(x)
    return x * s, (x, s)


def silu_backward(dout: np.ndarray, cache: tuple, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``: the product rule on ``x s``
    with ``s' = s (1 - s)``.

    Equation (3) of ``docs/activations.md``.
    """
    x, s = cache
    return dout * (s * (1 + x * (1 - s)))


_SOFTPLUS_THRESHOLD = 20.0  # PyTorch's: above it (in beta * x) softplus is x itself


def softplus_forward(x: np.ndarray, beta: float = 1.0, ws: Workspace | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    r"""``y = log(1 + exp(beta x)) / beta``, a smooth ReLU; as PyTorch's ``Softplus(beta)``,
    ``y = x`` where ``beta x > 20``. Computed as :math:`\max(x, 0) + \log(1 + e^{-\beta|x|})/\beta`
    (the same value; ``exp`` never overflows). The cache is ``dy/dx = sigmoid(beta x)`` (1 in the
    linear part).

    Equation (9) of ``docs/activations.md``.
    """
    bx = x * beta
    y = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(bx))) / beta
    linear = bx > _SOFTPLUS_THRESHOLD
    return np.where(linear, x, y), np.where(linear, 1, sigmoid(bx)).astype(x.dtype, copy=False)


def softplus_backward(dout: np.ndarray, cache: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * sigmoid(beta x)``.

    Equation (10) of ``docs/activations.md``.
    """
    return dout * cache


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_CUBIC = 0.044715
_SQRT_HALF = float(np.sqrt(0.5))
_INV_SQRT_2PI = float(1 / np.sqrt(2 * np.pi))  # Python floats: float32 arrays stay float32


def _stored_flat(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """``a``'s elements as one 1-D view, in memory order (``a`` contiguous in that layout)."""
    return (a.transpose(0, 2, 3, 1) if channels_last else a).reshape(-1)


#: elements per block of :func:`gelu_forward`: its four 128 KiB float32 blocks stay in L2 cache
_GELU_BLOCK = 1 << 15


def gelu_forward(x: np.ndarray, approximate: str = "none", ws: Workspace | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``y = x * Phi(x)`` (``approximate="none"``, exact with ``erf``) or PyTorch's tanh form
    ``y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))`` (``approximate="tanh"``).

    The cache is the derivative ``dy/dx`` itself (see :func:`gelu_backward`), computed here while
    ``Phi(x)`` or ``tanh u`` is at hand, so that the backward pass is one product. ``y`` and the
    cache live in the workspace (keys ``"y"``, ``"dydx"``) in ``x``'s layout. The ~15 NumPy
    passes run over blocks of :data:`_GELU_BLOCK` elements, each written in place: a block stays
    in cache from the first pass to the last, where whole arrays would make every pass a trip
    to memory (3-4x slower on a 24 MB activation, worse when two shards share the memory bus).

    Equations (4) and (5) of ``docs/activations.md``.
    """
    cl = stored_channels_last(x)
    if not (x.flags.c_contiguous or cl):  # cl: stored channels-last, contiguous
        x, cl = np.ascontiguousarray(x), False
    y = scratch(ws, "y", x.shape, x.dtype, channels_last=cl, output=True)
    d = scratch(ws, "dydx", x.shape, x.dtype, channels_last=cl)
    xf, yf, df = (_stored_flat(a, cl) for a in (x, y, d))
    if approximate == "tanh":
        step = _gelu_tanh_block
    else:
        from scipy.special import erf

        step = partial(_gelu_exact_block, erf=erf)
    u, w = np.empty((2, min(_GELU_BLOCK, xf.size)), x.dtype)
    for i in range(0, xf.size, _GELU_BLOCK):
        j = min(i + _GELU_BLOCK, xf.size)
        step(xf[i:j], yf[i:j], df[i:j], u[: j - i], w[: j - i])
    return y, d


def _gelu_tanh_block(x: np.ndarray, y: np.ndarray, d: np.ndarray, u: np.ndarray, w: np.ndarray) -> None:
    """One block of the tanh form: ``y``, ``d = dy/dx`` written in place (``u``, ``w`` scratch)."""
    np.multiply(x, x, out=w)  # w = x^2, used twice
    np.multiply(w, _SQRT_2_OVER_PI * _GELU_CUBIC, out=u)  # u = sqrt(2/pi) (x + 0.044715 x^3)
    u += _SQRT_2_OVER_PI
    u *= x
    np.tanh(u, out=d)
    np.multiply(d, 0.5, out=y)  # y = (1 + t) / 2 for now: the derivative's first term
    y += 0.5
    # dy/dx = (1 + t)/2 + (1 - t^2) x u' / 2 with x u' = sqrt(2/pi) (x + 3 * 0.044715 x^3)
    np.multiply(w, 3 * _SQRT_2_OVER_PI * _GELU_CUBIC, out=u)
    u += _SQRT_2_OVER_PI
    u *= x
    u *= 0.5
    np.multiply(d, d, out=d)
    np.subtract(1.0, d, out=d)
    d *= u
    d += y
    y *= x  # y = x (1 + t) / 2


def _gelu_exact_block(x: np.ndarray, y: np.ndarray, d: np.ndarray, u: np.ndarray, w: np.ndarray, *,
                      erf: Callable[..., np.ndarray]) -> None:
    """One block of the exact form: ``y``, ``d = dy/dx`` written in place (``u`` scratch; ``w``
    unused, for the tanh form's signature)."""
    np.multiply(x, _SQRT_HALF, out=d)  # d = Phi(x) = (1 + erf(x / sqrt 2)) / 2
    erf(d, out=d)
    d *= 0.5
    d += 0.5
    np.multiply(x, d, out=y)
    np.multiply(x, x, out=u)  # u = x phi(x) = x exp(-x^2/2) / sqrt(2 pi)
    u *= -0.5
    np.exp(u, out=u)
    u *= x
    u *= _INV_SQRT_2PI
    d += u  # dy/dx = Phi(x) + x phi(x)


def gelu_backward(dout: np.ndarray, dydx: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """``dx = dout * dy/dx``, the derivative cached by :func:`gelu_forward`. Exact: ``dy/dx =
    Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2/2) / sqrt(2 pi)`` (the product rule on ``x Phi(x)``,
    ``Phi' = phi``). Tanh form: with ``u = sqrt(2/pi) (x + 0.044715 x^3)`` and ``t = tanh u``,
    ``dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) u'``, ``u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)``."""
    dx = scratch(ws, "dx", dydx.shape, dout.dtype, channels_last=stored_channels_last(dydx), output=True)
    return np.multiply(dout, dydx, out=dx)


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
    r""":math:`J_{ij} = \partial p_i / \partial x_j = p_i(\delta_{ij} - p_j)`, i.e.
    :math:`J = \operatorname{diag}(p) - p p^\top` (for every leading index)."""
    p = softmax(np.asarray(x))
    return p[..., :, None] * (np.eye(p.shape[-1]) - p[..., None, :])


RECORDS = (
    OpRecord(name="relu", forward=relu_forward, backward=relu_backward, layers=("ReLU",), family="activation",
             docs="activations.md", topic="ReLU"),
    OpRecord(name="leaky_relu", forward=leaky_relu_forward, backward=leaky_relu_backward, layers=("LeakyReLU",),
             family="activation", docs="activations.md", topic="LeakyReLU"),
    OpRecord(name="sigmoid", forward=sigmoid_forward, backward=sigmoid_backward, layers=("Sigmoid",),
             family="activation", docs="activations.md", topic="sigmoid (overflow-free)", helpers=(sigmoid,)),
    OpRecord(name="tanh", forward=tanh_forward, backward=tanh_backward, layers=("Tanh",), family="activation",
             docs="activations.md", topic="tanh"),
    OpRecord(name="elu", forward=elu_forward, backward=elu_backward, layers=("ELU",), family="activation",
             docs="activations.md", topic="ELU"),
    OpRecord(name="silu", forward=silu_forward, backward=silu_backward, layers=("SiLU",), family="activation",
             docs="activations.md", topic="SiLU"),
    OpRecord(name="softplus", forward=softplus_forward, backward=softplus_backward, layers=("Softplus",),
             family="activation", docs="activations.md", topic="softplus"),
    OpRecord(name="gelu", forward=gelu_forward, backward=gelu_backward, layers=("GELU",), family="activation",
             docs="activations.md", topic="GELU (exact and tanh form)"),
    OpRecord(name="softmax", forward=softmax_forward, backward=softmax_backward, layers=("Softmax",),
             family="activation", docs="exercises.md", topic="softmax and its Jacobian",
             helpers=(softmax, softmax_jacobian)),
)  # fmt: skip
