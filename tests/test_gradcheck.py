"""Float64 finite-difference checks of every layer's and loss's gradients (hypothesis-driven)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import away_from_zero, distinct_values
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet.layers import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy

TOL = 1e-6  # float64 central differences (h = 1e-5) land around 1e-8 .. 1e-10; a bug gives > 1e-3
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, kh - 2 * ph), 6))
    W = draw(st.integers(max(1, kw - 2 * pw), 6))
    return dict(
        N=draw(st.integers(1, 2)),
        C=draw(st.sampled_from([1, 2, 3, 8, 9])),  # C >= 8: row-major im2col; C < 8: K-major
        Co=draw(st.integers(1, 3)),
        kernel=(kh, kw),
        stride=(sh, sw),
        padding=(ph, pw),
        H=H,
        W=W,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


@SETTINGS
@given(conv_cases())
def test_conv2d_gradients(case):
    rng = np.random.default_rng(case["seed"])
    layer = Conv2D(
        case["C"],
        case["Co"],
        case["kernel"],
        case["stride"],
        case["padding"],
        bias=case["bias"],
        rng=rng,
    )
    x = rng.standard_normal((case["N"], case["C"], case["H"], case["W"]))
    report = sn.gradcheck(layer, x, seed=case["seed"])
    assert set(report.errors) == {"input", "W"} | ({"b"} if case["bias"] else set())
    assert report.max_error < TOL, str(report)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    return dict(
        N=draw(st.integers(1, 2)),
        C=draw(st.integers(1, 3)),
        kernel=(kh, kw),
        stride=stride,
        H=draw(st.integers(kh, 9)),
        W=draw(st.integers(kw, 9)),
        seed=draw(st.integers(0, 2**16)),
    )


@pytest.mark.parametrize("Pool", [MaxPool2D, AvgPool2D])
@SETTINGS
@given(case=pool_cases())
def test_pool_gradients(Pool, case):
    rng = np.random.default_rng(case["seed"])
    x = distinct_values((case["N"], case["C"], case["H"], case["W"]), rng)
    report = sn.gradcheck(Pool(case["kernel"], case["stride"]), x, seed=case["seed"])
    assert report.max_error < TOL, str(report)


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh(), Flatten(), Identity()], ids=repr)
@SETTINGS
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 2**16))
def test_elementwise_and_shape_gradients(layer, shape, seed):
    x = away_from_zero(tuple(shape), np.random.default_rng(seed)) * 2
    report = sn.gradcheck(layer, x, seed=seed)
    assert report.max_error < TOL, str(report)


@SETTINGS
@given(
    N=st.integers(1, 4),
    D=st.integers(1, 8),
    K=st.integers(1, 6),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_dense_gradients(N, D, K, bias, seed):
    rng = np.random.default_rng(seed)
    report = sn.gradcheck(Dense(D, K, bias=bias, rng=rng), rng.standard_normal((N, D)), seed=seed)
    assert report.max_error < TOL, str(report)


@pytest.mark.parametrize("training", [True, False])
@SETTINGS
@given(
    N=st.integers(1, 3),
    C=st.integers(1, 3),
    H=st.integers(1, 4),
    W=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_batchnorm_gradients(training, N, C, H, W, seed):
    if training and N * H * W < 3:
        # With 2 values per channel x_hat = +-1 whatever x is: the true input gradient is
        # O(eps) and drowns in finite-difference round-off (checked separately below).
        return
    rng = np.random.default_rng(seed)
    bn = BatchNorm2D(C)
    bn.params["gamma"] = rng.uniform(0.5, 2.0, C)
    bn.params["beta"] = rng.standard_normal(C)
    bn.buffers["running_mean"] = rng.standard_normal(C)
    bn.buffers["running_var"] = rng.uniform(0.5, 2.0, C)
    bn.train(training)
    x = rng.standard_normal((N, C, H, W)) * 3 + 1
    report = sn.gradcheck(bn, x, seed=seed)
    assert report.max_error < TOL, str(report)


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    p=st.sampled_from([0.0, 0.2, 0.5, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_dropout_gradients_in_training(shape, p, seed):
    x = np.random.default_rng(seed).standard_normal(tuple(shape))
    report = sn.gradcheck(Dropout(p, rng=seed), x, seed=seed)
    assert report.max_error < TOL, str(report)


@SETTINGS
@given(
    N=st.integers(1, 6),
    C=st.integers(2, 7),
    scale=st.sampled_from([1.0, 10.0, 100.0]),
    smoothing=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**16),
)
def test_softmax_cross_entropy_gradients(N, C, scale, smoothing, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((N, C)) * scale
    labels = rng.integers(0, C, N)
    report = sn.gradcheck(Identity(), scores, loss=SoftmaxCrossEntropy(smoothing), targets=labels)
    assert report.max_error < TOL, str(report)


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    scale=st.sampled_from([1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_bce_and_mse_gradients(shape, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(tuple(shape)) * scale
    t = rng.uniform(0, 1, tuple(shape))
    for loss in (BinaryCrossEntropy(), MSE()):
        report = sn.gradcheck(Identity(), z, loss=loss, targets=t)
        assert report.max_error < TOL, f"{loss}: {report}"


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
