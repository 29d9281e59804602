r"""Normalisation: batch norm over the channels of an NCHW tensor (``BatchNorm2d``; 1-D as a width-1
image), layer norm over the trailing axes and group norm over groups of channels.

Statistics are taken per channel over :math:`M = N H W` values. Training mode:

.. math::
    \mu_c = \frac1M \sum_{n,h,w} x_{nchw},\quad
    \sigma^2_c = \frac1M \sum_{n,h,w} (x_{nchw}-\mu_c)^2,\quad
    \hat x = \frac{x-\mu_c}{\sqrt{\sigma^2_c+\epsilon}},\quad
    y = \gamma_c \hat x + \beta_c .

Running statistics (used in eval mode instead of :math:`\mu, \sigma^2`) follow PyTorch:
:math:`\bar\mu \leftarrow (1-m)\bar\mu + m\mu`, :math:`\bar\sigma^2 \leftarrow (1-m)\bar\sigma^2 +
m \frac{M}{M-1}\sigma^2` (the *unbiased* variance), momentum :math:`m = 0.1`.

Backward in training mode, with :math:`g = \partial L/\partial y` and sums over :math:`(n,h,w)`:

.. math::
    \frac{\partial L}{\partial \beta_c} = \sum g,\quad
    \frac{\partial L}{\partial \gamma_c} = \sum g\,\hat x,\quad
    \frac{\partial L}{\partial x} = \frac{\gamma_c}{M\sqrt{\sigma^2_c+\epsilon}}
    \Big(M g - \sum g - \hat x \sum g\,\hat x\Big).

In eval mode the statistics are constants, so :math:`\partial L/\partial x = g\,\gamma_c /
\sqrt{\bar\sigma^2_c+\epsilon}`. Derivation: ``docs/batchnorm.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._util import channel_sum, is_channels_last, nhwc, stored_channels_last
from .record import OpRecord
from .workspace import Workspace, scratch


class BatchNormCache(NamedTuple):
    """What the backward pass needs; ``centered`` aliases the layer's workspace when one is given."""

    centered: np.ndarray  # x - mean
    inv_std: np.ndarray  # (C,)
    gamma: np.ndarray
    training: bool


def _bc(v: np.ndarray) -> np.ndarray:
    """Reshape a per-channel vector ``(C,)`` to broadcast against NCHW."""
    return v.reshape(1, -1, 1, 1)


def batchnorm2d_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
    ws: Workspace | None = None,
) -> tuple[np.ndarray, BatchNormCache, np.ndarray, np.ndarray]:
    """Batch norm forward pass.

    Args:
        x: input, shape ``(N, C, H, W)`` (any memory layout; the output has the same);
            ``gamma``, ``beta``, running statistics: shape ``(C,)``.
    Returns:
        ``(y, cache, new_running_mean, new_running_var)``; the running statistics are returned
        updated in training mode and unchanged in eval mode (the op never mutates its inputs).

    Equation (1) of ``docs/batchnorm.md``.
    """
    dt = x.dtype
    cl = stored_channels_last(x)

    def like_x(key: str, output: bool = False) -> np.ndarray:
        return scratch(ws, key, x.shape, dt, channels_last=cl, output=output)

    if training:
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = channel_sum(x) / np.asarray(m, dt)
        centered = np.subtract(x, _bc(mean), out=like_x("centered"))
        # the squares are a temporary in the array that then receives y: one buffer fewer to stream
        var = channel_sum(np.multiply(centered, centered, out=like_x("y", output=True))) / np.asarray(m, dt)
        unbiased = var * (m / max(m - 1, 1))
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * unbiased
    else:
        mean, var = running_mean.astype(dt, copy=False), running_var.astype(dt, copy=False)
        centered = np.subtract(x, _bc(mean), out=like_x("centered"))
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dt, copy=False)
    y = np.multiply(centered, _bc((gamma * inv_std).astype(dt, copy=False)), out=like_x("y", output=True))
    y += _bc(beta.astype(dt, copy=False))
    return y, BatchNormCache(centered, inv_std, gamma, training), running_mean, running_var


