"""The from-scratch CNN of the problem set 000 D hand-in (``notebooks/sources/scratch_cnn.py``)
against the library: each layer function passes ``scratchnet check`` on every case of its op (the
checker's expected results are the library's proven layers), its published checksums are the
library's, and its IDX reader gives the library's arrays."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from real_data import needs

from scratchnet.check import check_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))
from sources.scratch_cnn import CODE


@pytest.fixture(scope="module")
def scratch() -> dict:
    """The cells run as a notebook runs them: one namespace, in order."""
    namespace: dict = {}
    for source in CODE.values():
        exec(compile(source, "<scratch_cnn cell>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(("op", "forward", "backward"), [
    ("conv2d", "conv_forward", "conv_backward"),
    ("maxpool2d", "max_pool_forward", "max_pool_backward"),
    ("relu", "relu_forward", "relu_backward"),
    ("dense", "affine_forward", "affine_backward"),
    ("batchnorm", "batchnorm_forward", "batchnorm_backward"),
    ("softmax-ce", "softmax_loss", None),
])  # fmt: skip
def test_each_layer_of_the_hand_in_passes_the_checker(scratch, op, forward, backward):
    report = check_op(op, forward=scratch[forward], backward=scratch[backward] if backward else None,
                      verbose=False)  # fmt: skip
    assert report.passed, report.text()


def test_the_hand_ins_checksums_are_the_librarys(scratch):
    from scratchnet.data.sources import FASHION_MNIST

    assert scratch["FILES"] == {f.name: f.md5 for f in FASHION_MNIST.files.values()}
    assert scratch["CLASSES"] == FASHION_MNIST.classes
    assert scratch["MIRROR"] in FASHION_MNIST.mirrors


@needs("fashion-mnist")
def test_the_hand_ins_reader_gives_the_librarys_arrays(scratch):
    from scratchnet.data import load_dataset

    ds = load_dataset("fashion-mnist", progress=False)
    x_train, y_train, x_test, y_test = scratch["load_fashion_mnist"]()
    assert x_train.shape == (60000, 1, 28, 28) and x_train.dtype == np.float32
    np.testing.assert_array_equal((x_test * 255).round().astype(np.uint8), ds.x_test.reshape(x_test.shape))
    np.testing.assert_array_equal(y_train, ds.y_train)
    np.testing.assert_array_equal(y_test, ds.y_test)


def test_the_whole_networks_backward_is_its_gradient(scratch):
    """The hand-in's forward/backward of the whole network (batch norm in training mode: the batch's
    statistics are part of the function) against central differences, float64."""
    rng = np.random.default_rng(0)
    small = scratch["init_params"](rng, channels=(3, 4), hidden=5)
    params = {k: (v + rng.standard_normal(v.shape) * 0.1 if k.startswith(("gamma", "beta", "b")) else v)
              .astype(np.float64) for k, v in small.items()}  # fmt: skip
    x, y = rng.standard_normal((2, 1, 28, 28)), np.array([3, 7])
    bn_params = [{"mode": "train"}, {"mode": "train"}]

    def loss() -> float:
        return float(scratch["softmax_loss"](scratch["forward"](params, x, bn_params)[0], y)[0])

    scores, caches = scratch["forward"](params, x, bn_params)
    grads = scratch["backward"](scratch["softmax_loss"](scores, y)[1], caches)
    assert set(grads) == set(params)
    for name, w in params.items():
        for idx in [tuple(rng.integers(0, n) for n in w.shape) for _ in range(3)]:
            old = w[idx]
            w[idx] = old + 1e-6
            up = loss()
            w[idx] = old - 1e-6
            down = loss()
            w[idx] = old
            assert abs((up - down) / 2e-6 - grads[name][idx]) < 1e-6 * max(1.0, abs(grads[name][idx])), name


def test_the_batch_norm_keeps_running_averages_and_uses_them_in_test_mode(scratch):
    """Known answer: momentum 0.9 from the first batch's statistics; test mode normalises with them."""
    bn_param = {"mode": "train"}
    x = np.array([[1.0, 10.0], [3.0, 10.0]])  # means (2, 10), variances (1, 0)
    scratch["batchnorm_forward"](x, np.ones(2), np.zeros(2), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [2.0, 10.0])
    scratch["batchnorm_forward"](x + 10, np.ones(2), np.zeros(2), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [0.9 * 2 + 0.1 * 12, 0.9 * 10 + 0.1 * 20])
    np.testing.assert_allclose(bn_param["running_var"], [1.0, 0.0])
    out, _ = scratch["batchnorm_forward"](x, np.ones(2) * 2, np.ones(2), dict(bn_param, mode="test"))
    np.testing.assert_allclose(out[:, 0], 2 * (x[:, 0] - 3.0) / np.sqrt(1 + 1e-5) + 1)


def test_training_lowers_the_loss_on_a_learnable_task(scratch):
    """Two classes told apart by the brightness of the image's top half: a few steps must learn it."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 512)
    x = rng.random((512, 1, 28, 28), dtype=np.float32) * 0.5
    x[:, :, :14] += 0.5 * y[:, None, None, None]
    params, bn_params, losses = scratch["train"](x, y, epochs=2, lr=0.02, batch=64)
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    assert np.mean(scratch["predict"](params, bn_params, x).argmax(1) == y) > 0.9
