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


def _model(fuse: bool) -> sn.Sequential:
    rng = np.random.default_rng(0)
    return sn.Sequential(
        Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(4, 8, 3, padding=1, rng=rng), BatchNorm2D(8), ReLU(), MaxPool2D(3, stride=2),
        Conv2D(8, 8, 1, rng=rng), Tanh(), Flatten(), Dropout(0.3, rng=1), Dense(8 * 3 * 3, 16, rng=rng),
        ReLU(), Dense(16, 5, rng=rng), fuse=fuse,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_plan_matches_literal_order(dtype):
    """The fused plan (ReLU after pool, conv + 2x2 pool in one pass) against the literal layer
    order: same outputs and gradients, including the many ties of all-negative windows, up to
    float round-off (the fused GEMM sums its blocks in another order)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1, 14, 14)).astype(dtype)
    x[:, :, :4, :4] = -1.0  # windows whose values are all clipped to 0 by ReLU
    y = rng.integers(0, 5, 6)
    runs = []
    for fuse in (False, True):
        model = _model(fuse).astype(dtype)
        loss = SoftmaxCrossEntropy()
        value = loss.forward(model.forward(x), y)
        dx = model.backward(loss.backward())
        runs.append((value, dx, [p.grad.copy() for p in model.parameters()]))
    (v0, dx0, g0), (v1, dx1, g1) = runs
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(v0 - v1) <= tol * abs(v0)
    np.testing.assert_allclose(dx1, dx0, rtol=tol, atol=tol * np.abs(dx0).max())
    for a, b in zip(g0, g1, strict=True):
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol * np.abs(a).max())


def test_relu_maxpool_swap_is_bit_exact():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 9, 8)).astype(np.float32)
    x[:, :, :4] = np.minimum(x[:, :, :4], 0)  # all-zero windows after ReLU: ties
    g = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    outs = []
    for fuse in (False, True):
        model = sn.Sequential(ReLU(), MaxPool2D(2), fuse=fuse)
        outs.append((model.forward(x), model.backward(g)))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize(
    ("H", "W", "padding", "stride"), [(9, 8, 1, 1), (10, 7, 0, 1), (11, 11, 2, 2), (6, 6, 1, 1)]
)
def test_fused_conv_pool_odd_sizes(H, W, padding, stride):
    """Conv + 2x2 pool fused vs separate, incl. odd conv outputs (last row/column dropped)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, H, W))
    outs = []
    for fuse in (False, True):
        model = sn.Sequential(Conv2D(9, 4, 3, stride=stride, padding=padding, rng=0), MaxPool2D(2), fuse=fuse)
        model.astype(np.float64)
        y = model.forward(x)
        g = np.random.default_rng(4).standard_normal(y.shape)
        dx = model.backward(g)
        outs.append((y, dx, {k: v.copy() for k, v in model[0].grads.items()}))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-12)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-12, atol=1e-12)
    for k in outs[0][2]:
        np.testing.assert_allclose(outs[1][2][k], outs[0][2][k], rtol=1e-12, atol=1e-12)


def test_fused_model_gradcheck():
    model = sn.Sequential(
        Conv2D(2, 3, 3, padding=1, rng=0), ReLU(), MaxPool2D(2), Flatten(), Dense(3 * 3 * 3, 2, rng=1)
    )
    assert model.execution_plan()[0] == (0, 2)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 6, 7)) + np.linspace(0, 3, 42).reshape(6, 7)  # no ties
    report = sn.gradcheck(model, x, loss=SoftmaxCrossEntropy(), targets=np.array([0, 1]))
    assert report.max_error < 1e-6, str(report)


def test_execution_order():
    model = _model(True)
    assert model.execution_order() == [0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10, 11, 12, 13]
    assert model.execution_plan()[:2] == [(0, 2), (1,)]  # conv + pool fused, then ReLU
    assert _model(False).execution_order() == list(range(14))
    assert _model(False).execution_plan() == [(i,) for i in range(14)]
