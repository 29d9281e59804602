"""Small arrays whose results are computed by hand (and checked against the slow loop versions)."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import AvgPool2D, Conv2D, Dense, MaxPool2D
from scratchnet.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from scratchnet.ops.naive import conv2d_naive, pool2d_naive

IMAGE = np.arange(30, dtype=np.float64).reshape(1, 1, 6, 5)  # x[h, w] = 5h + w


def conv_with(kernel, bias=0.0, **kw) -> Conv2D:
    k = np.asarray(kernel, dtype=np.float64)
    layer = Conv2D(1, 1, k.shape, **kw)
    layer.params["W"] = k.reshape(1, 1, *k.shape)
    layer.params["b"] = np.array([bias])
    return layer


def test_2x2_kernel_over_6x5_image():
    # y[i,j] = x[i,j] + 2 x[i,j+1] + 3 x[i+1,j] + 4 x[i+1,j+1] = 10 x[i,j] + 2*1 + 3*5 + 4*6
    layer = conv_with([[1, 2], [3, 4]], bias=0.5)
    y = layer.forward(IMAGE)
    assert y.shape == (1, 1, 5, 4)
    np.testing.assert_array_equal(y[0, 0], 10 * IMAGE[0, 0, :5, :4] + 41 + 0.5)

    # backward with dout = 1: each pixel collects the kernel entries that touched it
    dx = layer.backward(np.ones_like(y))
    expected_dx = np.array(
        [
            [1, 3, 3, 3, 2],
            [4, 10, 10, 10, 6],
            [4, 10, 10, 10, 6],
            [4, 10, 10, 10, 6],
            [4, 10, 10, 10, 6],
            [3, 7, 7, 7, 4],
        ]
    )
    np.testing.assert_array_equal(dx[0, 0], expected_dx)
    # dW[u, v] = sum of the 5x4 block of x starting at (u, v); db = number of outputs
    block_sum = 20 * (5 * 2 + 1.5)  # mean of x[0:5, 0:4] is 5*2 + 1.5
    expected_dw = np.array([[block_sum, block_sum + 20], [block_sum + 100, block_sum + 120]])
    np.testing.assert_array_equal(layer.grads["W"][0, 0], expected_dw)
    assert layer.grads["b"][0] == 20


def test_difference_kernel_is_constant():
    # y = x[i,j] - x[i+1,j+1] = -6 everywhere on the ramp image
    y = conv_with([[1, 0], [0, -1]]).forward(IMAGE)
    np.testing.assert_array_equal(y, np.full((1, 1, 5, 4), -6.0))


def test_stride_and_padding_by_hand():
    # 3x3 box filter, stride 2, padding 1 on the 6x5 ramp: output 3x3
    y = conv_with(np.ones((3, 3)), stride=2, padding=1).forward(IMAGE)[0, 0]
    x = IMAGE[0, 0]
    assert y.shape == (3, 3)
    assert y[0, 0] == x[0:2, 0:2].sum()  # top-left window hangs over the padding
    assert y[1, 1] == x[1:4, 1:4].sum()
    assert y[2, 2] == x[3:6, 3:5].sum()
    np.testing.assert_array_equal(y, conv2d_naive(IMAGE, np.ones((1, 1, 3, 3)), None, 2, 1)[0, 0])


def test_multichannel_cross_correlation_not_convolution():
    x = np.zeros((1, 2, 3, 3))
    x[0, 0, 0, 0] = 1.0  # a single 1 in the top-left corner of channel 0
    layer = Conv2D(2, 1, 3, bias=False)
    w = np.zeros((1, 2, 3, 3))
    w[0, 0] = np.arange(9).reshape(3, 3)
    layer.params["W"] = w
    # cross-correlation picks w[0,0,0,0] = 0; a flipped convolution would pick w[0,0,2,2] = 8
    assert layer.forward(x).item() == 0.0
    x[0, 0, 2, 2], x[0, 0, 0, 0] = 1.0, 0.0
    assert layer.forward(x).item() == 8.0


def test_maxpool_by_hand():
    x = np.array([[1, 5, 2, 0], [3, 4, 8, 8], [0, 0, 1, 2], [7, 0, 3, 2]], dtype=np.float64)[None, None]
    pool = MaxPool2D(2)
    y = pool.forward(x)
    np.testing.assert_array_equal(y[0, 0], [[5, 8], [7, 3]])
    dx = pool.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    # the tie between the two 8s goes to the first one in row-major order
    expected = np.array([[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 0, 0], [30, 0, 40, 0]])
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_overlapping_maxpool_accumulates():
    x = np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]], dtype=np.float64)[None, None]
    pool = MaxPool2D(2, stride=1)
    np.testing.assert_array_equal(pool.forward(x)[0, 0], [[9, 9], [9, 9]])
    dx = pool.backward(np.ones((1, 1, 2, 2)))
    assert dx[0, 0, 1, 1] == 4 and dx.sum() == 4  # the centre is the max of all four windows


def test_avgpool_by_hand_with_uneven_size():
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    pool = AvgPool2D(2)
    y = pool.forward(x)
    np.testing.assert_array_equal(y[0, 0], [[3, 5], [13, 15]])  # last row/column are dropped
    dx = pool.backward(np.full((1, 1, 2, 2), 4.0))
    expected = np.ones((5, 5))
    expected[4, :] = expected[:, 4] = 0
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 1), (2, 3), ((3, 2), (1, 2))])
def test_fast_pools_match_loops(kernel, stride):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    np.testing.assert_allclose(MaxPool2D(kernel, stride).forward(x), pool2d_naive(x, kernel, stride, "max"))
    np.testing.assert_allclose(AvgPool2D(kernel, stride).forward(x), pool2d_naive(x, kernel, stride, "avg"))


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(3, 1, 1), (2, 2, 0), ((1, 3), (2, 1), (0, 2)), (5, 3, 2)]
)
def test_fast_conv_matches_loops(kernel, stride, padding):
    rng = np.random.default_rng(1)
    layer = Conv2D(3, 4, kernel, stride, padding, rng=rng).astype(np.float64)
    layer.params["b"] = rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 9, 7))
    np.testing.assert_allclose(
        layer.forward(x),
        conv2d_naive(x, layer.params["W"], layer.params["b"], stride, padding),
        rtol=1e-12,
    )


def test_dense_by_hand():
    layer = Dense(2, 2)
    layer.params["W"] = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer.params["b"] = np.array([0.5, -0.5])
    y = layer.forward(np.array([[1.0, 1.0], [2.0, 0.0]]))
    np.testing.assert_array_equal(y, [[4.5, 5.5], [2.5, 3.5]])
    dx = layer.backward(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(dx, [[1, 3], [2, 4]])
    np.testing.assert_array_equal(layer.grads["W"], [[1, 2], [1, 0]])
    np.testing.assert_array_equal(layer.grads["b"], [1, 1])


def test_softmax_cross_entropy_by_hand():
    loss = SoftmaxCrossEntropy()
    assert loss.forward(np.zeros((2, 4)), np.array([0, 3])) == pytest.approx(np.log(4))
    np.testing.assert_allclose(loss.backward(), (np.full((2, 4), 0.25) - np.eye(4)[[0, 3]]) / 2)
    # huge logits: no overflow, exact answers
    assert loss.forward(np.array([[1000.0, 0.0]]), np.array([0])) == 0.0
    assert loss.forward(np.array([[1000.0, 0.0]]), np.array([1])) == 1000.0
    assert loss.forward(np.array([[1e30, -1e30]], dtype=np.float32), np.array([0])) == 0.0
    assert np.isfinite(loss.backward()).all()


def test_bce_and_mse_by_hand():
    bce = BinaryCrossEntropy()
    assert bce.forward(np.zeros(3), np.array([0.0, 1.0, 0.5])) == pytest.approx(np.log(2))
    np.testing.assert_allclose(bce.backward(), (0.5 - np.array([0, 1, 0.5])) / 3)
    assert bce.forward(np.array([800.0, -800.0]), np.array([1.0, 0.0])) == 0.0  # no overflow
    assert bce.forward(np.array([-800.0]), np.array([1.0])) == 800.0
    mse = MSE()
    assert mse.forward(np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]])) == 2.5
    np.testing.assert_array_equal(mse.backward(), [[1.0, -2.0]])


def test_sgd_and_adam_by_hand():
    layer = Dense(1, 1)
    layer.params["W"] = np.array([[1.0]])
    layer.params["b"] = np.array([0.0])
    opt = sn.optim.SGD(layer.parameters(), lr=0.1, momentum=0.5, weight_decay=0.2)
    layer.grads.update(W=np.array([[1.0]]), b=np.array([1.0]))
    opt.step()  # g' = 1 + 0.2*1 = 1.2, v = 1.2, W = 1 - 0.12
    assert layer.params["W"][0, 0] == pytest.approx(0.88)
    opt.step()  # g' = 1 + 0.176 = 1.176, v = 0.6 + 1.176 = 1.776, W = 0.88 - 0.1776
    assert layer.params["W"][0, 0] == pytest.approx(0.7024)
    # the bias decays too (as in PyTorch): g' = 1, then 1 + 0.2*(-0.1) = 0.98; v = 0.5 + 0.98
    assert layer.params["b"][0] == pytest.approx(-0.1 - 0.148)

    layer.params["W"] = np.array([[1.0]])
    adam = sn.optim.Adam([layer.parameters()[0]], lr=0.01)
    layer.grads["W"] = np.array([[-3.0]])
    adam.step()  # first Adam step moves by lr * sign(g) (bias correction makes m/sqrt(v) = 1)
    assert layer.params["W"][0, 0] == pytest.approx(1.01, abs=1e-9)
    adamw = sn.optim.AdamW([layer.parameters()[0]], lr=0.01, weight_decay=0.5)
    layer.params["W"] = np.array([[2.0]])
    adamw.step()  # decoupled decay: 2 * (1 - 0.005) = 1.99, then + 0.01
    assert layer.params["W"][0, 0] == pytest.approx(2.0, abs=1e-9)