def batchnorm2d_backward(
    dout: np.ndarray, cache: BatchNormCache, ws: Workspace | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch norm backward pass. Returns ``(dx, dgamma, dbeta)``.

    With ``xhat = centered * inv_std``: ``dgamma = inv_std * sum(g * centered)`` and
    ``dx = gamma*inv_std * (g - dbeta/M - centered * inv_std * dgamma/M)``.

    Equations (2)–(4) of ``docs/batchnorm.md``.
    """
    centered, inv_std, gamma, training = cache
    dt = centered.dtype
    cl = stored_channels_last(centered)

    def like_centered(key: str, output: bool = False) -> np.ndarray:
        return scratch(ws, key, centered.shape, dt, channels_last=cl, output=output)

    if dout.ndim == 4 and is_channels_last(centered) != is_channels_last(dout):
        converted = like_centered("dout_relaid")  # one copy into the same layout: then everything is faster
        np.copyto(converted, dout)
        dout = converted
    dbeta = channel_sum(dout)
    # g * centered is a temporary in the array that then receives dx (one buffer fewer to stream)
    dgamma = channel_sum(np.multiply(dout, centered, out=like_centered("dx", output=True))) * inv_std
    scale = (gamma * inv_std).astype(dt, copy=False)
    dx = np.multiply(dout, _bc(scale), out=like_centered("dx", output=True))
    if not training:
        return dx, dgamma, dbeta
    m = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dx -= np.multiply(
        centered, _bc((scale * inv_std * dgamma / m).astype(dt, copy=False)), out=like_centered("product")
    )
    dx -= _bc((scale * dbeta / m).astype(dt, copy=False))
    return dx, dgamma, dbeta


# --- normalisation over the features of each sample ----------------------------------------------
class GroupStatsCache(NamedTuple):
    """What the backward pass of layer or group normalisation needs: the normalised input in the
    grouped view (``(R, M)`` rows for layer norm; ``(N, G, Cg, S)`` or ``(N, S, G, Cg)`` for group
    norm), the inverse standard deviations broadcastable against it, and ``gamma`` in that view."""

    xhat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    reduce: tuple[int, ...]  # the axes a mean is taken over
    shape: tuple[int, ...]  # the input's logical shape
    channels_last: bool


def _sum(v: np.ndarray, reduce: tuple[int, ...], w: np.ndarray | None = None) -> np.ndarray:
    """``sum(v * w)`` (or ``sum(v)``) over the axes ``reduce``, kept as size-1 axes.

    One axis at a time: a single call over ``(1, 3)`` of a channels-last ``(N, HW, G, Cg)`` view
    walks memory with a stride and is about 6x slower than summing over ``HW`` (a contiguous pass
    over rows of ``C`` values) and then over ``Cg``. With ``w`` the product is never stored: the
    first axis is summed by ``einsum`` over ``v`` and ``w`` together."""
    first, rest = reduce[0], reduce[1:]
    if w is None:
        out = v.sum(axis=first, keepdims=True)
    else:
        idx = "abcdefgh"[: v.ndim]
        out = np.expand_dims(np.einsum(f"{idx},{idx}->{idx.replace(idx[first], '')}", v, w), first)
    return out.sum(axis=rest, keepdims=True) if rest else out


def _count(v: np.ndarray, reduce: tuple[int, ...]) -> np.ndarray:
    """How many values one statistic over ``reduce`` averages, in ``v``'s dtype."""
    return np.asarray(np.prod([v.shape[a] for a in reduce]), v.dtype)


def _spread(stat: np.ndarray, v: np.ndarray, reduce: tuple[int, ...]) -> np.ndarray:
    """A statistic reduced over the last axis too (channels-last groups, ``(N, 1, G, 1)``) copied
    along that axis (``(N, 1, G, Cg)``, a few kilobytes): NumPy broadcasts a stride-0 innermost
    axis of 8 values at half speed, a contiguous one at full speed."""
    if len(reduce) > 1 and reduce[-1] == v.ndim - 1:
        return np.ascontiguousarray(np.broadcast_to(stat, (*stat.shape[:-1], v.shape[-1])))
    return stat


def _normalise(v: np.ndarray, reduce: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``((v - mean) * inv_std, inv_std)`` over the axes ``reduce`` (biased variance, PyTorch's)."""
    m = _count(v, reduce)
    centered = v - _spread(_sum(v, reduce) / m, v, reduce)
    var = _sum(centered, reduce, centered) / m
    inv_std = (1.0 / np.sqrt(var + np.asarray(eps, v.dtype))).astype(v.dtype, copy=False)
    inv_std = _spread(inv_std, v, reduce)
    centered *= inv_std  # now x-hat
    return centered, inv_std


def _normalised_backward(g: np.ndarray, cache: GroupStatsCache) -> np.ndarray:
    r"""``dx`` of :math:`y = \gamma\hat x + \beta` with :math:`\hat x` normalised over ``reduce``:
    with :math:`\hat g = \gamma g` and means over the :math:`M` values of each group,
    :math:`\partial L/\partial x = \sigma^{-1}(\hat g - \overline{\hat g} - \hat x\,\overline{\hat g\hat x})`
    (the batch-norm formula, per sample or group instead of per channel)."""
    m = _count(g, cache.reduce)
    gh = g * cache.gamma
    mean_g = _spread(_sum(gh, cache.reduce) / m, g, cache.reduce)
    mean_gx = _spread(_sum(gh, cache.reduce, cache.xhat) / m, g, cache.reduce)
    dx = cache.xhat * mean_gx
    np.subtract(gh, dx, out=dx)
    dx -= mean_g
    dx *= cache.inv_std
    return dx


def layernorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, GroupStatsCache]:
    r"""Layer normalisation over the trailing ``gamma.ndim`` axes of ``x`` (``LayerNorm``).

    Each sample (each position of the leading axes) is normalised over its :math:`M` trailing
    values: :math:`\hat x = (x - \mu)/\sqrt{\sigma^2 + \epsilon}`, :math:`y = \gamma\odot\hat x +
    \beta` with :math:`\gamma, \beta` of the trailing shape. Returns ``(y, cache)``.

    Equation (5) of ``docs/batchnorm.md``.
    """
    M = gamma.size
    rows = np.ascontiguousarray(x).reshape(-1, M)
    xhat, inv_std = _normalise(rows, (1,), eps)
    g = gamma.reshape(1, M).astype(x.dtype, copy=False)
    y = xhat * g
    y += beta.reshape(1, M).astype(x.dtype, copy=False)
    return y.reshape(x.shape), GroupStatsCache(xhat, inv_std, g, (1,), x.shape, False)


def layernorm_backward(dout: np.ndarray, cache: GroupStatsCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(dx, dgamma, dbeta)``: :math:`\partial L/\partial\beta = \sum_r g_r`,
    :math:`\partial L/\partial\gamma = \sum_r g_r\odot\hat x_r` (sums over the leading positions
    :math:`r`), and ``dx`` by :func:`_normalised_backward`.

    Equations (6)–(8) of ``docs/batchnorm.md``.
    """
    M = cache.gamma.size
    g = np.ascontiguousarray(dout).reshape(-1, M)
    dgamma = _sum(g, (0,), cache.xhat).reshape(-1)
    dbeta = g.sum(axis=0)
    return _normalised_backward(g, cache).reshape(cache.shape), dgamma, dbeta


def _group_view(x: np.ndarray, groups: int, channels_last: bool | None = None
                ) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...], bool]:  # fmt: skip
    """``x`` (NCHW logical) as a 4-D view with the channels split into ``groups``: ``(N, G, Cg, HW)``
    for NCHW memory, ``(N, HW, G, Cg)`` for channels-last (no copy when ``x`` is stored so; a copy
    into the asked layout otherwise); the axes a group's mean is taken over, and the shape
    ``gamma`` takes in that view."""
    N, C, H, W = x.shape
    if channels_last is None:
        channels_last = stored_channels_last(x)
    Cg = C // groups
    if channels_last:
        return nhwc(x).reshape(N, H * W, groups, Cg), (1, 3), (1, 1, groups, Cg), True
    return np.ascontiguousarray(x).reshape(N, groups, Cg, H * W), (2, 3), (1, groups, Cg, 1), False


def groupnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, groups: int, eps: float = 1e-5
) -> tuple[np.ndarray, GroupStatsCache]:
    r"""Group normalisation of ``(N, C, H, W)`` (``GroupNorm``): the channels are split into
    ``groups`` groups of :math:`C/G`; each sample's group is normalised over its
    :math:`M = (C/G)HW` values, then scaled and shifted per channel, :math:`y_{nchw} =
    \gamma_c\hat x_{nchw} + \beta_c`. The output keeps the input's memory layout."""
    v, reduce, pshape, cl = _group_view(x, groups)
    xhat, inv_std = _normalise(v, reduce, eps)
    g = gamma.astype(x.dtype, copy=False).reshape(pshape)
    y = xhat * g
    y += beta.astype(x.dtype, copy=False).reshape(pshape)
    return _ungroup(y, x.shape, cl), GroupStatsCache(xhat, inv_std, g, reduce, x.shape, cl)


def _ungroup(v: np.ndarray, shape: tuple[int, ...], channels_last: bool) -> np.ndarray:
    """A grouped view back to the logical NCHW ``shape`` (channels-last memory stays so)."""
    N, C, H, W = shape
    return v.reshape(N, H, W, C).transpose(0, 3, 1, 2) if channels_last else v.reshape(shape)


def groupnorm_backward(dout: np.ndarray, cache: GroupStatsCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(dx, dgamma, dbeta)``: :math:`\partial L/\partial\beta_c = \sum_{n,h,w} g`,
    :math:`\partial L/\partial\gamma_c = \sum_{n,h,w} g\,\hat x`; ``dx`` by
    :func:`_normalised_backward` within each sample's group.

    Equation (9) of ``docs/batchnorm.md``.
    """
    groups = cache.gamma.shape[2] if cache.channels_last else cache.gamma.shape[1]
    g, _, _, _ = _group_view(dout, groups, cache.channels_last)  # in the forward's layout
    param_axes = (0, 1) if cache.channels_last else (0, 3)
    dgamma = _sum(g, param_axes, cache.xhat).reshape(-1)
    dbeta = _sum(g, param_axes).reshape(-1)
    return _ungroup(_normalised_backward(g, cache), cache.shape, cache.channels_last), dgamma, dbeta


RECORDS = (
    OpRecord(name="batchnorm2d", forward=batchnorm2d_forward, backward=batchnorm2d_backward,
             layers=("BatchNorm2D", "BatchNorm1D"), family="norm", docs="batchnorm.md",
             topic="batch norm (2-D and 1-D)"),
    OpRecord(name="layernorm", forward=layernorm_forward, backward=layernorm_backward, layers=("LayerNorm",),
             family="norm", docs="batchnorm.md", topic="layer norm"),
    OpRecord(name="groupnorm", forward=groupnorm_forward, backward=groupnorm_backward, layers=("GroupNorm",),
             family="norm", docs="batchnorm.md", topic="group norm"),
)  # fmt: skip
