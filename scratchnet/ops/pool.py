r"""Max- and average-pooling over ``kH x kW`` windows with stride ``(sH, sW)`` (NCHW, no padding).

:math:`H_{out} = \lfloor (H - k_H)/s_H \rfloor + 1`: rows/columns that do not fill a whole
window are ignored in the forward pass and receive zero gradient (PyTorch's ``ceil_mode=False``).
Windows may overlap (``s < k``) or leave gaps (``s > k``).

Max pooling

.. math::
    y_{n,c,i,j} = \max_{u,v}\; x_{n,c,\,s_H i+u,\,s_W j+v},

    \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{i,j} \frac{\partial L}{\partial y_{n,c,i,j}}
    \,[\,(h,w) = \operatorname{argmax}_{(i,j)}\,]

Ties: the gradient of a window goes to exactly one element, the *first* maximum in row-major
(``u`` then ``v``) order, which is PyTorch's rule. A window holding a NaN outputs NaN and sends
its gradient to its *last* NaN, as PyTorch does. With overlapping windows one input can be the
arg-max of several windows and then collects all their gradients.

Average pooling

.. math::
    y_{n,c,i,j} = \frac{1}{k_H k_W}\sum_{u,v} x_{n,c,\,s_H i+u,\,s_W j+v},

    \frac{\partial L}{\partial x_{n,c,h,w}} = \frac{1}{k_H k_W}
    \sum_{(i,j)\,:\,(h,w)\in\text{window}(i,j)} \frac{\partial L}{\partial y_{n,c,i,j}}

Implementation: for each of the :math:`k_H k_W` kernel offsets :math:`(u, v)`, the strided view
``x[:, :, u::sH, v::sW]`` (cut to ``H_out x W_out``) holds that offset's element of every window,
so a pooling pass is :math:`k_H k_W` whole-array operations — no loop over pixels, images or
channels, and any memory layout works (outputs keep the input's layout: channels-last stays
channels-last). The 2x2 / stride 2 max-pool runs as the tournament of
:mod:`scratchnet.ops.tournament`. Derivation: ``docs/pooling.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ._util import batch_chunks, conv_output_size, is_channels_last, nhwc, pair, stored_channels_last
from .record import OpRecord
from .tournament import Winners, tournament_backward, tournament_forward
from .workspace import Workspace, scratch


class PoolCache(NamedTuple):
    """What the pooling backward passes need from the forward pass.

    ``y`` and ``winners`` alias the layer's workspace (keys ``"y"``, ``"winner_*"``) when one is
    given; ``x`` is the caller's input, kept by reference.
    """

    x: np.ndarray | None  # the input (general max pooling re-derives the arg-max from it)
    y: np.ndarray | None  # the output (max pooling)
    x_shape: tuple[int, ...]
    x_channels_last: bool
    kernel: tuple[int, int]
    stride: tuple[int, int]
    winners: Winners | None = None  # 2x2 fast path: which element won


def pool_geometry(
    x_shape: tuple[int, ...],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Normalise ``kernel_size``/``stride`` (stride defaults to the kernel); give ``(Ho, Wo)``.

    Equation (1) of ``docs/pooling.md``.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    H, W = x_shape[-2:]
    return (kh, kw), (sh, sw), (conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0))


def window_elements(a: np.ndarray, kernel, stride, out_hw) -> Iterator[tuple[int, np.ndarray]]:
    """For each kernel offset ``k = u*kW + v``: the strided view of ``a`` holding element
    ``(u, v)`` of every window, shape ``(N, C, H_out, W_out)`` (no copy)."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    for u in range(kh):
        for v in range(kw):
            yield u * kw + v, a[:, :, u : u + sh * (Ho - 1) + 1 : sh, v : v + sw * (Wo - 1) + 1 : sw]


Window = int | tuple[int, int]


