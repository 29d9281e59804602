"""The techniques of the CIFAR-10 speedruns, one by one: patch whitening, alternating flips,
shifted test-time augmentation, Lookahead, the linear schedule, the cifar-fast model."""

from __future__ import annotations

import numpy as np
import pytest
from test_train import CFG, make_trainer, split

import scratchnet as sn
from scratchnet import zoo
from scratchnet.data.transforms import alternating_flips, translate
from scratchnet.layers import Dense
from scratchnet.ops.naive import conv2d_naive
from scratchnet.optim import SGD, Lookahead
from scratchnet.schedules import Schedule
from scratchnet.train import TrainConfig
from scratchnet.whitening import patch_whitening, whiten_first_conv


def test_whitening_filters_decorrelate_the_patches():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3, 9, 9))
    x[:, 1] += 0.9 * x[:, 0]  # correlated channels, and a shifted copy: correlated neighbours
    x[:, 2, :, 1:] += 0.5 * x[:, 2, :, :-1]
    W, b = patch_whitening(x, 2, eps=0.0)
    assert W.shape == (24, 3, 2, 2)
    np.testing.assert_allclose(W[12:], -W[:12])  # each filter and its negative
    y = conv2d_naive(x, W, b).transpose(1, 0, 2, 3).reshape(24, -1)[:12]
    np.testing.assert_allclose(np.cov(y, bias=True), np.eye(12), atol=1e-9)  # white: identity covariance
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-9)  # and centred by the bias
    model = zoo.build("cifar-fast", rng=0)
    whiten_first_conv(model, x, eps=0.0)
    np.testing.assert_allclose(model[0].params["W"], W, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs 24 filters"):
        whiten_first_conv(sn.Sequential(sn.layers.Conv2D(3, 8, 2)), x)


def test_alternating_flips_mirror_each_image_every_other_epoch():
    e0, e1, e2 = (alternating_flips(1000, seed=3, epoch=e) for e in range(3))
    assert np.all(e0 != e1) and np.all(e0 == e2)  # the complement, then the same again
    assert 400 < e0.sum() < 600 and not np.array_equal(e0, alternating_flips(1000, seed=4, epoch=0))


def test_translate_shifts_with_edge_pixels():
    x = np.arange(16).reshape(1, 1, 4, 4)
    y = translate(x, 1, 1)  # content moves down-right by one pixel
    np.testing.assert_array_equal(y[0, 0, 1:, 1:], x[0, 0, :3, :3])
    np.testing.assert_array_equal(y[0, 0, 0], [0, 0, 1, 2])  # the edge repeated
    np.testing.assert_array_equal(translate(x, -1, -1)[0, 0, :3, :3], x[0, 0, 1:, 1:])


def test_lookahead_steps_the_slow_weights_toward_the_fast_ones():
    layer = Dense(2, 1, rng=0).astype(np.float64)
    model = sn.Sequential(layer)
    w0 = layer.params["W"].copy()
    opt = Lookahead(SGD(model.parameters(), lr=0.1), alpha=0.5, k=2)
    g = np.array([[1.0], [2.0]])
    for step in range(1, 5):
        layer.grads["W"], layer.grads["b"] = g, np.zeros(1)
        opt.step()
        if step == 2:  # two SGD steps of -0.1 g, then halfway back: w0 - 0.1 g
            np.testing.assert_allclose(layer.params["W"], w0 - 0.1 * g)
    np.testing.assert_allclose(layer.params["W"], w0 - 0.2 * g)
    opt.lr = 0.05
    assert opt.inner.lr == 0.05 and opt.t == 4
    state = opt.state_dict()
    assert "slow.0.W" in state
    again = Lookahead(SGD(model.parameters(), lr=0.1), alpha=0.5, k=2)
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.slow[0], opt.slow[0])


def test_linear_schedule_and_the_recipe_options(tmp_path):
    s = Schedule("linear", total=10)
    assert [round(s.factor(t), 2) for t in (0, 5, 10)] == [1.0, 0.5, 0.0]
    cfg = TrainConfig(**{**CFG, "flip": True, "alternate_flips": True, "lookahead": 0.5, "tta_shifts": 1,
                         "flip_tta": True, "schedule": "linear", "warmup_epochs": 0.5})  # fmt: skip
    trainer = make_trainer(tmp_path, cfg)
    assert isinstance(trainer.optimizer, Lookahead) and not trainer.augment.flip
    x_tr, y_tr, x_val, y_val = split()
    history = trainer.fit(x_tr, y_tr, x_val, y_val)
    assert history.epochs[-1]["val_accuracy"] > 0.9
    calls = []
    original = trainer.runner.predict
    trainer.runner.predict = lambda x, *a, **k: calls.append(x.shape) or original(x, *a, **k)
    trainer.predict(x_val)
    assert len(calls) == 6  # the image and its mirror, each as it is and shifted two ways
    resumed = make_trainer(tmp_path, cfg)
    resumed.load_state_dict(trainer.state_dict())  # Lookahead's slow weights are in the checkpoint
    np.testing.assert_array_equal(resumed.optimizer.slow[0], trainer.optimizer.slow[0])
    with pytest.raises(ValueError, match="lookahead must be in"):
        TrainConfig(lookahead=1.5)


def test_cifar_fast_shapes_and_options():
    model = zoo.build("cifar-fast", rng=0, widths=[16, 32, 32], act="relu")
    assert model.output_shape((3, 32, 32)) == (10,)
    text = model.summary((3, 32, 32), print_fn=None)
    assert "ConvPool2D(24, 16" in text and "(32, 3, 3)" in text
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32)
    assert model.forward(x).shape == (4, 10)
