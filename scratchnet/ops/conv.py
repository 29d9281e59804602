r"""2-D convolution (cross-correlation, as in PyTorch): im2col + one large GEMM per pass.

Conventions (the public layout is NCHW):

* ``x``: input, logical shape ``(N, C_in, H, W)``
* ``w``: weights, ``(C_out, C_in, kH, kW)`` (PyTorch's layout)
* ``b``: bias, ``(C_out,)`` or ``None``
* stride ``s`` and zero padding ``p`` per spatial axis;
  :math:`H_{out} = \lfloor (H + 2p_h - k_H)/s_h \rfloor + 1` (same for ``W``).

Forward (no kernel flip):

.. math::
    y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\, \tilde x_{n,c,\, s_h i+u,\, s_w j+v}

where :math:`\tilde x` is the zero-padded input. Put every receptive field in a row of
:math:`X \in \mathbb{R}^{M \times K}` (:math:`M = N H_{out} W_{out}` output positions,
:math:`K = C_{in} k_H k_W` values each: "im2col") and the weights in
:math:`W \in \mathbb{R}^{C_{out} \times K}` (same order of the :math:`K` values). The whole batch
is then one matrix product

.. math::
    Y = X W^\top + \mathbf 1 b^\top = [X\ \mathbf 1]\,[W\ b]^\top \in \mathbb{R}^{M\times C_{out}}.

The second form is what the code computes: a column of ones appended to :math:`X` carries the
bias through the same GEMM (no separate broadcast pass).

Backward, with :math:`G = \partial L/\partial Y \in \mathbb{R}^{M \times C_{out}}`:

.. math::
    \frac{\partial L}{\partial [W\ b]} = G^\top [X\ \mathbf 1] \quad
    (\text{so } \partial L/\partial b = G^\top \mathbf 1), \qquad
    \frac{\partial L}{\partial X} = G W

and :math:`\partial L/\partial x` is ``col2im`` of :math:`\partial L/\partial X`: every entry is
added back to the input pixel it was copied from (a scatter-add done as one vectorized strided add
per kernel offset); entries that came from the zero padding are dropped.

Memory layouts. :math:`Y` comes out as ``(N, H_out, W_out, C_out)`` in memory (channels-last)
and is returned as a view with the logical NCHW shape, as PyTorch's ``channels_last`` memory
format does: no transpose is ever copied. Every op accepts any memory layout; channels-last
inputs take the fast paths. :math:`X` is stored either row-major (``(M, K)``, values ordered
``(u, v, c)``: each receptive field copies runs of ``C_in`` contiguous channels) or, for inputs
with few channels such as images, "K-major" (``(K, M)``, ordered ``(c, u, v)``: each row copies
whole image rows); BLAS reads either without a transpose.

Derivation: ``docs/conv.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._util import batch_chunks, conv_output_size, pair

KMAJOR_MAX_CHANNELS = 8  # inputs with fewer channels use the K-major im2col layout


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    x_shape: tuple[int, ...]  # logical NCHW shape of the input
    cols: np.ndarray  # im2col matrix: (M, K[+1]) row-major or (K[+1], M) K-major
    kmajor: bool
    w: np.ndarray  # (C_out, C_in, kH, kW)
    has_bias: bool  # cols then holds the column (row) of ones
    stride: tuple[int, int]
    padding: tuple[int, int]


def nhwc(x: np.ndarray) -> np.ndarray:
    """``x`` (logical NCHW) as a C-contiguous ``(N, H, W, C)`` array: a free view when ``x`` is
    channels-last in memory (or has one channel), otherwise one transposing copy."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def is_channels_last(x: np.ndarray) -> bool:
    """True when the NCHW-shaped ``x`` is stored as a contiguous NHWC array."""
    return x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous


def _workspace(ws: dict | None, key: str, shape: tuple[int, ...], dtype: np.dtype, zero: bool) -> np.ndarray:
    """A scratch array reused across calls of the same shape (kept in ``ws`` if given)."""
    buf = None if ws is None else ws.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        if ws is not None:
            ws[key] = buf
    return buf


def _padded(x: np.ndarray, ph: int, pw: int, channels_last: bool, ws: dict | None) -> np.ndarray:
    """Zero-padded copy of ``x`` in a reusable buffer (NHWC or NCHW memory), or ``x`` itself."""
    N, C, H, W = x.shape
    if channels_last:
        src = x.transpose(0, 2, 3, 1)
        if ph == 0 and pw == 0:
            return np.ascontiguousarray(src)
        xp = _workspace(ws, "xpad_nhwc", (N, H + 2 * ph, W + 2 * pw, C), x.dtype, zero=True)
        xp[:, ph : ph + H, pw : pw + W, :] = src  # the border stays zero
        return xp
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    xp = _workspace(ws, "xpad_nchw", (N, C, H + 2 * ph, W + 2 * pw), x.dtype, zero=True)
    xp[:, :, ph : ph + H, pw : pw + W] = x
    return xp


