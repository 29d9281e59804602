r"""Max- and average-pooling over ``kH x kW`` windows with stride ``(sH, sW)`` (NCHW, no padding).

:math:`H_{out} = \lfloor (H - k_H)/s_H \rfloor + 1`: rows/columns that do not fill a whole
window are ignored in the forward pass and receive zero gradient (PyTorch's ``ceil_mode=False``).
Windows may overlap (``s < k``) or leave gaps (``s > k``).

Max pooling

.. math::
    y_{n,c,i,j} = \max_{u,v}\; x_{n,c,\,s_H i+u,\,s_W j+v}, \qquad
    \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{i,j} \frac{\partial L}{\partial y_{n,c,i,j}}
    \,[\,(h,w) = \operatorname{argmax}_{(i,j)}\,]

Ties: the gradient of a window goes to exactly one element, the *first* maximum in row-major
(``u`` then ``v``) order, which is PyTorch's rule. With overlapping windows one input can be the
arg-max of several windows and then collects all their gradients.

Average pooling

.. math::
    y_{n,c,i,j} = \frac{1}{k_H k_W}\sum_{u,v} x_{n,c,\,s_H i+u,\,s_W j+v}, \qquad
    \frac{\partial L}{\partial x_{n,c,h,w}} = \frac{1}{k_H k_W}
    \sum_{(i,j)\,:\,(h,w)\in\text{window}(i,j)} \frac{\partial L}{\partial y_{n,c,i,j}}

Derivation: ``docs/pooling.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._util import conv_output_size, pair
from .conv import window_view


class PoolCache(NamedTuple):
    """What the pooling backward passes need from the forward pass."""

    x_shape: tuple[int, ...]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    argmax: np.ndarray | None  # flat index u*kW + v of the chosen element (max pool only)


def pool_geometry(
    x_shape: tuple[int, ...],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Normalise ``kernel_size``/``stride`` (stride defaults to the kernel); give ``(Ho, Wo)``."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    H, W = x_shape[-2:]
    return (kh, kw), (sh, sw), (conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0))


def _windows(x: np.ndarray, kernel, stride, out_hw) -> np.ndarray:
    """All pooling windows as a view ``(N, C, Ho, Wo, kH, kW)`` (no copy)."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    return window_view(x, kh, kw, sh, sw, Ho, Wo).transpose(0, 1, 4, 5, 2, 3)


def _scatter_windows(dwin: np.ndarray, x_shape, kernel, stride, out_hw) -> np.ndarray:
    """Adjoint of :func:`_windows`: add ``dwin`` of shape ``(N, C, Ho, Wo, kH, kW)`` onto a
    zero array of ``x_shape``. Loops over the ``kH*kW`` kernel offsets only."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    dx = np.zeros(x_shape, dtype=dwin.dtype)
    overlapping = sh < kh or sw < kw
    for u in range(kh):
        for v in range(kw):
            target = dx[:, :, u : u + sh * (Ho - 1) + 1 : sh, v : v + sw * (Wo - 1) + 1 : sw]
            if overlapping:
                target += dwin[..., u, v]
            else:  # every input pixel is in at most one window: plain assignment
                target[...] = dwin[..., u, v]
    return dx


def maxpool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> tuple[np.ndarray, PoolCache]:
    """Max pooling forward pass.

    Args:
        x: input, shape ``(N, C, H, W)``.
    Returns:
        ``(y, cache)`` with ``y`` of shape ``(N, C, H_out, W_out)``.
    """
    kernel, stride_hw, out_hw = pool_geometry(x.shape, kernel_size, stride)
    N, C = x.shape[:2]
    kh, kw = kernel
    win = _windows(x, kernel, stride_hw, out_hw).reshape(N, C, *out_hw, kh * kw)  # copy
    idx_dtype = np.uint8 if kh * kw <= 256 else np.intp
    argmax = win.argmax(axis=-1).astype(idx_dtype)  # first maximum wins ties
    y = np.take_along_axis(win, argmax[..., None].astype(np.intp), axis=-1)[..., 0]
    return y, PoolCache(x.shape, kernel, stride_hw, argmax)


def maxpool2d_backward(dout: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Max pooling backward pass: route each window's gradient to its arg-max.

    Args:
        dout: upstream gradient, shape ``(N, C, H_out, W_out)``.
    Returns:
        ``dx`` of shape ``(N, C, H, W)``.
    """
    x_shape, (kh, kw), stride, argmax = cache
    offsets = np.arange(kh * kw, dtype=argmax.dtype).reshape(kh, kw)
    dwin = np.where(argmax[..., None, None] == offsets, dout[..., None, None], 0).astype(
        dout.dtype, copy=False
    )
    return _scatter_windows(dwin, x_shape, (kh, kw), stride, dout.shape[-2:])


def avgpool2d_forward(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> tuple[np.ndarray, PoolCache]:
    """Average pooling forward pass (every window has exactly ``kH*kW`` elements).

    Args:
        x: input, shape ``(N, C, H, W)``.
    Returns:
        ``(y, cache)`` with ``y`` of shape ``(N, C, H_out, W_out)``.
    """
    kernel, stride_hw, out_hw = pool_geometry(x.shape, kernel_size, stride)
    y = _windows(x, kernel, stride_hw, out_hw).mean(axis=(-2, -1), dtype=x.dtype)
    return y, PoolCache(x.shape, kernel, stride_hw, None)


def avgpool2d_backward(dout: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Average pooling backward pass: each window spreads ``dout / (kH*kW)`` evenly.

    Args:
        dout: upstream gradient, shape ``(N, C, H_out, W_out)``.
    Returns:
        ``dx`` of shape ``(N, C, H, W)``.
    """
    x_shape, (kh, kw), stride, _ = cache
    share = dout / np.asarray(kh * kw, dtype=dout.dtype)
    dwin = np.broadcast_to(share[..., None, None], (*share.shape, kh, kw))
    return _scatter_windows(dwin, x_shape, (kh, kw), stride, dout.shape[-2:])
