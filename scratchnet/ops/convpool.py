r"""Convolution followed by a 2x2 / stride-2 max-pool, fused into one pass.

What it computes is exactly ``maxpool2d(conv2d(x), 2)``: the pooled output

.. math::
    z_{n,o,i,j} = \max_{a,b \in \{0,1\}} y_{n,o,\,2i+a,\,2j+b},\qquad
    y = \operatorname{conv2d}(x; W, b)

(an odd last row or column of :math:`y` belongs to no window and is never computed). Why fuse:
:func:`scratchnet.ops.conv.im2col` with ``phases=2`` orders the output positions by window element
:math:`(a, b)`, so the GEMM writes the four elements of every window into four contiguous blocks of
rows, and the max-pool becomes the tournament of :mod:`scratchnet.ops.tournament` on those blocks
(contiguous streaming passes instead of strided gathers over a 4x larger tensor).

A 3x3 convolution of stride 1 with enough input channels is computed instead by Winograd's
F(2x2, 3x3) (:mod:`scratchnet.ops.winograd`), whose 2x2 output tiles are the pool's windows: the
same four blocks, 2.25x fewer multiplications.

Backward: the tournament routes :math:`\partial L/\partial z` to the winning rows (zeros
elsewhere), giving :math:`G = \partial L/\partial Y` in the same row order as the im2col matrix;
from there :func:`scratchnet.ops.conv.conv_rows_backward` is the plain convolution backward pass
(:math:`\partial L/\partial [W\ b] = G^\top[X\ \mathbf 1]`, :math:`\partial L/\partial x =
\operatorname{col2im}(G W)`).

Loop twins: :func:`scratchnet.ops.naive.convpool2d_naive` and
:func:`scratchnet.ops.naive.convpool2d_backward_naive`. Derivation: ``docs/conv.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._util import channel_sum, nhwc, pair
from .conv import ConvCache, conv_rows, conv_rows_backward
from .record import OpRecord
from .tournament import Winners, tournament_backward, tournament_forward
from .winograd import WinogradCache, winograd_applies, winograd_gradients, winograd_tiles
from .workspace import Workspace, scratch


class ConvPoolCache(NamedTuple):
    """The convolution's cache (its im2col matrix in phase order, or its Winograd tiles) and the
    tournament's winners; both alias the layer's workspace when one was given."""

    conv: ConvCache | WinogradCache
    winners: Winners


def convpool2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    ws: Workspace | None = None,
    dilation: int | tuple[int, int] = 1,
) -> tuple[np.ndarray, ConvPoolCache]:
    """``maxpool2d(conv2d(x, w, b, stride, padding), 2)`` in one pass.

    Args:
        x: input, logical shape ``(N, C_in, H, W)``, any memory layout; the convolution's output
            must be at least 2x2.
        w, b: weights ``(C_out, C_in, kH, kW)`` and bias ``(C_out,)`` or ``None``.
        ws: the calling layer's workspace (see :mod:`scratchnet.ops.workspace`).
    Returns:
        ``(z, cache)``; ``z`` has logical shape ``(N, C_out, H_out // 2, W_out // 2)`` and is
        channels-last in memory.

    Equation (8) of ``docs/conv.md``.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    Co = w.shape[0]
    conv_cache: ConvCache | WinogradCache
    if winograd_applies(w.shape, stride, dilation):
        y, conv_cache = winograd_tiles(x, w, b is not None, padding, ws)  # bias added after the pool
        Hp, Wp = conv_cache.tiles
    else:
        y, conv_cache = conv_rows(x, w, b, stride, padding, 2, ws, output=False, dilation=dilation)
        Hp, Wp = conv_cache.out_hw[0] // 2, conv_cache.out_hw[1] // 2
    a, b_, c, d = y.reshape(4, -1, Co)  # the four window elements, contiguous blocks
    pooled = scratch(ws, "pooled", a.shape, y.dtype, output=True)
    bottom_max = scratch(ws, "bottom_max", a.shape, y.dtype)
    winners = Winners(*(scratch(ws, f"winner_{i}", a.shape, bool) for i in range(3)))
    tournament_forward(a, b_, c, d, pooled, bottom_max, winners)
    if isinstance(conv_cache, WinogradCache) and b is not None:
        pooled += b  # max(y + b) = max(y) + b: one pass over the pooled output, not four
    return pooled.reshape(x.shape[0], Hp, Wp, Co).transpose(0, 3, 1, 2), ConvPoolCache(conv_cache, winners)


def convpool2d_backward(
    dout: np.ndarray, cache: ConvPoolCache, need_dx: bool = True, ws: Workspace | None = None,
    need_dw: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Backward pass of :func:`convpool2d_forward`.

    Args:
        dout: upstream gradient, logical shape of the pooled output, any memory layout.
    Returns:
        ``(dx, dw, db)`` as :func:`scratchnet.ops.conv.conv2d_backward` returns them.

    Equation (8) of ``docs/conv.md``.
    """
    Co = dout.shape[1]
    g = nhwc(dout).reshape(-1, Co)  # (M/4, C_out); free when dout is channels-last
    g_rows = scratch(ws, "g_rows", (4, *g.shape), g.dtype)  # the conv's rows, in phase order
    g_top = scratch(ws, "g_top", g.shape, g.dtype)
    g_bottom = scratch(ws, "g_bottom", g.shape, g.dtype)
    tournament_backward(g, cache.winners, *g_rows, g_top, g_bottom)
    if isinstance(cache.conv, WinogradCache):
        dx, dw = winograd_gradients(g_rows, cache.conv, need_dx, need_dw, ws)
        db = channel_sum(dout) if need_dw and cache.conv.has_bias else None
        return dx, dw, db
    return conv_rows_backward(g_rows.reshape(-1, Co), cache.conv, need_dx, ws, need_dw)


RECORDS = (
    OpRecord(name="convpool2d", forward=convpool2d_forward, backward=convpool2d_backward,
             layers=("ConvPool2D",), family="conv", docs="conv.md", topic="fused convolution + 2x2 max-pool"),
)  # fmt: skip