def im2col(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    *,
    kmajor: bool = False,
    ones: bool = False,
    workspace: dict | None = None,
) -> np.ndarray:
    """Receptive fields of ``x`` as the rows (or columns) of a matrix.

    Args:
        x: input of logical shape ``(N, C, H, W)`` (any memory layout).
        kmajor: return ``(K, M)`` ordered ``(c, u, v)`` instead of ``(M, K)`` ordered ``(u, v, c)``.
        ones: append a column (K-major: a row) of ones, for the bias.
        workspace: optional dict whose buffers are reused across calls of the same shape (the
            result then lives in the workspace and is overwritten by the next call).
    Returns:
        Row-major: ``X`` of shape ``(N*H_out*W_out, kH*kW*C [+1])``, row ``(n, i, j)`` holding
        ``xpad[n, c, sh*i + u, sw*j + v]`` at column ``(u*kW + v)*C + c``. K-major: its transpose
        with the ``K`` axis reordered as ``(c*kH + u)*kW + v``.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    K, M = C * kh * kw, N * Ho * Wo
    xp = _padded(x, ph, pw, channels_last=not kmajor, ws=workspace)
    s = xp.strides
    if kmajor:  # xp is (N, C, Hp, Wp)
        windows = as_strided(xp, (C, kh, kw, N, Ho, Wo), (s[1], s[2], s[3], s[0], s[2] * sh, s[3] * sw))
        out = _workspace(workspace, "cols", (K + ones, M), x.dtype, zero=False)
        np.copyto(np.reshape(out[:K], (C, kh, kw, N, Ho, Wo), copy=False), windows)
        if ones:
            out[K] = 1
    else:  # xp is (N, Hp, Wp, C)
        windows = as_strided(xp, (N, Ho, Wo, kh, kw, C), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]))
        out = _workspace(workspace, "rows", (M, K + ones), x.dtype, zero=False)
        np.copyto(np.reshape(out[:, :K], (N, Ho, Wo, kh, kw, C), copy=False), windows)
        if ones:
            out[:, K] = 1
    return out


def _scatter_add(dx: np.ndarray, d6: np.ndarray, kernel, stride, padding, kmajor: bool) -> None:
    """Add the row gradients ``d6`` of some images onto their NHWC input gradient ``dx``.

    ``d6`` is ``(n, Ho, Wo, kH, kW, C)`` (row-major) or ``(n, Ho, Wo, C, kH, kW)`` (K-major).
    One strided add per kernel offset; row entries that came from the padding are skipped.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    _, H, W, _ = dx.shape
    Ho, Wo = d6.shape[1:3]
    for u in range(kh):
        i0, i1 = _valid_range(H, Ho, u, sh, ph)
        for v in range(kw):
            j0, j1 = _valid_range(W, Wo, v, sw, pw)
            if i0 == i1 or j0 == j1:
                continue
            h0, w0 = sh * i0 + u - ph, sw * j0 + v - pw
            target = dx[:, h0 : h0 + sh * (i1 - i0 - 1) + 1 : sh, w0 : w0 + sw * (j1 - j0 - 1) + 1 : sw]
            target += d6[:, i0:i1, j0:j1, :, u, v] if kmajor else d6[:, i0:i1, j0:j1, u, v]


