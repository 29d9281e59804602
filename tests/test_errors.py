"""Bad input gets a clear ValueError that names the layer and the expected shape."""

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
    MaxPool2D,
    ReLU,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy


def test_conv_wrong_rank():
    with pytest.raises(
        ValueError, match=r"Conv2D\(3, 8.*expected input of shape \(N, 3, H, W\), got \(3, 28, 28\)"
    ):
        Conv2D(3, 8, 3).forward(np.zeros((3, 28, 28), np.float32))


def test_conv_wrong_channels():
    with pytest.raises(ValueError, match=r"Conv2D\(3, 8.*\(N, 3, H, W\).*\(4, 1, 28, 28\)"):
        Conv2D(3, 8, 3).forward(np.zeros((4, 1, 28, 28), np.float32))


def test_conv_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x4"):
        Conv2D(1, 1, 5, padding=1).forward(np.zeros((1, 1, 2, 2), np.float32))
    Conv2D(1, 1, 4, padding=1).forward(np.zeros((1, 1, 2, 2), np.float32))  # exactly fits: fine


@pytest.mark.parametrize("Pool", [MaxPool2D, AvgPool2D])
def test_pool_errors(Pool):
    with pytest.raises(ValueError, match=rf"{Pool.__name__}.*\(N, C, H, W\)"):
        Pool(2).forward(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"kernel 3x3 is larger than the input 2x5"):
        Pool(3).forward(np.zeros((1, 1, 2, 5), np.float32))


def test_dense_errors():
    with pytest.raises(ValueError, match=r"Dense\(10, 3\): expected input of shape \(N, 10\), got \(4, 11\)"):
        Dense(10, 3).forward(np.zeros((4, 11), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 10\).*\(4, 2, 5\)"):
        Dense(10, 3).forward(np.zeros((4, 2, 5), np.float32))


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2D\(4\).*\(N, 4, H, W\)"):
        BatchNorm2D(4).forward(np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm2D(4).forward(np.zeros((1, 4, 1, 1), np.float32))


def test_constructor_errors():
    with pytest.raises(ValueError, match="kernel"):
        Conv2D(1, 1, 0)
    with pytest.raises(ValueError, match="padding"):
        Conv2D(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match="int or a pair"):
        Conv2D(1, 1, "3")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        Dropout(1.5)
    with pytest.raises(TypeError, match="not a layer"):
        sn.Sequential(ReLU(), "relu")


def test_backward_before_forward():
    for layer in (Conv2D(1, 1, 3), Dense(2, 2), MaxPool2D(2), ReLU(), Flatten(), BatchNorm2D(2)):
        with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
            layer.backward(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(RuntimeError, match="SoftmaxCrossEntropy"):
        SoftmaxCrossEntropy().backward()


def test_loss_errors():
    ce = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        ce.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="integer labels of shape \\(2,\\)"):
        ce.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="scores of shape \\(N, C\\)"):
        ce.forward(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match=r"BinaryCrossEntropy.*shape"):
        BinaryCrossEntropy().forward(np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        BinaryCrossEntropy().forward(np.zeros(2), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"MSE.*shape"):
        MSE().forward(np.zeros((2, 3)), np.zeros((3, 2)))


def test_summary_reports_the_failing_layer():
    model = sn.Sequential(Conv2D(1, 4, 3), Flatten(), Dense(100, 10))
    with pytest.raises(
        ValueError, match=r"Dense\(100, 10\): expected input of shape \(N, 100\), got \(N, 2704\)"
    ):
        model.summary((1, 28, 28), print_fn=None)
