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

from ._util import batch_chunks, conv_output_size, nhwc, pair, recycled

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
    out_hw: tuple[int, int]  # the convolution's own output size
    pool: tuple[np.ndarray, ...] | None = None  # fused 2x2 max-pool: the tournament's winners


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


def _grid(out_hw: tuple[int, int], phases: int) -> tuple[int, int]:
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
    workspace: dict | None = None,
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
        workspace: optional dict whose buffers are reused across calls of the same shape (the
            result then lives in the workspace and is overwritten by the next call).
    Returns:
        Row-major: ``X`` of shape ``(M, kH*kW*C [+1])``; row ``(n, i, j)`` (for ``phases=1``)
        holds ``xpad[n, c, sh*i + u, sw*j + v]`` at column ``(u*kW + v)*C + c``. K-major: its
        transpose, with the ``K`` axis ordered ``(c*kH + u)*kW + v``.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x.shape
    P = phases
    Hg, Wg = _grid((conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)), P)
    K, M = C * kh * kw, P * P * N * Hg * Wg
    xp = _padded(x, ph, pw, channels_last=not kmajor, ws=workspace)
    s = xp.strides
    if kmajor:  # xp is (N, C, Hp, Wp); view (C, kh, kw, P, P, N, Hg, Wg)
        shape = (C, kh, kw, P, P, N, Hg, Wg)
        strides = (s[1], s[2], s[3], sh * s[2], sw * s[3], s[0], P * sh * s[2], P * sw * s[3])
        out = _workspace(workspace, "cols", (K + ones, M), x.dtype, zero=False)
        target = out[:K]
    else:  # xp is (N, Hp, Wp, C); view (P, P, N, Hg, Wg, kh, kw, C)
        shape = (P, P, N, Hg, Wg, kh, kw, C)
        strides = (sh * s[1], sw * s[2], s[0], P * sh * s[1], P * sw * s[2], s[1], s[2], s[3])
        # zero columns pad the width to a multiple of 8: BLAS runs the weight-gradient GEMM
        # (a reduction over M) markedly faster then; they are zeroed once, never written
        out = _workspace(workspace, "rows", (M, row_width(K, ones)), x.dtype, zero=True)
        target = out[:, :K]
    np.copyto(np.reshape(target, shape, copy=False), as_strided(xp, shape, strides, writeable=False))
    if ones:
        if kmajor:
            out[K] = 1
        else:
            out[:, K] = 1
    return out


def _scatter_add(dx: np.ndarray, d8: np.ndarray, kernel, stride, padding, kmajor: bool) -> None:
    """Add row gradients onto the NHWC input gradient ``dx`` of the same images.

    ``d8`` is ``(P, P, n, Hg, Wg, kH, kW, C)`` (row-major) or ``(P, P, n, Hg, Wg, C, kH, kW)``
    (K-major), ``P`` the number of phases. One strided add per phase and kernel offset; row
    entries that came from the padding are skipped.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    _, H, W, _ = dx.shape
    P, _, _, Hg, Wg = d8.shape[:5]
    for a in range(P):
        for b in range(P):
            for u in range(kh):
                i0, i1 = _valid_range(H, Hg, sh * a + u, P * sh, ph)
                for v in range(kw):
                    j0, j1 = _valid_range(W, Wg, sw * b + v, P * sw, pw)
                    if i0 == i1 or j0 == j1:
                        continue
                    h0, w0 = P * sh * i0 + sh * a + u - ph, P * sw * j0 + sw * b + v - pw
                    hs, ws = P * sh, P * sw
                    target = dx[:, h0 : h0 + hs * (i1 - i0 - 1) + 1 : hs, w0 : w0 + ws * (j1 - j0 - 1) + 1 : ws]
                    d = d8[a, b]
                    target += d[:, i0:i1, j0:j1, :, u, v] if kmajor else d[:, i0:i1, j0:j1, u, v]


def _valid_range(size: int, out: int, offset: int, stride: int, pad: int) -> tuple[int, int]:
    """Output indices ``i`` in ``[lo, hi)`` whose input index ``stride*i + offset - pad`` lies
    inside ``[0, size)`` (the others read zero padding)."""
    lo = max(0, -(-(pad - offset) // stride))
    hi = min(out, (size - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


def _row_shape(P: int, n: int, C: int, kernel, grid, kmajor: bool) -> tuple[int, ...]:
    (kh, kw), (Hg, Wg) = kernel, grid
    return (P, P, n, Hg, Wg, C, kh, kw) if kmajor else (P, P, n, Hg, Wg, kh, kw, C)


def col2im(
    drows: np.ndarray,
    x_shape: tuple[int, ...],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    kmajor: bool = False,
) -> np.ndarray:
    """Adjoint of :func:`im2col` (``phases=1``, no ones column): scatter-add rows onto pixels.

    Args:
        drows: gradient w.r.t. the im2col matrix, ``(M, K)`` with columns ordered as
            :func:`im2col` orders them (``(u, v, c)``, or ``(c, u, v)`` when ``kmajor``).
        x_shape: logical ``(N, C, H, W)`` of the input.
    Returns:
        ``dx`` with logical shape ``x_shape``, channels-last in memory.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x_shape
    grid = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    dx = np.zeros((N, H, W, C), dtype=drows.dtype)
    _scatter_add(
        dx, drows.reshape(_row_shape(1, N, C, kernel_size, grid, kmajor)), kernel_size, stride, padding, kmajor
    )
    return dx.transpose(0, 3, 1, 2)


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


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    workspace: dict | None = None,
    maxpool2x2: bool = False,
) -> tuple[np.ndarray, ConvCache]:
    """Convolution forward pass (cross-correlation, zero padding).

    Args:
        x: input, logical shape ``(N, C_in, H, W)``, any memory layout.
        w: weights, shape ``(C_out, C_in, kH, kW)``.
        b: bias, shape ``(C_out,)``, or ``None``.
        workspace: optional dict for scratch buffers reused across calls.
        maxpool2x2: also apply a 2x2 / stride 2 max-pool to the result (what
            ``Conv2D`` followed by ``MaxPool2D(2)`` computes). The convolution's output rows
            are then produced grouped by window element (see :func:`im2col`), so the pool and
            its backward pass are contiguous element-wise operations.
    Returns:
        ``(y, cache)``; ``y`` has logical shape ``(N, C_out, H_out, W_out)`` (pooled: halved,
        rounded down) and is channels-last in memory.
    """
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    N, C, H, W = x.shape
    Co, _, kh, kw = w.shape
    out_hw = conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw)
    P = 2 if maxpool2x2 else 1
    Hg, Wg = _grid(out_hw, P)
    kmajor = C < KMAJOR_MAX_CHANNELS
    cols = im2col(
        x, (kh, kw), (sh, sw), (ph, pw), kmajor=kmajor, ones=b is not None, phases=P, workspace=workspace
    )
    wm = weight_matrix(w, b, kmajor, cols.shape[0] if kmajor else cols.shape[1])
    y = recycled((cols.shape[1] if kmajor else cols.shape[0], Co), np.result_type(cols, wm))
    np.matmul(cols.T if kmajor else cols, wm.T, out=y)  # (M, C_out): the whole batch in one GEMM
    winners = None
    if maxpool2x2:
        y, winners = _pool_phases(y.reshape(4, N * Hg * Wg, Co))
    cache = ConvCache(x.shape, cols, kmajor, w, b is not None, (sh, sw), (ph, pw), out_hw, winners)
    return y.reshape(N, Hg, Wg, Co).transpose(0, 3, 1, 2), cache


