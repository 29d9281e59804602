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


class BatchNormCache(NamedTuple):
    xhat: np.ndarray
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
) -> tuple[np.ndarray, BatchNormCache, np.ndarray, np.ndarray]:
    """Batch norm forward pass.

    Args:
        x: input, shape ``(N, C, H, W)``; ``gamma``, ``beta``, running stats: shape ``(C,)``.
    Returns:
        ``(y, cache, new_running_mean, new_running_var)``; the running statistics are returned
        updated in training mode and unchanged in eval mode (the op never mutates its inputs).
    """
    if training:
        axes = (0, 2, 3)
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean(axis=axes)
        centered = x - _bc(mean)
        var = np.mean(centered * centered, axis=axes)
        unbiased = var * (m / max(m - 1, 1))
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * unbiased
    else:
        mean, var = running_mean, running_var
        centered = x - _bc(mean.astype(x.dtype, copy=False))
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    xhat = centered * _bc(inv_std)
    y = xhat * _bc(gamma) + _bc(beta)
    return y, BatchNormCache(xhat, inv_std, gamma, training), running_mean, running_var


def batchnorm2d_backward(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch norm backward pass. Returns ``(dx, dgamma, dbeta)``."""
    xhat, inv_std, gamma, training = cache
    axes = (0, 2, 3)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    scale = _bc(gamma * inv_std)
    if not training:
        return dout * scale, dgamma, dbeta
    m = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dx = (dout - _bc(dbeta / m) - xhat * _bc(dgamma / m)) * scale
    return dx, dgamma, dbeta
