r"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 convolution of stride 1 on 2x2 output tiles.

A tile of output :math:`Y` (2x2) needs a 4x4 patch :math:`d` of the padded input; with the
constant matrices

.. math::
    B^\top = \begin{bmatrix}1&0&-1&0\\0&1&1&0\\0&-1&1&0\\0&1&0&-1\end{bmatrix},\quad
    G = \begin{bmatrix}1&0&0\\ \tfrac12&\tfrac12&\tfrac12\\ \tfrac12&-\tfrac12&\tfrac12\\0&0&1
    \end{bmatrix},\quad
    A^\top = \begin{bmatrix}1&1&1&0\\0&1&-1&-1\end{bmatrix}

the tile of a filter :math:`g` (3x3) summed over input channels :math:`c` is

.. math::
    Y_o = A^\top\Big[\sum_c (G g_{o,c} G^\top)\odot(B^\top d_c B)\Big]A .

Written for all 16 positions :math:`\xi` of the 4x4 transformed tile at once (the Kronecker
products :math:`B^\top\otimes B^\top` (16x16), :math:`G\otimes G` (16x9), :math:`A^\top\otimes
A^\top` (4x16) act on a tile flattened row by row), the sum over channels is one product per
position: :math:`U_\xi = [(G\otimes G)\,g]_\xi \in \mathbb R^{C\times C_o}`, :math:`V_\xi =
[(B^\top\otimes B^\top)\,d]_\xi \in \mathbb R^{P\times C}` over the :math:`P` tiles, and

.. math::
    M_\xi = V_\xi U_\xi,\qquad Y = (A^\top\otimes A^\top)\,M .

That is 16 GEMMs with :math:`16 P C C_o` multiplications where im2col's one GEMM has
:math:`36 P C C_o` (2.25x fewer), and a 4x4 input patch per tile where im2col copies 9 values
per output (16/4 = 4 per output).

Backward: every step is linear, so each adjoint is the transpose,

.. math::
    \delta M = (A^\top\otimes A^\top)^\top\,\delta Y,\quad
    \delta U_\xi = V_\xi^\top\,\delta M_\xi,\quad \delta V_\xi = \delta M_\xi U_\xi^\top,

    \delta g = (G\otimes G)^\top\,\delta U,\qquad
    \delta d = (B^\top\otimes B^\top)^\top\,\delta V,

and :math:`\partial L/\partial x` adds each tile's :math:`\delta d` back onto the 4x4 patch it came
from (neighbouring patches overlap by two rows or columns). The transforms are exact in exact
arithmetic (``tests/test_fusion.py`` compares with the im2col path to 1e-12 in float64); in float32
they add rounding of the order of the GEMM's own, relative to the tensor's largest values.

Here the tiles are the windows of a following 2x2 max-pool (:func:`scratchnet.ops.convpool.
convpool2d_forward`): :math:`Y` comes out as the four window elements in four blocks, the order
:func:`scratchnet.ops.conv.im2col` gives with ``phases=2``, and an odd last output row or column,
which no window holds, is never computed.

Every step runs on a block of whole images at a time (:func:`tile_chunks`), so that a block's
transformed tiles are still in the core's cache when the next step reads them; on the whole batch
at once the transforms were passes over arrays of 6-30 MB, bound by memory. Then it pays from
:data:`WINOGRAD_MIN_CHANNELS` input channels: a shard's forward and backward pass (1 thread) takes
0.64-0.72x the im2col path's time with 16 to 128 input channels and 0.90x with 8; with fewer, the
im2col path's K-major layout wins (``bench/bench_winograd.py``, ``docs/speed.md``).

Equations (11)-(13) of ``docs/conv.md``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._util import batch_chunks, channel_sum, nhwc, padded_copy
from .workspace import Workspace, scratch

WINOGRAD_MIN_CHANNELS = 8  # with fewer input channels the im2col path is as fast or faster
WINOGRAD_CHUNK_BYTES = 3 << 19  # 1.5 MiB of transformed tiles per block of images (tile_chunks)

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_KRON = {"B": np.kron(_BT, _BT), "G": np.kron(_G, _G), "A": np.kron(_AT, _AT)}  # (16,16), (16,9), (4,16)


@functools.cache
def _kron(name: str, dtype: np.dtype) -> np.ndarray:
    """A transform matrix of :data:`_KRON` in ``dtype``, converted once (read-only: shared)."""
    m = _KRON[name].astype(dtype)
    m.flags.writeable = False
    return m


class WinogradCache(NamedTuple):
    """What the backward pass needs: the transformed input tiles ``V`` ``(16, P, C)`` and weights
    ``U`` ``(16, C, C_out)`` (``V`` in the layer's workspace when one is given)."""

    x_shape: tuple[int, ...]  # (N, C, H, W)
    V: np.ndarray
    U: np.ndarray
    padding: tuple[int, int]
    tiles: tuple[int, int]  # tile rows and columns per image: the pooled output's size
    has_bias: bool