def _pool_phases(y4: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Max over the four window elements ``y4[0..3]`` (= top-left, top-right, bottom-left,
    bottom-right), as the tournament of :func:`scratchnet.ops.pool.maxpool2d_forward`: strict
    comparisons keep the first maximum in row-major order (PyTorch's tie rule)."""
    a, b, c, d = y4  # contiguous blocks: six streaming passes, no chunking needed
    top = np.maximum(a, b, out=recycled(a.shape, a.dtype))
    bottom = np.maximum(c, d, out=recycled(a.shape, a.dtype))
    winners = tuple(recycled(a.shape, bool) for _ in range(3))
    np.greater(b, a, out=winners[0])
    np.greater(d, c, out=winners[1])
    np.greater(bottom, top, out=winners[2])
    return np.maximum(top, bottom, out=top), winners


def _unpool_phases(g: np.ndarray, winners: tuple[np.ndarray, ...]) -> np.ndarray:
    """Adjoint of :func:`_pool_phases`: ``(4, P, C)`` gradient with ``g`` at each window's winner."""
    rt, rb, bt = winners
    out = recycled((4, *g.shape), g.dtype)
    g1 = np.multiply(g, bt, out=recycled(g.shape, g.dtype))  # the bottom row won (exactly g or 0)
    g0 = np.subtract(g, g1, out=recycled(g.shape, g.dtype))  # the top row won
    np.multiply(g0, rt, out=out[1])
    np.subtract(g0, out[1], out=out[0])
    np.multiply(g1, rb, out=out[3])
    np.subtract(g1, out[3], out=out[2])
    return out


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
    """Convolution backward pass (of the pooled result, if the forward pass pooled).

    Args:
        dout: upstream gradient, logical shape of the forward output, any memory layout.
        cache: from :func:`conv2d_forward`.
        need_dx: skip the input gradient (e.g. for the first layer of a network).
    Returns:
        ``(dx, dw, db)``: logical ``(N, C_in, H, W)`` channels-last (or ``None``),
        ``(C_out, C_in, kH, kW)``, ``(C_out,)`` (or ``None`` without bias).
    """
    x_shape, cols, kmajor, w, has_bias, stride, padding, out_hw, winners = cache
    Co, Ci, kh, kw = w.shape
    K = Ci * kh * kw
    P = 1 if winners is None else 2
    g = nhwc(dout).reshape(-1, Co)  # (M or M/4, C_out); free when dout is channels-last
    if winners is not None:
        g = _unpool_phases(g, winners).reshape(-1, Co)  # rows ordered like cols
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
        Hg, Wg = _grid(out_hw, P)
        wk = weight_matrix(w, None, kmajor)  # (C_out, K)
        dxh = recycled((N, H, W, Ci), np.result_type(g, wk), zero=True)
        # rows back in (n, oh, ow) order, so that the scatter below writes unit-stride runs
        g6 = g.reshape(P, P, N, Hg, Wg, Co).transpose(2, 3, 0, 4, 1, 5)  # (N, Hg, P, Wg, P, Co)
        grid = (P * Hg, P * Wg)  # output positions with a gradient (a pool drops odd leftovers)
        # per chunk of images: drows = G W (one GEMM), scattered while it is still in cache
        for sl in batch_chunks(N, grid[0] * grid[1] * K * dxh.itemsize, target=1 << 21):
            gc = g6[sl].reshape(-1, Co)  # free for P == 1; a transposing gather for P == 2
            drows = gc @ wk
            d8 = drows.reshape(_row_shape(1, sl.stop - sl.start, Ci, (kh, kw), grid, kmajor))
            _scatter_add(dxh[sl], d8, (kh, kw), stride, padding, kmajor)
        dx = dxh.transpose(0, 3, 1, 2)
    return dx, np.ascontiguousarray(dw), db
