"""The classic exercises: every snippet of docs/exercises.md, and the facts it states, checked."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.convert import sigmoid_to_tanh
from scratchnet.gradcheck import relative_error
from scratchnet.layers import Conv2D, Dense, Sigmoid
from scratchnet.losses import MSE
from scratchnet.ops.activations import sigmoid, softmax_backward, softmax_forward, softmax_jacobian
from scratchnet.ops.conv1d import conv1d_backward, conv1d_forward
from scratchnet.shapes import conv2d_shape, pool2d_shape, receptive_field

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_snippet_of_the_exercises_page_runs():
    result = doctest.testfile(str(DOCS / "exercises.md"), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)  # fmt: skip
    assert result.attempted > 40 and result.failed == 0, result


def test_shape_calculator_agrees_with_the_layers():
    rng = np.random.default_rng(0)
    for _ in range(20):
        C, H, W, Co = (int(v) for v in rng.integers(1, 9, 4))
        k, s, p = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
        H, W = H + k, W + k
        layer = Conv2D(C, Co, k, s, p)
        shape = conv2d_shape((C, H, W), Co, k, s, p)
        assert shape.output_shape == layer.output_shape((C, H, W))
        assert shape.params == layer.num_parameters() and shape.multiplications == layer.macs((C, H, W))
        last = conv2d_shape((H, W, C), Co, k, s, p, channels_last=True)
        assert last.output_shape == (*shape.output_shape[1:], Co)
    assert pool2d_shape((3, 7, 7), 3, 2).output_shape == (3, 3, 3)
    assert receptive_field([(3, 1), (3, 1)]) == (5, 5) and receptive_field([(3, 1), (2, 2), (3, 1)]) == (8, 8)
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_shape((1, 2, 2), 1, 5)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
def test_conv1d_matches_numpy_and_finite_differences(mode):
    rng = np.random.default_rng(1)
    for _ in range(10):
        n = int(rng.integers(1, 12))
        k = int(rng.integers(1, n + 1))
        x, w = rng.standard_normal(n), rng.standard_normal(k)
        np.testing.assert_allclose(
            conv1d_forward(x, w, mode, flip=True)[0], np.convolve(x, w, mode), atol=1e-12
        )
        np.testing.assert_allclose(conv1d_forward(x, w, mode)[0], np.correlate(x, w, mode), atol=1e-12)
        for flip in (False, True):
            y, cache = conv1d_forward(x, w, mode, flip)
            g = rng.standard_normal(y.shape)
            dx, dw = conv1d_backward(g, cache)
            for arr, grad in ((x, dx), (w, dw)):
                numeric = np.zeros_like(arr)
                for i in range(arr.size):
                    old = arr[i]
                    arr[i] = old + 1e-6
                    plus = conv1d_forward(x, w, mode, flip)[0] @ g
                    arr[i] = old - 1e-6
                    minus = conv1d_forward(x, w, mode, flip)[0] @ g
                    arr[i] = old
                    numeric[i] = (plus - minus) / 2e-6
                assert relative_error(grad, numeric) < 1e-7


def test_conv1d_refuses_bad_input():
    with pytest.raises(ValueError, match="mode must be one of valid, same, full"):
        conv1d_forward(np.ones(3), np.ones(2), "circular")
    with pytest.raises(ValueError, match="must not be longer than the signal"):
        conv1d_forward(np.ones(2), np.ones(3))


def test_softmax_facts_and_jacobian_against_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5)) * 3
    p = softmax_forward(x)[0]
    np.testing.assert_allclose(softmax_forward(x + 1e3)[0], p, rtol=1e-12)  # shift invariance
    np.testing.assert_allclose(softmax_forward(x - x[:, -1:])[0], p, rtol=1e-12)  # K-1 parameters
    np.testing.assert_allclose(softmax_forward(x[:, :2])[0][:, 0], sigmoid(x[:, 0] - x[:, 1]), rtol=1e-12)
    J = softmax_jacobian(x[0])
    numeric = np.stack([(softmax_forward(x[0] + e)[0] - softmax_forward(x[0] - e)[0]) / 2e-6
                        for e in np.eye(5) * 1e-6], axis=1)  # fmt: skip
    np.testing.assert_allclose(J, numeric, atol=1e-9)
    np.testing.assert_allclose(J, np.diag(p[0]) - np.outer(p[0], p[0]), atol=1e-15)
    g = rng.standard_normal(5)
    np.testing.assert_allclose(softmax_backward(g, p[0]), J.T @ g, atol=1e-14)  # the JVP


def test_sigmoid_network_equals_its_tanh_conversion():
    rng = np.random.default_rng(3)
    net = sn.Sequential(Dense(6, 9, rng=0), Sigmoid(), Dense(9, 7, rng=1), Sigmoid(), Dense(7, 7, rng=2),
                        Sigmoid(), Dense(7, 2, rng=3)).astype(np.float64)  # fmt: skip
    for layer in net:
        if "b" in layer.params:
            layer.params["b"] = rng.standard_normal(layer.params["b"].shape)
    x = rng.standard_normal((10, 6)) * 2
    before = {k: v.copy() for k, v in net.state_dict().items()}
    np.testing.assert_allclose(sigmoid_to_tanh(net).forward(x), net.forward(x), rtol=0, atol=1e-12)
    assert all(np.array_equal(v, before[k]) for k, v in net.state_dict().items()), "input left unchanged"


def test_tied_weights_sum_gradients_and_update_once():
    rng = np.random.default_rng(4)
    a, b = Dense(4, 4, rng=0).astype(np.float64), Dense(4, 4, rng=1).astype(np.float64)
    b.params["W"] = a.params["W"]
    model = sn.Sequential(a, Sigmoid(), b)
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    loss = MSE()
    loss.forward(model.forward(x), t)
    model.backward(loss.backward())
    params = model.parameters()
    assert [p.name for p in params] == ["0.W", "0.b", "2.b"] and model.num_parameters() == 16 + 4 + 4
    np.testing.assert_allclose(params[0].grad, a.grads["W"] + b.grads["W"])  # the sum of both uses
    report = sn.gradcheck(model, x, loss=MSE(), targets=t)  # the summed gradient is the true one
    assert report.max_error < 1e-6, str(report)
    loss.forward(model.forward(x), t)  # gradcheck cleared the gradients: compute them again
    model.backward(loss.backward())
    for opt in (sn.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1), sn.optim.Adam(params, lr=0.1)):
        w0, g = a.params["W"].copy(), params[0].grad
        opt.step()
        assert b.params["W"] is a.params["W"], "still one array"
        expected = w0 - 0.1 * (g + 0.1 * w0) if isinstance(opt, sn.optim.SGD) else None
        if expected is not None:
            np.testing.assert_allclose(a.params["W"], expected, rtol=1e-12)  # updated once, not twice
        assert len(opt.state[opt.state_names[0]]) == 3  # one state slot per distinct array


def test_tied_weights_survive_save_and_load(tmp_path):
    a, b = Dense(3, 3, rng=0), Dense(3, 3, rng=1)
    b.params["W"] = a.params["W"]
    model = sn.Sequential(a, b)
    model.save(tmp_path / "tied.npz")
    fresh_a, fresh_b = Dense(3, 3, rng=5), Dense(3, 3, rng=6)
    fresh_b.params["W"] = fresh_a.params["W"]
    sn.Sequential(fresh_a, fresh_b).load(tmp_path / "tied.npz")
    assert fresh_b.params["W"] is fresh_a.params["W"]
    np.testing.assert_array_equal(fresh_a.params["W"], a.params["W"])


def test_convolution_is_a_dense_layer_with_tied_weights():
    """Build the dense matrix of a 3x3 convolution on a 6x5 image: same output, and the weight
    gradient of the convolution is the dense gradient summed over the tied positions."""
    rng = np.random.default_rng(5)
    H, W, k = 6, 5, 3
    Ho, Wo = H - k + 1, W - k + 1
    conv = Conv2D(1, 1, k, bias=False).astype(np.float64)
    w = conv.params["W"][0, 0]
    tie = np.full((H * W, Ho * Wo), -1)  # which kernel entry each dense weight is tied to (-1: zero)
    for i in range(Ho):
        for j in range(Wo):
            for u in range(k):
                for v in range(k):
                    tie[(i + u) * W + (j + v), i * Wo + j] = u * k + v
    M = np.where(tie >= 0, w.reshape(-1)[np.maximum(tie, 0)], 0.0)
    x = rng.standard_normal((2, 1, H, W))
    y = conv.forward(x)
    np.testing.assert_allclose(x.reshape(2, -1) @ M, y.reshape(2, -1), atol=1e-12)
    g = rng.standard_normal(y.shape)
    conv.backward(g)
    dM = x.reshape(2, -1).T @ g.reshape(2, -1)  # the dense layer's gradient
    summed = np.array([dM[tie == n].sum() for n in range(k * k)]).reshape(k, k)
    np.testing.assert_allclose(conv.grads["W"][0, 0], summed, atol=1e-12)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_architecture_diagram(tmp_path, suffix):
    model = sn.zoo.build("reference-cnn", fuse=False)
    path = model.plot((1, 28, 28), tmp_path / f"net{suffix}")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data[:2000]
    if suffix == ".svg":  # every layer's output dimensions and parameter count are written
        text = data.decode()
        for label in ("32 x 28 x 28", "64 x 7 x 7", "3136", "401,536 params", "Conv2D 3x3, 1-&gt;32, pad 1"):
            assert label in text, label