def _pool_output(x: np.ndarray, kernel_size: Window, stride: Window | None, ws: Workspace | None) -> tuple:
    """A pooling pass's geometry and output buffer (in ``x``'s layout):
    ``(kernel, stride, out_hw, channels_last, y)``."""
    kernel, stride_hw, out_hw = pool_geometry(x.shape, kernel_size, stride)
    cl = is_channels_last(x)
    return kernel, stride_hw, out_hw, cl, scratch(ws, "y", (*x.shape[:2], *out_hw), x.dtype, channels_last=cl,
                                                  output=True)  # fmt: skip


def maxpool2d_forward(x: np.ndarray, kernel_size: Window, stride: Window | None = None,
                      ws: Workspace | None = None) -> tuple[np.ndarray, PoolCache]:  # fmt: skip
    """Max pooling forward pass: ``x`` of logical shape ``(N, C, H, W)`` in any memory layout,
    ``ws`` the calling layer's workspace (see :mod:`scratchnet.ops.workspace`); returns
    ``(y, cache)`` with ``y`` of shape ``(N, C, H_out, W_out)`` in ``x``'s layout.

    Equation (2) of ``docs/pooling.md``.
    """
    kernel, stride_hw, out_hw, cl, y = _pool_output(x, kernel_size, stride, ws)
    if kernel == stride_hw == (2, 2):
        return y, _maxpool2x2_forward(x, y, cl, ws)
    for sl in _image_blocks(x):
        ys = y[sl]
        for k, xv in window_elements(x[sl], kernel, stride_hw, out_hw):
            if k == 0:
                np.copyto(ys, xv)
            else:
                np.maximum(ys, xv, out=ys)
    return y, PoolCache(x, y, x.shape, cl, kernel, stride_hw)


def _maxpool2x2_forward(x: np.ndarray, y: np.ndarray, cl: bool, ws: Workspace | None) -> PoolCache:
    """The common 2x2 / stride 2 case: the tournament, a few images at a time."""
    a, b, c, d = (v for _, v in window_elements(x, (2, 2), (2, 2), y.shape[2:]))
    winners = Winners(*(scratch(ws, f"winner_{i}", y.shape, bool, channels_last=cl) for i in range(3)))
    bottom_max = scratch(ws, "bottom_max", y.shape, y.dtype, channels_last=cl)
    for sl in _image_blocks(x):
        tournament_forward(
            a[sl], b[sl], c[sl], d[sl], y[sl], bottom_max[sl], Winners(*(w[sl] for w in winners))
        )
    return PoolCache(None, y, x.shape, cl, (2, 2), (2, 2), winners)


def _image_blocks(x: np.ndarray) -> list[slice]:
    """Blocks of images small enough that all kernel offsets of a block hit the CPU cache."""
    return batch_chunks(x.shape[0], x[:1].nbytes, target=1 << 19)


def _same_layout(a: np.ndarray, channels_last: bool, ws: Workspace | None) -> np.ndarray:
    """``a`` stored channels-last (or NCHW) like the arrays it is combined with: mixing layouts in
    one element-wise operation is several times slower than one copy."""
    if is_channels_last(a) == channels_last or a.shape[2] * a.shape[3] == 1:
        return a
    out = scratch(ws, "dout_relaid", a.shape, a.dtype, channels_last=channels_last)
    np.copyto(out, a)
    return out


