r"""2-D convolution (cross-correlation, as in PyTorch) via im2col + one GEMM.

Conventions (NCHW):

* ``x``: input, shape ``(N, C_in, H, W)``
* ``w``: weights, shape ``(C_out, C_in, kH, kW)`` (PyTorch's layout)
* ``b``: bias, shape ``(C_out,)`` or ``None``
* stride ``s`` and zero padding ``p`` per spatial axis;
  :math:`H_{out} = \lfloor (H + 2p_h - k_H)/s_h \rfloor + 1` (same for ``W``).

Forward (no kernel flip):

.. math::
    y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\, \tilde x_{n,c,\, s_h i+u,\, s_w j+v}

where :math:`\tilde x` is the zero-padded input. Writing the receptive fields of image ``n``
as the columns of a matrix :math:`X^{col}_n \in \mathbb{R}^{K \times P}`
(:math:`K = C_{in} k_H k_W`, :math:`P = H_{out} W_{out}`) and :math:`W \in \mathbb{R}^{C_{out}
\times K}`, the forward pass is one matrix product per image, :math:`Y_n = W X^{col}_n + b`.

Backward, with :math:`G_n = \partial L/\partial Y_n \in \mathbb{R}^{C_{out}\times P}`:

.. math::
    \frac{\partial L}{\partial b} = \sum_n G_n \mathbf 1, \qquad
    \frac{\partial L}{\partial W} = \sum_n G_n (X^{col}_n)^\top, \qquad
    \frac{\partial L}{\partial X^{col}_n} = W^\top G_n

and :math:`\partial L/\partial x` is ``col2im`` of :math:`\partial L/\partial X^{col}`: every column
entry is added back to the input pixel it was copied from (a scatter-add, done here as one
vectorized slice-add per kernel offset), then the padding border is dropped.

Derivation: ``docs/conv.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._util import conv_output_size, pad2d, pair, unpad2d


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    x_shape: tuple[int, ...]
    cols: np.ndarray  # (N, C_in*kH*kW, H_out*W_out)
    w: np.ndarray  # (C_out, C_in, kH, kW)
    has_bias: bool
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_hw: tuple[int, int]


def window_view(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, Ho: int, Wo: int) -> np.ndarray:
    """Read-only strided view of all ``kh x kw`` windows of ``xp`` (no copy).

    Args:
        xp: array of shape ``(N, C, Hp, Wp)`` (already padded if needed).
    Returns:
        view of shape ``(N, C, kh, kw, Ho, Wo)`` with
        ``view[n, c, u, v, i, j] == xp[n, c, sh*i + u, sw*j + v]``.
    """
    s0, s1, s2, s3 = xp.strides
    N, C = xp.shape[:2]
    return as_strided(
        xp,
        shape=(N, C, kh, kw, Ho, Wo),
        strides=(s0, s1, s2, s3, s2 * sh, s3 * sw),
        writeable=False,
    )


def im2col(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """Unfold the receptive fields of ``x`` into columns.

    Args:
        x: input of shape ``(N, C, H, W)``.
    Returns:
        ``cols`` of shape ``(N, C*kH*kW, H_out*W_out)``; row index ``(c*kH + u)*kW + v``
        matches ``w.reshape(C_out, -1)`` so that ``w.reshape(C_out, -1) @ cols[n]`` is the
        convolution of image ``n``.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    xp = pad2d(x, ph, pw)
    return window_view(xp, kh, kw, sh, sw, Ho, Wo).reshape(N, C * kh * kw, Ho * Wo)


def col2im(
    dcols: np.ndarray,
    x_shape: tuple[int, ...],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add columns back onto the input grid.

    Args:
        dcols: gradient w.r.t. the columns, shape ``(N, C*kH*kW, H_out*W_out)``.
        x_shape: ``(N, C, H, W)`` of the original input.
    Returns:
        ``dx`` of shape ``x_shape``. Each pixel receives the sum of the column entries it was
        copied into. The loop runs over the ``kH*kW`` kernel offsets only; each iteration is
        one vectorized strided add over all images, channels and output positions.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    d6 = dcols.reshape(N, C, kh, kw, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u : u + sh * (Ho - 1) + 1 : sh, v : v + sw * (Wo - 1) + 1 : sw] += d6[:, :, u, v]
    return unpad2d(dxp, ph, pw)


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass (cross-correlation, zero padding).

    Args:
        x: input, shape ``(N, C_in, H, W)``.
        w: weights, shape ``(C_out, C_in, kH, kW)``.
        b: bias, shape ``(C_out,)``, or ``None``.
    Returns:
        ``(y, cache)`` with ``y`` of shape ``(N, C_out, H_out, W_out)``.
    """
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    N, _, H, W = x.shape
    Co, _, kh, kw = w.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))
    y = np.matmul(w.reshape(Co, -1), cols)  # (N, C_out, P): one GEMM per image, NCHW directly
    if b is not None:
        y += b.reshape(Co, 1)
    cache = ConvCache(x.shape, cols, w, b is not None, (sh, sw), (ph, pw), (Ho, Wo))
    return y.reshape(N, Co, Ho, Wo), cache


def conv2d_backward(
    dout: np.ndarray, cache: ConvCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Convolution backward pass.

    Args:
        dout: upstream gradient, shape ``(N, C_out, H_out, W_out)``.
        cache: from :func:`conv2d_forward`.
        need_dx: skip the input gradient (e.g. for the first layer of a network).
    Returns:
        ``(dx, dw, db)``: shapes ``(N, C_in, H, W)`` (or ``None``), ``(C_out, C_in, kH, kW)``,
        ``(C_out,)`` (or ``None`` when the layer has no bias).
    """
    x_shape, cols, w, has_bias, stride, padding, _ = cache
    N = x_shape[0]
    Co = w.shape[0]
    g = dout.reshape(N, Co, -1)  # (N, C_out, P)
    db = g.sum(axis=(0, 2)) if has_bias else None
    # dW = sum_n G_n X_n^T: one GEMM per image, then a reduction over the batch.
    dw = np.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dx = None
    if need_dx:
        dcols = np.matmul(w.reshape(Co, -1).T, g)  # (N, K, P)
        dx = col2im(dcols, x_shape, w.shape[2:], stride, padding)
    return dx, dw, db