def winograd_applies(
    w_shape: tuple[int, ...],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    whole: tuple[int, int] | None = None,
) -> bool:
    """A 3x3 kernel, stride 1, no dilation and at least :data:`WINOGRAD_MIN_CHANNELS` inputs; for
    a ``whole`` output of that size (not only the pool's windows), an even one, which the tiles cover."""
    _, C, kh, kw = w_shape
    fits = (kh, kw) == (3, 3) and stride == (1, 1) and dilation == (1, 1) and C >= WINOGRAD_MIN_CHANNELS
    return fits and (whole is None or whole[0] % 2 == whole[1] % 2 == 0)


def transform_weights(w: np.ndarray) -> np.ndarray:
    """:math:`U = (G\\otimes G)\\,g`: weights ``(C_out, C, 3, 3)`` to ``(16, C, C_out)``."""
    Co, C = w.shape[:2]
    flat = np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(9, C * Co)
    return (_kron("G", w.dtype) @ flat).reshape(16, C, Co)


def tile_chunks(N: int, T: int, C: int, Co: int, dtype: np.dtype) -> list[slice]:
    """Blocks of whole images, each with about :data:`WINOGRAD_CHUNK_BYTES` of transformed tiles
    (16 values per tile and channel, ``C`` in and ``C_out`` out, ``T`` tiles per image).

    Cache blocking (as :func:`scratchnet.ops._util.batch_chunks` describes): each block's
    transforms and its 16 products run while its tiles are still in the core's cache. Whole images,
    because the input gradient's overlapping patches never cross an image.

    Equations (12) and (13) of ``docs/conv.md``.
    """
    return batch_chunks(N, 16 * T * (C + Co) * np.dtype(dtype).itemsize, target=WINOGRAD_CHUNK_BYTES)


def winograd_tiles(
    x: np.ndarray, w: np.ndarray, has_bias: bool, padding: tuple[int, int], ws: Workspace | None
) -> tuple[np.ndarray, WinogradCache]:
    """The convolution (no bias) on 2x2 tiles, ``(4, P, C_out)``: block ``2a + b`` holds element
    ``(a, b)`` of every tile, tiles in ``(n, i, j)`` order. The tiles are the 2x2 pooling windows
    (an odd last output row or column is left out). Computed a block of images at a time
    (:func:`tile_chunks`).

    Equations (11) and (12) of ``docs/conv.md``.
    """
    N, C, H, W = x.shape
    Co = w.shape[0]
    ph, pw = padding
    th, tw = (H + 2 * ph - 2) // 2, (W + 2 * pw - 2) // 2
    T, dt = th * tw, np.result_type(x, w)
    xp = padded_copy(x.astype(dt, copy=False), ph, pw, channels_last=True, ws=ws)  # (N, Hp, Wp, C)
    s = xp.strides  # the 4x4 patch of tile (i, j) starts at row 2i, column 2j
    strides = (s[1], s[2], s[0], 2 * s[1], 2 * s[2], s[3])
    U = transform_weights(w.astype(dt, copy=False))
    V = scratch(ws, "wino_V", (16, N * T, C), dt)
    Y = scratch(ws, "wino_Y", (4, N * T, Co), dt)
    chunks = tile_chunks(N, T, C, Co, dt)
    d = scratch(ws, "wino_d", (16, chunks[0].stop * T * C), dt)
    M = scratch(ws, "wino_M", (16, chunks[0].stop * T, Co), dt)
    for sl in chunks:
        n, rows = sl.stop - sl.start, slice(sl.start * T, sl.stop * T)
        patches = as_strided(xp[sl], (4, 4, n, th, tw, C), strides, writeable=False)
        d_n, M_n = d[:, : n * T * C], M[:, : n * T]
        np.copyto(np.reshape(d_n, (4, 4, n, th, tw, C), copy=False), patches)
        np.matmul(_kron("B", dt), d_n, out=_flat(V[:, rows]))
        np.matmul(V[:, rows], U, out=M_n)
        np.matmul(_kron("A", dt), _flat(M_n), out=_flat(Y[:, rows]))
    return Y, WinogradCache(x.shape, V, U, (ph, pw), (th, tw), has_bias)


def _flat(a: np.ndarray) -> np.ndarray:
    """``(k, rows, cols)`` as ``(k, rows * cols)``, a view (each ``a[i]`` is contiguous)."""
    return np.reshape(a, (a.shape[0], -1), copy=False)


