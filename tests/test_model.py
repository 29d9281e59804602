"""Sequential: modes, parameters, state, dtype discipline, and that it actually learns."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import (
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


def reference_cnn(seed: int = 0) -> sn.Sequential:
    rng = np.random.default_rng(seed)
    return sn.Sequential(
        Conv2D(1, 32, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(3136, 128, rng=rng),
        ReLU(),
        Dense(128, 10, rng=rng),
    )


def test_reference_cnn_summary_matches_the_spec():
    """Numbers from docs/reference-cnn.md."""
    model = reference_cnn()
    text = model.summary((1, 28, 28), print_fn=None)
    assert model.num_parameters() == 421_642
    assert model.macs((1, 28, 28)) == 225_792 + 3_612_672 + 401_408 + 1_280
    assert model.output_shape((1, 28, 28)) == (10,)
    for expected in [
        "(32, 28, 28)",
        "(32, 14, 14)",
        "(64, 7, 7)",
        "(3136,)",
        "18,496",
        "401,536",
        "3,612,672",
        "total parameters: 421,642",
    ]:
        assert expected in text


def test_float32_end_to_end_has_no_float64():
    """No silent float64 anywhere in a float32 forward/backward/step."""
    model = sn.Sequential(
        Conv2D(1, 4, 3, padding=1),
        BatchNorm2D(4),
        LeakyReLU(),
        MaxPool2D(2),
        Conv2D(4, 4, 3),
        Tanh(),
        Flatten(),
        Dropout(0.5),
        Dense(4 * 5 * 5, 8),
        Sigmoid(),
        Dense(8, 3),
    )
    x = np.random.default_rng(0).standard_normal((5, 1, 14, 14)).astype(np.float32)
    outs = []
    h = x
    for layer in model:
        h = layer.forward(h)
        outs.append(h)
    loss = SoftmaxCrossEntropy()
    loss.forward(h, np.array([0, 1, 2, 0, 1]))
    g = loss.backward()
    assert g.dtype == np.float32
    for layer, out in zip(reversed(model.layers), reversed(outs), strict=True):
        assert out.dtype == np.float32, layer
        g = layer.backward(g)
        assert g.dtype == np.float32, layer
    opt = sn.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    opt.step()
    for p in model.parameters():
        assert p.value.dtype == np.float32 and p.grad.dtype == np.float32, p
    for layer in model.modules():
        for b in layer.buffers.values():
            assert b.dtype == np.float32


def test_grads_have_the_keys_and_shapes_of_params():
    model = reference_cnn()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.forward(x)
    model.backward(np.ones((2, 10), np.float32))
    for layer in model.modules():
        assert set(layer.grads) == set(layer.params)
        for k in layer.params:
            assert layer.grads[k].shape == layer.params[k].shape


def test_replacing_a_parameter_is_seen():
    layer = Dense(3, 2)
    x = np.ones((1, 3))
    layer.params["W"] = np.zeros((3, 2))
    layer.params["b"] = np.array([1.0, 2.0])
    np.testing.assert_array_equal(layer.forward(x), [[1.0, 2.0]])
    opt = sn.optim.SGD(layer.parameters(), lr=1.0)
    layer.params["W"] = np.ones((3, 2))  # replaced after the optimizer was built
    layer.backward(np.ones((1, 2)))
    opt.step()
    np.testing.assert_array_equal(layer.params["W"], np.zeros((3, 2)))


def test_need_dx_false_skips_input_gradient():
    model = reference_cnn()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.forward(x)
    g = np.ones((2, 10), np.float32)
    assert model.backward(g, need_dx=False) is None
    dw_skip = model[0].grads["W"].copy()
    model.forward(x)
    dx = model.backward(g)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(model[0].grads["W"], dw_skip)


def test_train_and_eval_modes():
    rng = np.random.default_rng(0)
    model = sn.Sequential(Conv2D(1, 2, 3, rng=rng), BatchNorm2D(2), Flatten(), Dropout(0.5, rng=1))
    x = rng.standard_normal((4, 1, 5, 5)).astype(np.float32)
    model.train()
    assert all(m.training for m in model.modules())
    y1, y2 = model.forward(x), model.forward(x)
    assert not np.array_equal(y1, y2), "dropout draws a new mask in training mode"
    assert np.mean(y1 == 0) > 0.2
    model.eval()
    assert not any(m.training for m in model.modules())
    e1, e2 = model.forward(x), model.forward(x)
    np.testing.assert_array_equal(e1, e2)
    bn = model[1]
    expected = (model[0].forward(x) - bn.buffers["running_mean"][None, :, None, None]) / np.sqrt(
        bn.buffers["running_var"][None, :, None, None] + bn.eps
    )
    np.testing.assert_allclose(e1, expected.reshape(4, -1), rtol=1e-5, atol=1e-6)


def test_dropout_statistics():
    x = np.ones((200, 500), np.float32)
    y = Dropout(0.3, rng=0).forward(x)
    assert abs(np.mean(y == 0) - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)}
    assert not Dropout(1.0).forward(x).any()


def test_state_dict_roundtrip(tmp_path):
    model = sn.Sequential(Conv2D(1, 2, 3, rng=0), BatchNorm2D(2), Flatten(), Dense(2 * 3 * 3, 4, rng=1))
    model.forward(np.random.default_rng(0).standard_normal((3, 1, 5, 5)).astype(np.float32))
    path = tmp_path / "model.npz"
    model.save(path)
    other = sn.Sequential(Conv2D(1, 2, 3, rng=5), BatchNorm2D(2), Flatten(), Dense(2 * 3 * 3, 4, rng=6))
    other.load(path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    assert "1.running_var" in model.state_dict()
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == set(model.state_dict())
    wrong = sn.Sequential(Conv2D(1, 3, 3), BatchNorm2D(3), Flatten(), Dense(27, 4))
    with pytest.raises(ValueError, match="saved shape"):
        wrong.load(path)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match=r"bad\.npz: not a readable \.npz"):
        sn.Sequential(Dense(1, 1)).load(path)


def test_float64_model_works():
    model = reference_cnn().astype(np.float64)
    y = model.forward(np.zeros((1, 1, 28, 28)))
    assert y.dtype == np.float64 and model.dtype == np.float64


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: sn.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: sn.optim.Adam(p, lr=3e-3),
    ],
)
def test_small_cnn_fits_a_fixed_batch(make_opt):
    """A real check that everything fits together: the training loss must collapse."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 32)
    model = sn.Sequential(
        Conv2D(1, 8, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(8 * 4 * 4, 32, rng=rng),
        ReLU(),
        Dense(32, 4, rng=rng),
    )
    loss_fn, opt = SoftmaxCrossEntropy(), make_opt(model.parameters())
    first = loss_fn.forward(model.forward(x), y)
    for _ in range(150):
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward(), need_dx=False)
        opt.step()
    assert loss < 0.05 * first
    assert (model.predict(x).argmax(1) == y).mean() == 1.0


def test_optimizer_state_roundtrip():
    layer = Dense(3, 2, rng=0)
    opt = sn.optim.Adam(layer.parameters(), lr=0.1)
    layer.forward(np.ones((1, 3), np.float32))
    layer.backward(np.ones((1, 2), np.float32))
    opt.step()
    state = opt.state_dict()
    assert {"t", "lr", "m.W", "v.W", "m.b", "v.b"} <= set(state)
    other = sn.optim.Adam(layer.parameters(), lr=0.5)
    other.load_state_dict(state)
    assert other.t == 1 and other.lr == 0.1
    np.testing.assert_array_equal(other.state["m"][0], opt.state["m"][0])