def maxpool2d_backward(dout: np.ndarray, cache: PoolCache, ws: Workspace | None = None) -> np.ndarray:
    """Max pooling backward pass: route each window's gradient to its first arg-max.

    The arg-max is re-derived from the cached input and output: offsets are visited in
    row-major order and an offset takes a window only if it equals the maximum and no earlier
    offset took that window.

    Args:
        dout: upstream gradient, shape ``(N, C, H_out, W_out)``.
    Returns:
        ``dx`` of shape ``(N, C, H, W)`` in the input's memory layout.

    Equation (3) of ``docs/pooling.md``.
    """
    x, y, x_shape, cl, kernel, stride, winners = cache
    if winners is not None:
        return _maxpool2x2_backward(dout, cache, ws)
    out_hw = y.shape[2:]
    (kh, kw), (sh, sw) = kernel, stride
    overlapping = sh < kh or sw < kw
    gapped = (
        sh > kh or sw > kw or x_shape[2] != sh * (out_hw[0] - 1) + kh or x_shape[3] != sw * (out_hw[1] - 1) + kw
    )
    dout = _same_layout(dout, cl, ws)
    init = "zeros" if overlapping or gapped else "empty"
    dx = scratch(ws, "dx", x_shape, dout.dtype, init=init, channels_last=cl, output=True)
    taken = scratch(ws, "taken", y.shape, bool, channels_last=cl)  # same layout as y: mixed is slow
    hit = scratch(ws, "hit", y.shape, bool, channels_last=cl)
    last = kh * kw - 1
    nan_windows = np.isnan(y) if y.size and np.isnan(y.max()) else None  # NaN windows: routed after
    for sl in _image_blocks(x):
        ys, gs, ts, hs = y[sl], dout[sl], taken[sl], hit[sl]
        for (k, xv), (_, dxv) in zip(
            window_elements(x[sl], kernel, stride, out_hw),
            window_elements(dx[sl], kernel, stride, out_hw),
            strict=True,
        ):
            if k == 0:
                np.equal(xv, ys, out=ts)
                hs, ts = ts, hs  # the first hit is all taken so far
                np.copyto(ts, hs)
                if nan_windows is not None:
                    ts |= nan_windows[sl]
            elif k < last:
                np.equal(xv, ys, out=hs)
                np.greater(hs, ts, out=hs)  # a maximum not taken by an earlier offset
                np.logical_or(ts, hs, out=ts)
            else:
                np.logical_not(ts, out=hs)  # whatever is left
            if overlapping:
                dxv += gs * hs
            else:
                np.multiply(gs, hs, out=dxv)
        if nan_windows is not None:
            _route_nan_windows(x[sl], dx[sl], gs, nan_windows[sl], kernel, stride, out_hw)
    return dx


def _route_nan_windows(x: np.ndarray, dx: np.ndarray, g: np.ndarray, nan_windows: np.ndarray,
                       kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]) -> None:
    """A window whose maximum is NaN sends its gradient to its last NaN in row-major order
    (PyTorch's scan takes an element when ``val > max`` or ``val`` is NaN)."""
    left = nan_windows.copy()
    offsets = zip(window_elements(x, kernel, stride, out_hw), window_elements(dx, kernel, stride, out_hw),
                  strict=True)  # fmt: skip
    for (_, xv), (_, dxv) in reversed(list(offsets)):
        won = np.isnan(xv) & left
        dxv += g * won
        left &= ~won


def _maxpool2x2_backward(dout: np.ndarray, cache: PoolCache, ws: Workspace | None) -> np.ndarray:
    """Route ``dout`` down the tournament of :func:`_maxpool2x2_forward`."""
    _, y, x_shape, cl, _, _, winners = cache
    dout = _same_layout(dout, cl, ws)
    uncovered = x_shape[2] % 2 or x_shape[3] % 2  # an odd last row/column gets no gradient
    dx = scratch(ws, "dx", x_shape, dout.dtype, init="zeros" if uncovered else "empty", channels_last=cl,
                 output=True)  # fmt: skip
    da, db, dc, dd = (v for _, v in window_elements(dx, (2, 2), (2, 2), y.shape[2:]))
    g_top = scratch(ws, "g_top", y.shape, dout.dtype, channels_last=cl)
    g_bottom = scratch(ws, "g_bottom", y.shape, dout.dtype, channels_last=cl)
    for sl in _image_blocks(dx):
        tournament_backward(dout[sl], Winners(*(w[sl] for w in winners)), da[sl], db[sl], dc[sl], dd[sl],
                            g_top[sl], g_bottom[sl])  # fmt: skip
    return dx


