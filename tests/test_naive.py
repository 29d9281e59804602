"""The textbook versions of ``scratchnet/ops/naive/`` that the op table's ``reference`` check does not
cover (batch norm), and the mistake switches the checker computes its catalogue with: each switch is
the mistake it names, derived by hand here."""

from __future__ import annotations

import numpy as np

from scratchnet.layers import BatchNorm1D
from scratchnet.ops.naive import (
    batchnorm_backward_naive,
    batchnorm_naive,
    conv2d_backward_naive,
    conv2d_naive,
    pool2d_backward_naive,
)


def test_the_textbook_batch_norm_is_the_layer_s():
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((7, 4)), rng.standard_normal((7, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    bn = BatchNorm1D(4, eps=1e-5).astype(np.float64)
    bn.params["gamma"], bn.params["beta"] = gamma.copy(), beta.copy()
    np.testing.assert_allclose(batchnorm_naive(x, gamma, beta), bn.forward(x), rtol=1e-12, atol=1e-12)
    dx, dgamma, dbeta = batchnorm_backward_naive(dout, x, gamma)
    np.testing.assert_allclose(dx, bn.backward(dout), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, bn.grads["gamma"], rtol=1e-12)
    np.testing.assert_allclose(dbeta, bn.grads["beta"], rtol=1e-12)


def test_the_batch_norm_switches_drop_the_terms_they_name():
    rng = np.random.default_rng(1)
    x, dout, gamma = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    std = np.sqrt(x.var(0) + 1e-5)
    xhat, g = (x - x.mean(0)) / std, dout * gamma
    both = batchnorm_backward_naive(dout, x, gamma, mean_term=False, var_term=False)[0]
    np.testing.assert_allclose(both, g / std)  # the statistics as constants
    no_mean = batchnorm_backward_naive(dout, x, gamma, mean_term=False)[0]
    np.testing.assert_allclose(no_mean, (g - xhat * (g * xhat).mean(0)) / std)
    no_var = batchnorm_backward_naive(dout, x, gamma, var_term=False)[0]
    np.testing.assert_allclose(no_var, (g - g.mean(0)) / std)
    unbiased = batchnorm_naive(x, gamma, 0.0, unbiased=True)
    np.testing.assert_allclose(unbiased, gamma * (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + 1e-5))


def test_the_convolution_switches_are_the_mistakes_they_name():
    """flip: the gradients of the true convolution (its flipped kernel's, dw flipped back);
    keep_padding: dx with its zero border; backward_stride: the windows slid by another step."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 2, 7, 7)), rng.standard_normal((3, 2, 3, 3))
    dout = rng.standard_normal(conv2d_naive(x, w, None, 2, 1).shape)
    flipped = w[:, :, ::-1, ::-1]
    np.testing.assert_allclose(conv2d_naive(x, w, None, 2, 1, flip=True), conv2d_naive(x, flipped, None, 2, 1))
    dx, dw, _ = conv2d_backward_naive(dout, x, w, 2, 1, flip=True)
    dx_f, dw_f, _ = conv2d_backward_naive(dout, x, flipped, 2, 1)
    np.testing.assert_allclose(dx, dx_f)
    np.testing.assert_allclose(dw, dw_f[:, :, ::-1, ::-1])
    padded = conv2d_backward_naive(dout, x, w, 2, 1, keep_padding=True)[0]
    assert padded.shape == (2, 2, 9, 9)
    np.testing.assert_allclose(padded[:, :, 1:-1, 1:-1], conv2d_backward_naive(dout, x, w, 2, 1)[0])
    dx1 = conv2d_backward_naive(dout, x, w, 2, 1, backward_stride=1)[0]
    # 4x4 outputs, windows of 3 at steps of 1: rows and columns 0-5 of the padded input, 0-4 of x
    assert np.all(dx1[:, :, 5:, :] == 0) and np.all(dx1[:, :, :, 5:] == 0) and np.any(dx1[:, :, :5, :5])


def test_the_pooling_switches_are_the_mistakes_they_name():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])  # one 2x2 window, three tied maxima
    g = np.array([[[[6.0]]]])
    assert pool2d_backward_naive(g, x, 2).tolist() == [[[[6.0, 0.0], [0.0, 0.0]]]]  # the first maximum
    assert pool2d_backward_naive(g, x, 2, every_tie=True).tolist() == [[[[6.0, 6.0], [0.0, 6.0]]]]
    assert pool2d_backward_naive(g, x, 2, mode="avg").tolist() == [[[[1.5, 1.5], [1.5, 1.5]]]]
    assert pool2d_backward_naive(g, x, 2, mode="avg", divide=False).tolist() == [[[[6.0, 6.0], [6.0, 6.0]]]]
    y = np.arange(16.0).reshape(1, 1, 4, 4)  # increasing: each window's maximum is its bottom-right
    ones = np.ones((1, 1, 2, 2))
    moved = pool2d_backward_naive(ones, y, 2, 2, backward_stride=1)  # windows at (0,0),(0,1),(1,0),(1,1)
    assert moved[0, 0].tolist() == [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
