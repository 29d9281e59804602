r"""Batch normalisation of ``(N, D)`` features as the textbook writes it: the batch mean and the
biased variance of each feature, then the backward pass as its three terms,

.. math::
    \frac{\partial L}{\partial x} = \frac{1}{\sigma}\Big(g - \tfrac1N\textstyle\sum_n g_n
    - \hat x\,\tfrac1N\textstyle\sum_n g_n \hat x_n\Big),
    \qquad g = \gamma\odot\partial L/\partial y,\quad \sigma = \sqrt{\sigma^2 + \epsilon}:

the gradient through :math:`\hat x` as if the statistics were constants, minus the mean's term,
minus the variance's term. Each term can be switched off (``mean_term``, ``var_term``), and the
forward pass can use the unbiased variance (``unbiased``): the classic mistakes, which the checker
of students' code computes from here. The fast op is
:func:`scratchnet.ops.norm.batchnorm2d_forward` (any layout, ``(N, C, H, W)``), tested against
these (``tests/test_naive.py``). Derivation: ``docs/batchnorm.md``.
"""

from __future__ import annotations

import numpy as np


def batchnorm_naive(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5, *,
                    unbiased: bool = False) -> np.ndarray:  # fmt: skip
    """``gamma * (x - mean) / sqrt(var + eps) + beta``, statistics over the batch (axis 0);
    ``unbiased``: the variance divided by ``N - 1`` (the mistake)."""
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1 if unbiased else 0) + eps)
    return gamma * xhat + beta


def batchnorm_backward_naive(dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5, *,
                             mean_term: bool = True, var_term: bool = True,
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """``(dx, dgamma, dbeta)`` of :func:`batchnorm_naive`; ``mean_term`` / ``var_term`` off: the
    dependence of the mean / the variance on ``x`` left out (both off: the statistics treated as
    constants)."""
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / std
    g = dout * gamma
    dx = g - (g.mean(axis=0) if mean_term else 0) - (xhat * (g * xhat).mean(axis=0) if var_term else 0)
    return dx / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)