def _valid_range(size: int, out: int, offset: int, stride: int, pad: int) -> tuple[int, int]:
    """Output indices ``i`` in ``[lo, hi)`` whose input index ``stride*i + offset - pad`` lies
    inside ``[0, size)`` (the others read zero padding)."""
    lo = max(0, -(-(pad - offset) // stride))
    hi = min(out, (size - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


def _row_shape(x_shape, kernel, out_hw, kmajor: bool) -> tuple[int, ...]:
    N, C = x_shape[:2]
    (kh, kw), (Ho, Wo) = kernel, out_hw
    return (N, Ho, Wo, C, kh, kw) if kmajor else (N, Ho, Wo, kh, kw, C)


def col2im(
    drows: np.ndarray,
    x_shape: tuple[int, ...],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    kmajor: bool = False,
) -> np.ndarray:
    """Adjoint of :func:`im2col` (without the ones column): scatter-add rows back onto pixels.

    Args:
        drows: gradient w.r.t. the im2col matrix, ``(M, K)`` with columns ordered as
            :func:`im2col` orders them (``(u, v, c)``, or ``(c, u, v)`` when ``kmajor``).
        x_shape: logical ``(N, C, H, W)`` of the input.
    Returns:
        ``dx`` with logical shape ``x_shape``, channels-last in memory.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x_shape
    out_hw = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    dx = np.zeros((N, H, W, C), dtype=drows.dtype)
    d6 = drows.reshape(_row_shape(x_shape, kernel_size, out_hw, kmajor))
    _scatter_add(dx, d6, kernel_size, stride, padding, kmajor)
    return dx.transpose(0, 3, 1, 2)


def weight_matrix(w: np.ndarray, b: np.ndarray | None, kmajor: bool) -> np.ndarray:
    """``[W b]``: the weights as ``(C_out, K)`` in the im2col order, bias as a last column."""
    Co = w.shape[0]
    wm = w.reshape(Co, -1) if kmajor else w.transpose(0, 2, 3, 1).reshape(Co, -1)
    if b is None:
        return wm
    return np.concatenate([wm, b.reshape(Co, 1).astype(wm.dtype, copy=False)], axis=1)


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    workspace: dict | None = None,
) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass (cross-correlation, zero padding).

    Args:
        x: input, logical shape ``(N, C_in, H, W)``, any memory layout.
        w: weights, shape ``(C_out, C_in, kH, kW)``.
        b: bias, shape ``(C_out,)``, or ``None``.
        workspace: optional dict for scratch buffers reused across calls.
    Returns:
        ``(y, cache)``; ``y`` has logical shape ``(N, C_out, H_out, W_out)`` and is
        channels-last in memory.
    """
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    N, C, H, W = x.shape
    Co, _, kh, kw = w.shape
    Ho, Wo = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    kmajor = C < KMAJOR_MAX_CHANNELS
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw), kmajor=kmajor, ones=b is not None, workspace=workspace)
    wm = weight_matrix(w, b, kmajor)
    y = (cols.T if kmajor else cols) @ wm.T  # (M, C_out): the whole batch in one GEMM
    cache = ConvCache(x.shape, cols, kmajor, w, b is not None, (sh, sw), (ph, pw))
    return y.reshape(N, Ho, Wo, Co).transpose(0, 3, 1, 2), cache


def _weight_gradient(g: np.ndarray, cols: np.ndarray, kmajor: bool) -> np.ndarray:
    """``G^T [X 1]``, shape ``(C_out, K[+1])``.

    A long, thin reduction (``M = 100,352`` rows but ``K = 10`` columns for a first conv layer)
    runs poorly as one multi-threaded GEMM; it is then split into chunks of rows whose partial
    products stay in cache and are summed.
    """
    M, Co = g.shape
    K = cols.shape[0] if kmajor else cols.shape[1]
    chunk = max(256, 65536 // max(K, Co))
    if K * Co >= 4096 or M <= 2 * chunk:
        return (cols @ g).T if kmajor else g.T @ cols
    out = np.zeros((K, Co) if kmajor else (Co, K), dtype=np.result_type(g, cols))
    for i in range(0, M, chunk):
        if kmajor:
            out += cols[:, i : i + chunk] @ g[i : i + chunk]
        else:
            out += g[i : i + chunk].T @ cols[i : i + chunk]
    return out.T if kmajor else out


def conv2d_backward(
    dout: np.ndarray, cache: ConvCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Convolution backward pass.

    Args:
        dout: upstream gradient, logical shape ``(N, C_out, H_out, W_out)``, any layout.
        cache: from :func:`conv2d_forward`.
        need_dx: skip the input gradient (e.g. for the first layer of a network).
    Returns:
        ``(dx, dw, db)``: logical ``(N, C_in, H, W)`` channels-last (or ``None``),
        ``(C_out, C_in, kH, kW)``, ``(C_out,)`` (or ``None`` without bias).
    """
    x_shape, cols, kmajor, w, has_bias, stride, padding = cache
    Co, Ci, kh, kw = w.shape
    K = Ci * kh * kw
    g = nhwc(dout).reshape(-1, Co)  # (M, C_out); free when dout is channels-last
    dwm = _weight_gradient(g, cols, kmajor)
    db = dwm[:, K].copy() if has_bias else None
    dw = (
        dwm[:, :K].reshape(Co, Ci, kh, kw)
        if kmajor
        else dwm[:, :K].reshape(Co, kh, kw, Ci).transpose(0, 3, 1, 2)
    )
    dx = None
    if need_dx:
        N, _, H, W = x_shape
        Ho, Wo = dout.shape[2:]
        wk = weight_matrix(w, None, kmajor)  # (C_out, K)
        dxh = np.zeros((N, H, W, Ci), dtype=np.result_type(g, wk))
        g4 = g.reshape(N, Ho * Wo, Co)
        # per chunk of images: drows = G W (one GEMM), scattered while it is still in cache
        for sl in batch_chunks(N, Ho * Wo * K * dxh.itemsize, target=1 << 21):
            drows = g4[sl].reshape(-1, Co) @ wk
            d6 = drows.reshape(_row_shape((sl.stop - sl.start, Ci), (kh, kw), (Ho, Wo), kmajor))
            _scatter_add(dxh[sl], d6, (kh, kw), stride, padding, kmajor)
        dx = dxh.transpose(0, 3, 1, 2)
    return dx, np.ascontiguousarray(dw), db
