"""``fuse(model)`` computes the same function as the model it rewrites, and says what it did."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import zoo
from scratchnet.layers import (
    BatchNorm2D,
    Conv2D,
    ConvPool2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Tanh,
)
from scratchnet.losses import SoftmaxCrossEntropy


def _model() -> sn.Sequential:
    rng = np.random.default_rng(0)
    return sn.Sequential(
        Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(4, 8, 3, padding=1, rng=rng), BatchNorm2D(8), ReLU(), MaxPool2D(3, stride=2),
        Conv2D(8, 8, 1, rng=rng), Tanh(), Flatten(), Dropout(0.3, rng=1), Dense(8 * 3 * 3, 16, rng=rng),
        ReLU(), Dense(16, 5, rng=rng),
    )  # fmt: skip


def test_fuse_rewrites_exactly_the_documented_pairs():
    model = _model()
    fused = sn.fuse(model)
    kinds = [type(m).__name__ for m in fused]
    # conv-relu-pool2 -> convpool-relu; relu-pool3/2 -> pool-relu; nothing else changes
    assert kinds == ["ConvPool2D", "ReLU", "Conv2D", "BatchNorm2D", "MaxPool2D", "ReLU", "Conv2D", "Tanh",
                     "Flatten", "Dropout", "Dense", "ReLU", "Dense"]  # fmt: skip
    assert fused[0].params is model[0].params, "the fused layer shares the conv's parameters"
    assert [type(m).__name__ for m in model][:3] == ["Conv2D", "ReLU", "MaxPool2D"], "the input is untouched"


def test_subclasses_are_not_fused():
    class MyConv(Conv2D):
        pass

    class MyPool(MaxPool2D):
        pass

    for layers in ([MyConv(1, 2, 3), MaxPool2D(2)], [Conv2D(1, 2, 3), MyPool(2)]):
        assert [type(m) for m in sn.fuse(sn.Sequential(*layers))] == [type(m) for m in layers]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_model_matches_the_original(dtype):
    """Same outputs and gradients, including the many ties of all-negative windows, up to float
    round-off (the fused GEMM sums its blocks in another order)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1, 14, 14)).astype(dtype)
    x[:, :, :4, :4] = -1.0  # windows whose values are all clipped to 0 by ReLU
    y = rng.integers(0, 5, 6)
    runs = []
    for fused in (False, True):
        model = _model().astype(dtype)
        if fused:
            model = sn.fuse(model)
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
    for fused in (False, True):
        model = sn.Sequential(ReLU(), MaxPool2D(2))
        model = sn.fuse(model) if fused else model
        outs.append((model.forward(x), model.backward(g)))
    assert type(sn.fuse(sn.Sequential(ReLU(), MaxPool2D(2)))[0]) is MaxPool2D
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize(
    ("H", "W", "padding", "stride"), [(9, 8, 1, 1), (10, 7, 0, 1), (11, 11, 2, 2), (6, 6, 1, 1)]
)
def test_convpool_layer_equals_the_pair_at_odd_sizes(H, W, padding, stride):
    """ConvPool2D vs Conv2D + MaxPool2D(2), incl. odd conv outputs (last row/column dropped)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, H, W))
    pair = sn.Sequential(Conv2D(9, 4, 3, stride=stride, padding=padding, rng=0), MaxPool2D(2)).astype(
        np.float64
    )
    fused = ConvPool2D.from_conv(pair[0])
    y0, y1 = pair.forward(x), fused.forward(x)
    g = np.random.default_rng(4).standard_normal(y0.shape)
    dx0 = pair.backward(g)
    grads0 = {k: v.copy() for k, v in pair[0].grads.items()}
    dx1 = fused.backward(g)
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-12)  # 9 channels: Winograd
    np.testing.assert_allclose(dx1, dx0, rtol=1e-12, atol=1e-12)
    for k in grads0:
        np.testing.assert_allclose(fused.grads[k], grads0[k], rtol=1e-12, atol=1e-12)


def test_convpool_too_small_names_the_layer():
    with pytest.raises(ValueError, match=r"ConvPool2D\(1, 2.*output 1x3 is too small for a 2x2 max-pool"):
        ConvPool2D.from_conv(Conv2D(1, 2, 3)).forward(np.zeros((1, 1, 3, 5), np.float32))


def test_zoo_builds_fused_models_with_the_same_function():
    x = np.random.default_rng(5).standard_normal((4, 1, 28, 28)).astype(np.float32)
    plain, fused = zoo.build("reference-cnn", rng=0, fuse=False), zoo.build("reference-cnn", rng=0)
    assert sum(isinstance(m, ConvPool2D) for m in fused.modules()) == 2
    assert plain.num_parameters() == fused.num_parameters()
    want = plain.forward(x)  # the second block's Winograd path rounds relative to the tensor's scale
    np.testing.assert_allclose(fused.forward(x), want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_model_outputs_do_not_alias_reused_buffers():
    """Layers inside a model reuse their output arrays; what the model returns must not change
    when it is called again."""
    model = sn.Sequential(Conv2D(1, 2, 3, rng=0), ReLU())
    x = np.random.default_rng(6).standard_normal((2, 1, 5, 5)).astype(np.float32)
    y1 = model.forward(x)
    kept = y1.copy()
    model.forward(x * 2)
    np.testing.assert_array_equal(y1, kept)
    dx1 = model.backward(np.ones_like(y1))
    kept = dx1.copy()
    model.forward(x * 2)
    model.backward(np.full_like(y1, 3.0))
    np.testing.assert_array_equal(dx1, kept)


# --- Winograd F(2x2, 3x3) for the fused 3x3 convolution -----------------------------------------
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("H, W", [(8, 8), (9, 7), (4, 5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("blocks", ["whole batch", "2 + 1 images"])
def test_winograd_path_equals_the_im2col_path(monkeypatch, H, W, padding, bias, blocks):
    """The Winograd path (at the threshold's channel count: it applies) and the im2col path
    (forced by raising the threshold) give the same output and gradients in float64, fused with
    the pool at odd sizes (the last row or column outside every window) or alone (an even output),
    any padding,
    with and without bias, channels-last or not, and for a first layer (no dx) and a frozen one
    (no dw); computed on the whole batch at once or in blocks of images of unequal sizes (the
    weight gradient summed over the blocks)."""
    from scratchnet.ops import conv, convpool, winograd
    from scratchnet.ops.workspace import Workspace

    rng = np.random.default_rng(H * 10 + W + padding)
    if blocks != "whole batch":
        monkeypatch.setattr(winograd, "tile_chunks", lambda N, *_: [slice(0, 2), slice(2, N)])
    C, Co = winograd.WINOGRAD_MIN_CHANNELS, 5
    x = rng.standard_normal((3, C, H, W))
    if padding == 1:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last memory
    w, b = rng.standard_normal((Co, C, 3, 3)), (rng.standard_normal(Co) if bias else None)
    assert winograd.winograd_applies(w.shape, (1, 1), (1, 1))

    # the fused op at any size; the plain convolution where its output is even (else: im2col)
    ops = [(convpool.convpool2d_forward, convpool.convpool2d_backward, lambda c: c.conv)]
    if (H + 2 * padding) % 2 == (W + 2 * padding) % 2 == 0:
        ops.append((conv.conv2d_forward, conv.conv2d_backward, lambda c: c))

    def run(forward, backward, inner, ws):
        z, cache = forward(x, w, b, 1, padding, ws)
        dout = np.cos(np.arange(z.size)).reshape(z.shape)
        full = backward(dout, cache, True, ws)
        no_dx = backward(dout, cache, False, ws)
        no_dw = backward(dout, cache, True, ws, need_dw=False)
        arrays = [None if a is None else np.array(a) for a in (z, *full)]
        return type(inner(cache)).__name__, arrays, no_dx, no_dw

    for op in ops:
        monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", C)
        kind, fast, no_dx, no_dw = run(*op, Workspace())
        monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", C + 1)
        kind_ref, ref, _, _ = run(*op, None)
        assert (kind, kind_ref) == ("WinogradCache", "ConvCache")
        _same(fast, ref, no_dx, no_dw)


def _same(fast, ref, no_dx, no_dw):
    for got, want in zip(fast, ref, strict=True):
        if want is None:
            assert got is None
            continue
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert no_dx[0] is None and no_dx[1] is not None
    assert no_dw[1] is None and no_dw[2] is None and no_dw[0] is not None


def test_winograd_transforms_by_hand():
    """F(2x2, 3x3) on one tile, worked by hand. Input patch d = [[1,2,0,1],[0,1,3,0],[2,0,1,1],
    [1,1,0,2]], filter g = all ones: each output is the sum of a 3x3 window of d,
    y00 = 1+2+0 + 0+1+3 + 2+0+1 = 10, y01 = 2+0+1 + 1+3+0 + 0+1+1 = 9,
    y10 = 0+1+3 + 2+0+1 + 1+1+0 = 9, y11 = 1+3+0 + 0+1+1 + 1+0+2 = 9; pooled: 10."""
    from scratchnet.ops import winograd

    d = np.array([[1, 2, 0, 1], [0, 1, 3, 0], [2, 0, 1, 1], [1, 1, 0, 2]], float)
    C = winograd.WINOGRAD_MIN_CHANNELS
    x = np.zeros((1, C, 4, 4))
    x[0, 0] = d  # one channel carries the patch, the others are zero
    w = np.zeros((1, C, 3, 3))
    w[0, 0] = 1.0
    Y, _ = winograd.winograd_tiles(x, w, False, (0, 0), None)
    assert Y[:, 0, 0].tolist() == [10.0, 9.0, 9.0, 9.0]
    z, _ = sn.ops.convpool2d_forward(x, w, None, 1, 0)
    assert z.ravel().tolist() == [10.0]
