r"""Batch normalisation over the channels of an NCHW tensor (``BatchNorm2d``).

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

from ._util import channel_sum, is_channels_last, stored_channels_last
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
