r"""Inverted dropout.

Training: draw :math:`m_i \sim \text{Bernoulli}(1-p)` and set
:math:`y = x \odot m / (1-p)`, so that :math:`\mathbb E[y] = x` and eval mode is the identity.
Backward: :math:`\partial L/\partial x = g \odot m/(1-p)`. With :math:`p = 1` every unit is
dropped (:math:`y = 0`). Derivation: ``docs/activations.md`` (dropout section).
"""

from __future__ import annotations

import math

import numpy as np

from .record import OpRecord


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """Scaled keep-mask: ``1/(1-p)`` with probability ``1-p``, else ``0``.

    The coin flips are 16-bit random integers compared with ``round(p * 65536)`` (random bytes
    are about twice as fast to draw as floats), so the drop probability is ``p`` rounded to a
    multiple of ``1/65536``.
    """
    if p >= 1.0:
        return np.zeros(shape, dtype=dtype)
    n = math.prod(shape)
    bits = np.frombuffer(rng.bytes(2 * n), dtype=np.uint16).reshape(shape)
    keep = bits >= np.uint16(min(round(p * 65536), 65535))
    return np.multiply(keep, np.asarray(1.0 / (1.0 - p), dtype=dtype), dtype=dtype)


def dropout_forward(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``y = x * mask`` for a mask from :func:`dropout_mask`.

    Equation (8) of ``docs/activations.md``.
    """
    return x * mask


def dropout_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``dx = dout * mask``.

    Equation (8) of ``docs/activations.md``.
    """
    return dout * mask


RECORDS = (
    OpRecord(name="dropout", forward=dropout_forward, backward=dropout_backward, layers=("Dropout",),
             family="dropout", docs="activations.md", topic="inverted dropout", helpers=(dropout_mask,)),
)  # fmt: skip
