r"""2-D convolution (cross-correlation, as in PyTorch): im2col + one large GEMM per pass.

Conventions (the public layout is NCHW):

* ``x``: input, logical shape ``(N, C_in, H, W)``
* ``w``: weights, ``(C_out, C_in, kH, kW)`` (PyTorch's layout)
* ``b``: bias, ``(C_out,)`` or ``None``
* stride ``s``, zero padding ``p`` and dilation ``d`` per spatial axis;
  :math:`H_{out} = \lfloor (H + 2p_h - d_h(k_H - 1) - 1)/s_h \rfloor + 1` (same for ``W``).

Forward (no kernel flip):

.. math::
    y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\, \tilde x_{n,c,\, s_h i+d_h u,\, s_w j+d_w v}

(dilation :math:`d` spreads the kernel's taps :math:`d` pixels apart: a :math:`k\times k` kernel
then sees a :math:`d(k-1)+1` wide window with the same number of weights).

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

and :math:`\partial L/\partial x` is :func:`col2im` of :math:`\partial L/\partial X`: every entry
is added back to the input pixel it was copied from (a scatter-add done as one vectorized strided
add per kernel offset); entries that came from the zero padding are dropped.

Memory layouts. :math:`Y` comes out as ``(N, H_out, W_out, C_out)`` in memory (channels-last)
and is returned as a view with the logical NCHW shape, as PyTorch's ``channels_last`` memory
format does: no transpose is ever copied. Every op accepts any memory layout; channels-last
inputs take the fast paths. :math:`X` is stored either row-major (``(M, K)``, values ordered
``(u, v, c)``: each receptive field copies runs of ``C_in`` contiguous channels) or, for inputs
with few channels such as images, "K-major" (``(K, M)``, ordered ``(c, u, v)``: each row copies
whole image rows); BLAS reads either without a transpose.

The same GEMMs serve the fused convolution + 2x2 max-pool of :mod:`scratchnet.ops.convpool`:
:func:`conv_rows` can order the output positions by pooling-window element ("phases"), and
:func:`conv_rows_backward` takes the gradient rows in that order. Slow loop twins of every pass:
:mod:`scratchnet.ops.naive` (read it first).

Derivation: ``docs/conv.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._util import batch_chunks, conv_output_size, nhwc, padded_copy, pair
from .record import OpRecord
from .winograd import WinogradCache, winograd_applies, winograd_conv2d, winograd_conv2d_gradients
from .workspace import Workspace, scratch

KMAJOR_MAX_CHANNELS = 8  # inputs with fewer channels use the K-major im2col layout


def dilated(kernel: int, dilation: int) -> int:
    """The span of a dilated kernel: ``d (k - 1) + 1`` input pixels.

    Equation (9) of ``docs/conv.md``.
    """
    return dilation * (kernel - 1) + 1


class ConvCache(NamedTuple):
    """What the convolution backward pass needs from the forward pass.

    ``cols`` aliases the layer's workspace (key ``"cols"`` or ``"rows"``) when one was given:
    it is overwritten by the layer's next forward pass, which also replaces this cache.
    """

    x_shape: tuple[int, ...]  # logical NCHW shape of the input
    cols: np.ndarray  # im2col matrix: (M, K[+1]) row-major or (K[+1], M) K-major
    kmajor: bool
    w: np.ndarray  # (C_out, C_in, kH, kW)
    has_bias: bool  # cols then holds the column (row) of ones
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_hw: tuple[int, int]  # the convolution's own output size
    phases: int = 1  # 2: rows grouped by 2x2 pooling-window element (see im2col)
    dilation: tuple[int, int] = (1, 1)


def uses_kmajor(in_channels: int) -> bool:
    """Whether an input with ``in_channels`` channels gets the K-major im2col layout."""
    return in_channels < KMAJOR_MAX_CHANNELS


def pooled_grid(out_hw: tuple[int, int], phases: int) -> tuple[int, int]:
    """Output positions per phase: all of them, or (for a fused 2x2 pool) those a window covers."""
    return out_hw[0] // phases, out_hw[1] // phases


def im2col(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    *,
    kmajor: bool = False,
    ones: bool = False,
    phases: int = 1,
    ws: Workspace | None = None,
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Receptive fields of ``x`` as the rows (or columns) of a matrix.

    Args:
        x: input of logical shape ``(N, C, H, W)`` (any memory layout).
        kmajor: return ``(K, M)`` ordered ``(c, u, v)`` instead of ``(M, K)`` ordered ``(u, v, c)``.
        ones: append a column (K-major: a row) of ones, for the bias.
        phases: 1, or 2 to order the ``M`` output positions ``(oh, ow) = (2i + a, 2j + b)`` as
            ``(a, b, n, i, j)``: each of the four elements of a following 2x2 max-pool window
            then has its own contiguous block of rows (positions outside every window are left
            out).
        ws: the calling layer's workspace; the result then lives in it (key ``"cols"`` or
            ``"rows"``) and is overwritten by the next call.
        dilation: the distance between a kernel's taps (1: adjacent pixels).
    Returns:
        Row-major: ``X`` of shape ``(M, kH*kW*C [+1])``; row ``(n, i, j)`` (for ``phases=1``)
        holds ``xpad[n, c, sh*i + dh*u, sw*j + dw*v]`` at column ``(u*kW + v)*C + c``. K-major:
        its transpose, with the ``K`` axis ordered ``(c*kH + u)*kW + v``.

    Equation (3) of ``docs/conv.md``.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    N, C, H, W = x.shape
    P = phases
    out_hw = conv_output_size(H, dilated(kh, dh), sh, ph), conv_output_size(W, dilated(kw, dw), sw, pw)
    Hg, Wg = pooled_grid(out_hw, P)
    K, M = C * kh * kw, P * P * N * Hg * Wg
    xp = padded_copy(x, ph, pw, channels_last=not kmajor, ws=ws)
    s = xp.strides
    if kmajor:  # xp is (N, C, Hp, Wp); view (C, kh, kw, P, P, N, Hg, Wg)
        shape = (C, kh, kw, P, P, N, Hg, Wg)
        strides = (s[1], dh * s[2], dw * s[3], sh * s[2], sw * s[3], s[0], P * sh * s[2], P * sw * s[3])
        out = scratch(ws, "cols", (K + ones, M), x.dtype)
        target = out[:K]
    else:  # xp is (N, Hp, Wp, C); view (P, P, N, Hg, Wg, kh, kw, C)
        shape = (P, P, N, Hg, Wg, kh, kw, C)
        strides = (sh * s[1], sw * s[2], s[0], P * sh * s[1], P * sw * s[2], dh * s[1], dw * s[2], s[3])
        # zero columns pad the width to a multiple of 8: BLAS runs the weight-gradient GEMM
        # (a reduction over M) markedly faster then; they are zeroed once, never written
        out = scratch(ws, "rows", (M, row_width(K, ones)), x.dtype, init="zeros-once")
        target = out[:, :K]
    np.copyto(np.reshape(target, shape, copy=False), as_strided(xp, shape, strides, writeable=False))
    if ones:
        if kmajor:
            out[K] = 1
        else:
            out[:, K] = 1
    return out


def col2im(
    drows: np.ndarray,
    x_shape: tuple[int, ...],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    kmajor: bool = False,
    *,
    out_hw: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Adjoint of :func:`im2col` (``phases=1``, no ones column): scatter-add rows onto pixels.

    Args:
        drows: gradient w.r.t. the im2col matrix, ``(M, K)`` with rows ordered ``(n, i, j)`` and
            columns as :func:`im2col` orders them (``(u, v, c)``, or ``(c, u, v)`` when ``kmajor``).
        x_shape: logical ``(N, C, H, W)`` of the input.
        out_hw: the output positions the rows cover (default: the whole convolution output; a
            fused 2x2 pool covers an even-sized part of it).
        out: an ``(N, H, W, C)`` array to add into (default: a new zeroed one).
    Returns:
        ``dx`` with logical shape ``x_shape``, channels-last in memory (a view of ``out``).

    Equation (7) of ``docs/conv.md``.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    N, C, H, W = x_shape
    Ho, Wo = out_hw or (conv_output_size(H, dilated(kh, dh), sh, ph),
                        conv_output_size(W, dilated(kw, dw), sw, pw))  # fmt: skip
    dx = np.zeros((N, H, W, C), dtype=drows.dtype) if out is None else out
    per_offset = drows.reshape((N, Ho, Wo, C, kh, kw) if kmajor else (N, Ho, Wo, kh, kw, C))
    for u in range(kh):
        i0, i1 = _inside(H, Ho, dh * u, sh, ph)
        for v in range(kw):
            j0, j1 = _inside(W, Wo, dw * v, sw, pw)
            if i0 == i1 or j0 == j1:
                continue  # this kernel offset only ever reads padding
            h0, w0 = sh * i0 + dh * u - ph, sw * j0 + dw * v - pw
            pixels = dx[:, h0 : h0 + sh * (i1 - i0 - 1) + 1 : sh, w0 : w0 + sw * (j1 - j0 - 1) + 1 : sw]
            pixels += per_offset[:, i0:i1, j0:j1, :, u, v] if kmajor else per_offset[:, i0:i1, j0:j1, u, v]
    return dx.transpose(0, 3, 1, 2)


def _inside(size: int, out: int, offset: int, stride: int, pad: int) -> tuple[int, int]:
    """Output indices ``i`` in ``[lo, hi)`` whose input index ``stride*i + offset - pad`` lies
    inside ``[0, size)`` (the others read zero padding)."""
    lo = max(0, -(-(pad - offset) // stride))
    hi = min(out, (size - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


def row_width(K: int, ones: bool) -> int:
    """Columns of the row-major im2col matrix: ``K`` values, the ones column, zero padding."""
    return -(-(K + ones) // 8) * 8


def weight_matrix(w: np.ndarray, b: np.ndarray | None, kmajor: bool, width: int | None = None) -> np.ndarray:
    """``[W b 0]``: the weights as ``(C_out, K)`` in the im2col order, the bias as the next
    column, zero columns up to ``width`` (the im2col matrix's padding)."""
    Co = w.shape[0]
    wm = w.reshape(Co, -1) if kmajor else w.transpose(0, 2, 3, 1).reshape(Co, -1)
    K = wm.shape[1]
    if b is None and (width is None or width == K):
        return wm
    out = np.zeros((Co, width or K + 1), dtype=wm.dtype)
    out[:, :K] = wm
    if b is not None:
        out[:, K] = b
    return out


def conv_rows(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    phases: int,
    ws: Workspace | None,
    output: bool,
    dilation: tuple[int, int] = (1, 1),
) -> tuple[np.ndarray, ConvCache]:
    r"""The convolution as one GEMM: :math:`Y = [X\ \mathbf 1]\,[W\ b]^\top` of shape ``(M, C_out)``, rows
    in the order of :func:`im2col` with ``phases``. ``output``: ``Y`` is returned to the op's caller."""
    _, C, H, W = x.shape
    Co, _, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    out_hw = conv_output_size(H, dilated(kh, dh), sh, ph), conv_output_size(W, dilated(kw, dw), sw, pw)
    kmajor = uses_kmajor(C)
    cols = im2col(x, (kh, kw), stride, padding, kmajor=kmajor, ones=b is not None, phases=phases, ws=ws,
                  dilation=dilation)  # fmt: skip
    wm = weight_matrix(w, b, kmajor, cols.shape[0] if kmajor else cols.shape[1])
    M = cols.shape[1] if kmajor else cols.shape[0]
    y = scratch(ws, "y_rows", (M, Co), np.result_type(cols, wm), output=output)
    np.matmul(cols.T if kmajor else cols, wm.T, out=y)  # (M, C_out): the whole batch in one GEMM
    return y, ConvCache(x.shape, cols, kmajor, w, b is not None, stride, padding, out_hw, phases, dilation)


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    ws: Workspace | None = None,
    dilation: int | tuple[int, int] = 1,
) -> tuple[np.ndarray, ConvCache | WinogradCache]:
    """Convolution forward pass (cross-correlation, zero padding, optional dilation).

    Args:
        x: input, logical shape ``(N, C_in, H, W)``, any memory layout.
        w: weights, shape ``(C_out, C_in, kH, kW)``.
        b: bias, shape ``(C_out,)``, or ``None``.
        ws: the calling layer's workspace (see :mod:`scratchnet.ops.workspace`).
        dilation: distance between the kernel's taps.
    Returns:
        ``(y, cache)``; ``y`` has logical shape ``(N, C_out, H_out, W_out)`` and is
        channels-last in memory.

    A 3x3 kernel of stride 1 with an even output size and enough input channels takes the Winograd path
    (:func:`scratchnet.ops.winograd.winograd_conv2d`); its cache is then a
    :class:`~scratchnet.ops.winograd.WinogradCache`.

    Equations (4) and (9) of ``docs/conv.md``.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    H, W = x.shape[2:]
    if winograd_applies(w.shape, stride, dilation, whole=(H + 2 * padding[0] - 2, W + 2 * padding[1] - 2)):
        return winograd_conv2d(x, w, b, padding, ws)
    y, cache = conv_rows(x, w, b, stride, padding, 1, ws, output=True, dilation=dilation)
    Ho, Wo = cache.out_hw
    return y.reshape(x.shape[0], Ho, Wo, w.shape[0]).transpose(0, 3, 1, 2), cache


def weight_gradient(g: np.ndarray, cols: np.ndarray, kmajor: bool) -> np.ndarray:
    r""":math:`G^\top [X\ \mathbf 1]`, shape ``(C_out, K[+1])``.

    A long, thin reduction (``M = 100,352`` rows but ``K = 10`` columns for a first conv layer)
    runs poorly as one multi-threaded GEMM; it is then split into chunks of rows whose partial
    products stay in cache and are summed.

    Equation (5) of ``docs/conv.md``.
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