def winograd_gradients(
    g: np.ndarray, cache: WinogradCache, need_dx: bool, need_dw: bool, ws: Workspace | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    r"""``(dx, dw)`` from ``g`` ``(4, P, C_out)``, the gradient of :func:`winograd_tiles`'s output;
    ``dx`` logical ``(N, C, H, W)``, channels-last in memory. A block of images at a time
    (:func:`tile_chunks`): :math:`\delta U` sums the blocks' products.

    Equations (11) and (13) of ``docs/conv.md``.
    """
    N, C, H, W = cache.x_shape
    (ph, pw), (th, tw) = cache.padding, cache.tiles
    T, Co, dt = th * tw, g.shape[2], g.dtype
    chunks = tile_chunks(N, T, C, Co, dt)
    most = chunks[0].stop * T  # tiles in the largest block
    dM = scratch(ws, "wino_dM", (16, most, Co), dt)
    dU = np.zeros((16, C, Co), dt) if need_dw else None
    dx_nhwc = scratch(ws, "dx", (N, H, W, C), dt, output=True) if need_dx else None
    dxp = scratch(ws, "wino_dxp", (chunks[0].stop, H + 2 * ph, W + 2 * pw, C), dt) if need_dx else None
    dV = scratch(ws, "wino_dV", (16, most, C), dt) if need_dx else None
    dd = scratch(ws, "wino_d", (16, most * C), dt) if need_dx else None  # the forward's patches are done
    for sl in chunks:
        rows = slice(sl.start * T, sl.stop * T)
        k = rows.stop - rows.start
        np.matmul(_kron("A", dt).T, _flat(g[:, rows]), out=_flat(dM[:, :k]))
        if dU is not None:
            dU += np.matmul(cache.V[:, rows].transpose(0, 2, 1), dM[:, :k])
        if dx_nhwc is not None:  # the block's padded input gradient, zeroed, summed and cropped in cache
            block = dxp[: sl.stop - sl.start]
            block.fill(0)
            _add_patch_gradients(dM[:, :k], cache.U, dV[:, :k], dd[:, : k * C], block, (th, tw))
            np.copyto(dx_nhwc[sl], block[:, ph : ph + H, pw : pw + W])
    dw = None
    if dU is not None:
        flat = _kron("G", dt).T @ dU.reshape(16, C * Co)  # (9, C * C_out)
        dw = np.ascontiguousarray(flat.reshape(3, 3, C, Co).transpose(3, 2, 0, 1))
    dx = None if dx_nhwc is None else dx_nhwc.transpose(0, 3, 1, 2)
    return dx, dw


def _add_patch_gradients(
    dM: np.ndarray, U: np.ndarray, dV: np.ndarray, dd: np.ndarray, dxp: np.ndarray, tiles: tuple[int, int]
) -> None:
    r"""Add one block of images' patch gradients :math:`\delta d = (B^\top\otimes B^\top)^\top
    \delta V`, :math:`\delta V_\xi = \delta M_\xi U_\xi^\top`, onto ``dxp``, its padded
    ``(n, H_p, W_p, C)`` input gradient; ``dV`` and ``dd`` are the block's scratch memory."""
    (th, tw), (n, C) = tiles, (dxp.shape[0], dxp.shape[3])
    np.matmul(dM, U.transpose(0, 2, 1), out=dV)
    np.matmul(_kron("B", dM.dtype).T, _flat(dV), out=dd)
    patches = np.reshape(dd, (4, 4, n, th, tw, C), copy=False)
    for k in range(4):  # patches overlap: one strided add per position in the patch
        for j in range(4):
            dxp[:, k : k + 2 * th : 2, j : j + 2 * tw : 2] += patches[k, j]


def winograd_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: tuple[int, int], ws: Workspace | None
) -> tuple[np.ndarray, WinogradCache]:
    """The whole convolution of an even output size (the tiles cover it), ``y`` logical
    ``(N, C_out, H_out, W_out)``, channels-last in memory: :func:`winograd_tiles`' blocks put back
    in place. What :func:`scratchnet.ops.conv.conv2d_forward` returns when the path applies (an odd
    output would need a row or column of tiles more: 14-78% more work on the sizes measured, which
    the path does not win back).

    Equations (11) and (12) of ``docs/conv.md``.
    """
    Y, cache = winograd_tiles(x, w, b is not None, padding, ws)
    N, (th, tw), Co = x.shape[0], cache.tiles, w.shape[0]
    y = scratch(ws, "y_rows", (N, 2 * th, 2 * tw, Co), Y.dtype, output=True)
    np.copyto(y.reshape(N, th, 2, tw, 2, Co), Y.reshape(2, 2, N, th, tw, Co).transpose(2, 3, 0, 4, 1, 5))
    if b is not None:
        y += b
    return y.transpose(0, 3, 1, 2), cache


def winograd_conv2d_gradients(
    dout: np.ndarray, cache: WinogradCache, need_dx: bool, ws: Workspace | None, need_dw: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(dx, dw, db)`` of :func:`winograd_conv2d`, as :func:`scratchnet.ops.conv.conv2d_backward`
    returns them.

    Equations (11) and (13) of ``docs/conv.md``.
    """
    N, (th, tw), Co = cache.x_shape[0], cache.tiles, cache.U.shape[2]
    g = nhwc(dout)  # (N, H_out, W_out, C_out)
    g_rows = scratch(ws, "wino_g", (4, N * th * tw, Co), g.dtype)
    np.copyto(g_rows.reshape(2, 2, N, th, tw, Co), g.reshape(N, th, 2, tw, 2, Co).transpose(2, 4, 0, 1, 3, 5))
    dx, dw = winograd_gradients(g_rows, cache, need_dx, need_dw, ws)
    db = channel_sum(dout) if need_dw and cache.has_bias else None
    return dx, dw, db
