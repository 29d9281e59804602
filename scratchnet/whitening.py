r"""Patch whitening: a first convolution whose filters decorrelate the pixels of each patch.

For :math:`k\times k` patches of :math:`C`-channel images, each patch is a vector
:math:`p\in\mathbb R^{Ck^2}`. With the patches' mean :math:`\bar p` and covariance
:math:`\Sigma = \frac1P\sum (p - \bar p)(p - \bar p)^\top = V\Lambda V^\top` (eigenvectors :math:`V`,
eigenvalues :math:`\lambda_i`), the filters :math:`w_i = v_i/\sqrt{\lambda_i + \epsilon}` give
outputs :math:`w_i^\top p` that are uncorrelated with unit variance (ZCA's "PCA" half): every
direction of patch space, the faint fine-detail ones included, reaches the next layer at the
same scale. The layer gets :math:`2Ck^2` filters, :math:`w_i` and :math:`-w_i` (so that a
following nonlinearity keeps both signs); its bias is minus the filters' response to the mean
patch. The first layer of airbench (Jordan, 2024) and of tysam's hlb-CIFAR10. Used by the
``cifar-fast`` model of the zoo before training (:func:`whiten_first_conv`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def patch_whitening(x: np.ndarray, kernel: int = 2, eps: float = 5e-4) -> tuple[np.ndarray, np.ndarray]:
    """Whitening filters for the ``kernel x kernel`` patches of ``x`` (``(N, C, H, W)``, normalised
    floats). Returns ``(W, b)``: ``W`` of shape ``(2 C k^2, C, k, k)`` (the filters and their
    negatives, largest eigenvalue first) and ``b`` of shape ``(2 C k^2,)``."""
    C = x.shape[1]
    windows = sliding_window_view(np.asarray(x, np.float64), (kernel, kernel), axis=(2, 3))
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, C * kernel * kernel)  # (P, C k k)
    mean = patches.mean(axis=0)
    centered = patches - mean
    cov = centered.T @ centered / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    filters = (eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)).T  # (C k k, C k k): rows w_i
    W = np.concatenate([filters, -filters]).reshape(-1, C, kernel, kernel)
    b = -(W.reshape(len(W), -1) @ mean)
    return W, b


def whiten_first_conv(model, x: np.ndarray, eps: float = 5e-4) -> None:
    """Set the first layer of ``model`` (a ``Conv2D`` with ``2 C k^2`` filters) to the whitening
    filters of ``x``'s patches, in the layer's dtype."""
    conv = next(m for m in model.modules() if m.params)  # the first layer with weights
    k = conv.kernel_size[0]
    W, b = patch_whitening(x, k, eps)
    if conv.params["W"].shape != W.shape:
        raise ValueError(f"whiten_first_conv: {conv!r} needs {len(W)} filters of {conv.in_channels}x{k}x{k} "
                         "to hold the whitening filters")  # fmt: skip
    conv.params["W"][...] = W
    conv.params["b"][...] = b