def conv_rows_backward(
    g: np.ndarray, cache: ConvCache, need_dx: bool, ws: Workspace | None, need_dw: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Backward pass of :func:`conv_rows` from ``g = dL/dY`` (``(M, C_out)``, rows in the
    cache's order): ``(dx, dw, db)``; ``need_dw=False`` (a frozen layer) skips ``dw`` and ``db``.

    Equations (6) and (7) of ``docs/conv.md``.
    """
    x_shape, cols, kmajor, w, has_bias, stride, padding, out_hw, phases, dilation = cache
    Co, Ci, kh, kw = w.shape
    K = Ci * kh * kw
    dw = db = None
    if need_dw:
        dwm = weight_gradient(g, cols, kmajor)
        db = dwm[:, K].copy() if has_bias else None
        by_filter = dwm[:, :K].reshape(Co, Ci, kh, kw) if kmajor else dwm[:, :K].reshape(Co, kh, kw, Ci)
        dw = np.ascontiguousarray(by_filter if kmajor else by_filter.transpose(0, 3, 1, 2))
    dx = None
    if need_dx:
        N, _, H, W = x_shape
        Hg, Wg = pooled_grid(out_hw, phases)
        wk = weight_matrix(w, None, kmajor)  # (C_out, K)
        dx_nhwc = scratch(ws, "dx", (N, H, W, Ci), np.result_type(g, wk), init="zeros", output=True)
        # rows back in (n, oh, ow) order, so that col2im writes unit-stride runs
        g_by_image = g.reshape(phases, phases, N, Hg, Wg, Co).transpose(2, 3, 0, 4, 1, 5)
        covered_hw = (phases * Hg, phases * Wg)  # a fused pool leaves odd last rows/columns out
        # per block of images: drows = G W (one GEMM), scattered while it is still in cache
        for sl in batch_chunks(N, covered_hw[0] * covered_hw[1] * K * dx_nhwc.itemsize, target=1 << 21):
            drows = g_by_image[sl].reshape(-1, Co) @ wk  # reshape: free for one phase, a gather for 2
            col2im(drows, (sl.stop - sl.start, Ci, H, W), (kh, kw), stride, padding, kmajor,
                   out_hw=covered_hw, out=dx_nhwc[sl], dilation=dilation)  # fmt: skip
        dx = dx_nhwc.transpose(0, 3, 1, 2)
    return dx, dw, db


def conv2d_backward(
    dout: np.ndarray,
    cache: ConvCache | WinogradCache,
    need_dx: bool = True,
    ws: Workspace | None = None,
    need_dw: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Convolution backward pass.

    Args:
        dout: upstream gradient, logical shape of the forward output, any memory layout.
        cache: from :func:`conv2d_forward`.
        need_dx: skip the input gradient (e.g. for the first layer of a network).
        need_dw: skip the weight and bias gradients (a frozen layer).
    Returns:
        ``(dx, dw, db)``: logical ``(N, C_in, H, W)`` channels-last (or ``None``),
        ``(C_out, C_in, kH, kW)`` (or ``None``), ``(C_out,)`` (or ``None`` without bias).
    """
    if isinstance(cache, WinogradCache):
        return winograd_conv2d_gradients(dout, cache, need_dx, ws, need_dw)
    g = nhwc(dout).reshape(-1, cache.w.shape[0])  # (M, C_out); free when dout is channels-last
    return conv_rows_backward(g, cache, need_dx, ws, need_dw)


RECORDS = (
    OpRecord(name="conv2d", forward=conv2d_forward, backward=conv2d_backward, layers=("Conv2D",), family="conv",
             docs="conv.md", topic="2-D convolution (stride, padding, dilation; im2col / col2im)",
             helpers=(im2col, col2im, conv_rows, conv_rows_backward, weight_gradient)),
)  # fmt: skip