def avgpool2d_forward(x: np.ndarray, kernel_size: Window, stride: Window | None = None,
                      ws: Workspace | None = None) -> tuple[np.ndarray, PoolCache]:  # fmt: skip
    """Average pooling forward pass (every window has exactly ``kH*kW`` elements); arguments and
    result as :func:`maxpool2d_forward`'s.

    Equation (5) of ``docs/pooling.md``.
    """
    kernel, stride_hw, out_hw, cl, y = _pool_output(x, kernel_size, stride, ws)
    for k, xv in window_elements(x, kernel, stride_hw, out_hw):
        if k == 0:
            np.copyto(y, xv)
        else:
            y += xv
    y *= np.asarray(1.0 / (kernel[0] * kernel[1]), dtype=y.dtype)
    return y, PoolCache(None, None, x.shape, cl, kernel, stride_hw)


def avgpool2d_backward(dout: np.ndarray, cache: PoolCache, ws: Workspace | None = None) -> np.ndarray:
    """Average pooling backward pass: each window spreads ``dout / (kH*kW)`` evenly.

    Args:
        dout: upstream gradient, shape ``(N, C, H_out, W_out)``.
    Returns:
        ``dx`` of shape ``(N, C, H, W)`` in the input's memory layout.

    Equation (6) of ``docs/pooling.md``.
    """
    _, _, x_shape, cl, (kh, kw), stride, _ = cache
    share = _same_layout(dout, cl, ws) * np.asarray(1.0 / (kh * kw), dtype=dout.dtype)
    dx = scratch(ws, "dx", x_shape, dout.dtype, init="zeros", channels_last=cl, output=True)
    overlapping = stride[0] < kh or stride[1] < kw
    for _, dxv in window_elements(dx, (kh, kw), stride, dout.shape[2:]):
        if overlapping:
            dxv += share
        else:
            dxv[...] = share
    return dx


def global_avgpool2d_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[tuple[int, ...], bool]]:
    r"""Global average pooling :math:`y_{n,c} = \frac{1}{HW}\sum_{h,w} x_{n,c,h,w}`: ``(N, C, H, W)``
    to ``(N, C)``. For channels-last memory the mean runs over the contiguous ``(N, HW, C)`` view.
    Returns ``(y, cache)``.

    Equation (3) of ``docs/residual.md``.
    """
    N, C, H, W = x.shape
    cl = stored_channels_last(x)
    rows = nhwc(x).reshape(N, H * W, C) if cl else x.reshape(N, C, H * W)
    return rows.mean(axis=1 if cl else 2), (x.shape, cl)


def global_avgpool2d_backward(dout: np.ndarray, cache: tuple[tuple[int, ...], bool]) -> np.ndarray:
    r""":math:`\partial L/\partial x_{n,c,h,w} = \frac{1}{HW}\,\partial L/\partial y_{n,c}`: every pixel of a
    channel gets the same share. Returned in the input's memory layout.

    Equation (4) of ``docs/residual.md``.
    """
    (N, C, H, W), cl = cache
    share = dout * np.asarray(1.0 / (H * W), dtype=dout.dtype)
    if cl:
        return np.broadcast_to(share[:, None, None, :], (N, H, W, C)).copy().transpose(0, 3, 1, 2)
    return np.broadcast_to(share[:, :, None, None], (N, C, H, W)).copy()


RECORDS = (
    OpRecord(name="maxpool2d", forward=maxpool2d_forward, backward=maxpool2d_backward, layers=("MaxPool2D",),
             family="pool", docs="pooling.md", topic="max pooling (ties, overlap, uneven sizes)"),
    OpRecord(name="avgpool2d", forward=avgpool2d_forward, backward=avgpool2d_backward, layers=("AvgPool2D",),
             family="pool", docs="pooling.md", topic="average pooling"),
    OpRecord(name="global_avgpool2d", forward=global_avgpool2d_forward, backward=global_avgpool2d_backward,
             layers=("GlobalAvgPool2D",), family="pool", docs="residual.md", topic="global average pooling"),
)  # fmt: skip
