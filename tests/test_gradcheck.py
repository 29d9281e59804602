"""Finite-difference checks beyond single ops: a whole model through a loss, and the checker itself.
(Per-op finite differences live in the op table: ``tests/op_table.py``.)"""

from __future__ import annotations

import numpy as np
from op_table import away_from_zero

import scratchnet as sn
from scratchnet.gradcheck import central_differences
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
    Sigmoid,
    Tanh,
)
from scratchnet.losses import SoftmaxCrossEntropy

TOL = 1e-6


def test_whole_model_gradients():
    """A small CNN with every kind of layer, checked end to end through the loss."""
    rng = np.random.default_rng(0)
    model = sn.Sequential(
        Conv2D(2, 3, 3, stride=1, padding=1, bias=False, rng=rng),
        BatchNorm2D(3),
        LeakyReLU(0.2),
        MaxPool2D(2),
        Conv2D(3, 4, (2, 3), stride=(1, 2), padding=(1, 0), rng=rng),
        Tanh(),
        AvgPool2D((2, 1), stride=1),
        Flatten(),
        Dropout(0.3, rng=rng),
        Dense(4 * 3 * 1, 5, rng=rng),
        Sigmoid(),
        Dense(5, 3, rng=rng),
    )
    x = rng.standard_normal((3, 2, 6, 6))
    report = sn.gradcheck(model, x, loss=SoftmaxCrossEntropy(), targets=np.array([0, 2, 1]))
    assert report.max_error < TOL, str(report)
    assert model.dtype == np.float32, "gradcheck must restore the model's float32 parameters"


def test_gradcheck_detects_a_wrong_gradient():
    """The checker itself must fail on a broken backward pass."""

    class BrokenReLU(ReLU):
        def backward(self, dout, *, need_dx=True):
            return super().backward(dout) * 1.01

    x = away_from_zero((3, 4), np.random.default_rng(0))
    assert sn.gradcheck(ReLU(), x).max_error < TOL
    assert sn.gradcheck(BrokenReLU(), x).max_error > 1e-3


def test_a_kink_crossed_by_the_step_is_measured_again():
    """ReLU input 3e-6 with L = sum(relu(x)): the step h = 1e-5 crosses zero, so the central difference
    there is (relu(1.3e-5) - relu(-7e-6)) / 2e-5 = 0.65 instead of ReLU's slope 1. The step h/10 = 1e-6
    does not cross: measured again, it agrees exactly. A backward pass 1% off is still caught there."""
    x, ones = np.array([[3e-6, -0.7, 1.2]]), np.ones((1, 3))
    assert abs(central_differences(lambda: float(np.maximum(x, 0).sum()), x, 1e-5)[0, 0] - 0.65) < 1e-9
    report = sn.gradcheck(ReLU(), x, dout=ones)
    assert report.max_error < 1e-9 and report.kinks == {"input": 0}, str(report)
    assert report.checked == {"input": 3}

    class BrokenReLU(ReLU):
        def backward(self, dout, *, need_dx=True):
            return super().backward(dout) * 1.01

    assert abs(sn.gradcheck(BrokenReLU(), x, dout=ones).max_error - 0.01 / 1.01) < 1e-6


def test_a_kink_at_the_point_itself_is_counted_not_compared():
    """ReLU input exactly 0: one-sided derivatives 1 (right) and 0 (left). ReLU's backward gives 0, a
    valid subgradient: counted as a kink and left out of the error; the other two entries are compared.
    A backward pass giving 3 there (outside [0, 1]) is an error, not a kink."""
    x, ones = np.array([[0.0, -0.7, 1.2]]), np.ones((1, 3))
    report = sn.gradcheck(ReLU(), x, dout=ones)
    assert report.kinks == {"input": 1} and report.checked == {"input": 2} and report.max_error < 1e-9
    assert str(report).splitlines()[0].endswith("at kinks") and str(report).split()[-1] == "1"

    class WrongAtZero(ReLU):
        def forward(self, x):
            self.seen = x
            return super().forward(x)

        def backward(self, dout, *, need_dx=True):
            return super().backward(dout) + 3.0 * dout * (self.seen == 0)

    report = sn.gradcheck(WrongAtZero(), x, dout=ones)
    assert report.kinks == {"input": 0} and abs(report.max_error - 2.5 / 3) < 1e-6, str(report)


def test_zero_gradients_are_zero():
    """A bias in front of batch norm and BN over 2 values: the true gradient is (almost) zero."""
    rng = np.random.default_rng(3)
    model = sn.Sequential(Conv2D(1, 2, 2, rng=rng), BatchNorm2D(2))
    report = sn.gradcheck(model, rng.standard_normal((2, 1, 3, 3)))
    assert report.abs_errors["0.b"] < 1e-9
    assert model[0].grads == {}, "gradcheck clears the gradients it produced"
    bn = BatchNorm2D(1)
    report = sn.gradcheck(bn, np.array([[[[3.7, 2.3]]]]))
    assert report.abs_errors["input"] < 1e-9


def test_fused_model_gradients():
    model = sn.fuse(sn.Sequential(Conv2D(2, 3, 3, padding=1, rng=0), ReLU(), MaxPool2D(2), Flatten(),
                                  Dense(3 * 3 * 3, 2, rng=1)))  # fmt: skip
    assert type(model[0]).__name__ == "ConvPool2D"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 6, 7)) + np.linspace(0, 3, 42).reshape(6, 7)  # no ties
    report = sn.gradcheck(model, x, loss=SoftmaxCrossEntropy(), targets=np.array([0, 1]))
    assert report.max_error < TOL, str(report)


def test_channels_last_input_is_perturbed_in_place():
    """gradcheck perturbs the very array the module reads, whatever its memory layout."""
    x = np.ascontiguousarray(np.random.default_rng(7).standard_normal((2, 3, 4, 5)).transpose(0, 2, 3, 1))
    report = sn.gradcheck(Tanh(), x.transpose(0, 3, 1, 2))
    assert report.max_error < TOL, str(report)
