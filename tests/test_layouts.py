"""Memory layouts and execution order never change results.

Conv layers return channels-last arrays (logical NCHW shape, NHWC memory, like PyTorch's
``channels_last``); every op must give bit-for-bit the same answer for either layout, and a
``Sequential`` that runs ReLU after MaxPool (``fuse=True``) must match the literal order.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Tanh,
)
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.ops.conv import is_channels_last


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


def _model(fuse: bool) -> sn.Sequential:
    rng = np.random.default_rng(0)
    return sn.Sequential(
        Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(4, 8, 3, padding=1, rng=rng), BatchNorm2D(8), ReLU(), MaxPool2D(3, stride=2),
        Conv2D(8, 8, 1, rng=rng), Tanh(), Flatten(), Dropout(0.3, rng=1), Dense(8 * 3 * 3, 16, rng=rng),
        ReLU(), Dense(16, 5, rng=rng), fuse=fuse,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_maxpool_reordering_is_exact(dtype):
    """ReLU then MaxPool (literal) and MaxPool then ReLU (fused): identical outputs and grads,
    including the many ties of all-negative windows."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1, 14, 14)).astype(dtype)
    x[:, :, :4, :4] = -1.0  # windows whose values are all clipped to 0 by ReLU
    y = rng.integers(0, 5, 6)
    runs = []
    for fuse in (False, True):
        model = _model(fuse).astype(dtype)
        assert model.execution_order() != list(range(len(model))) or not fuse
        loss = SoftmaxCrossEntropy()
        value = loss.forward(model.forward(x), y)
        dx = model.backward(loss.backward())
        runs.append((value, dx, [p.grad.copy() for p in model.parameters()]))
    (v0, dx0, g0), (v1, dx1, g1) = runs
    assert v0 == v1
    np.testing.assert_array_equal(dx0, dx1)
    for a, b in zip(g0, g1, strict=True):
        np.testing.assert_array_equal(a, b)


def test_execution_order():
    model = _model(True)
    assert model.execution_order() == [0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10, 11, 12, 13]
    assert _model(False).execution_order() == list(range(14))
