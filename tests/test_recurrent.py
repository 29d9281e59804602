"""Recurrent layers beyond the op table: stateful mode, gradient clipping, and that they learn."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import LSTM, RNN, Dense, Embedding
from scratchnet.losses import SoftmaxCrossEntropy


@pytest.mark.parametrize("Kind", [RNN, LSTM])
def test_stateful_layer_continues_the_sequence(Kind):
    """Two halves with the state carried give exactly the outputs of the whole sequence."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 10, 4))
    whole = Kind(4, 5, return_sequences=True, rng=1).astype(np.float64).forward(x)
    layer = Kind(4, 5, return_sequences=True, stateful=True, rng=1).astype(np.float64)
    halves = np.concatenate([layer.forward(x[:, :6]), layer.forward(x[:, 6:])], axis=1)
    np.testing.assert_allclose(halves, whole, rtol=1e-12, atol=1e-12)
    layer.reset_state()
    np.testing.assert_array_equal(layer.forward(x[:, :6]), whole[:, :6])
    assert layer.forward(x[:2, :6]).shape == (2, 6, 5), "another batch size starts afresh"


def test_initial_state_shape_is_checked():
    with pytest.raises(ValueError, match=r"LSTM\(4, 5\): initial state must be 2 array\(s\) of shape \(3, 5\)"):
        LSTM(4, 5).forward(np.zeros((3, 2, 4), np.float32), (np.zeros((3, 5)),))


def test_forget_gate_bias_starts_at_one():
    b = LSTM(3, 4).params["b"]
    assert b.shape == (16,) and np.all(b[4:8] == 1) and np.all(b[:4] == 0) and np.all(b[8:] == 0)


@pytest.mark.parametrize("clip", [0.5, 1e6])
def test_clipping_by_global_norm_matches_torch(clip):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    layer = Dense(5, 3, rng=rng).astype(np.float64)
    tparams = [torch.tensor(v.copy(), requires_grad=True) for v in layer.params.values()]
    opt = sn.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, clip_norm=clip)
    topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    for _ in range(3):
        grads = [rng.standard_normal(v.shape) * 3 for v in layer.params.values()]
        for (k, _), g, tp in zip(layer.params.items(), grads, tparams, strict=True):
            layer.grads[k] = g
            tp.grad = torch.tensor(g.copy())
        norm = torch.nn.utils.clip_grad_norm_(tparams, clip)
        opt.step()
        topt.step()
        assert opt.last_grad_norm == pytest.approx(float(norm), rel=1e-12)
        for v, tp in zip(layer.params.values(), tparams, strict=True):
            np.testing.assert_allclose(v, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_lstm_learns_to_remember_the_first_token():
    """Classify a sequence by its first id, seen 12 steps before the end: needs memory."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, (512, 12))
    y = x[:, 0]
    model = sn.Sequential(Embedding(4, 8, rng=0), LSTM(8, 16, rng=1), Dense(16, 4, rng=2))
    loss_fn = SoftmaxCrossEntropy()
    opt = sn.optim.Adam(model.parameters(), lr=0.02, clip_norm=5.0)
    for _ in range(60):
        for i in range(0, 512, 64):
            loss_fn.forward(model.forward(x[i : i + 64]), y[i : i + 64])
            model.backward(loss_fn.backward(), need_dx=False)
            opt.step()
    accuracy = np.mean(model.predict(x, 256).argmax(-1) == y)
    assert accuracy > 0.95, accuracy


@pytest.mark.parametrize("steps", [1, 6])
def test_the_lstm_gives_the_same_results_with_either_forward_operand(monkeypatch, steps):
    """From ``_TRANSPOSE_FROM_STEPS`` steps on the forward pass copies its weights to a row-major
    ``(4H, F)`` operand, below it multiplies by a transposed view: the same outputs, states and
    gradients either way (float64, to round-off), for one step (text generation) and several."""
    from scratchnet.ops import recurrent as rec

    rng = np.random.default_rng(7)
    N, D, H = 3, 4, 5
    x, h0, c0 = rng.standard_normal((N, steps, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    dhs, dcT = rng.standard_normal((N, steps, H)), rng.standard_normal((N, H))
    results = []
    for threshold in (1, steps + 1):  # the copy, then the view
        monkeypatch.setattr(rec, "_TRANSPOSE_FROM_STEPS", threshold)
        hs, cT, cache = rec.lstm_forward(x, h0, c0, Wx, Wh, b)
        results.append((hs.copy(), cT.copy(), *rec.lstm_backward(dhs, None, dcT, cache)))
    for a, g in zip(*results, strict=True):
        np.testing.assert_allclose(a, g, rtol=1e-12, atol=1e-12)


def test_an_lstm_without_input_gradient_gives_the_same_other_gradients():
    """``need_dx=False`` (the first layer of a network) gives no ``dx``, and the same weight,
    bias and state gradients (float64, to round-off)."""
    rng = np.random.default_rng(6)
    layer = LSTM(4, 5, return_sequences=True, rng=1).astype(np.float64)
    x, g = rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 6, 5))
    results = []
    for need_dx in (True, False):
        layer.forward(x)
        dx = layer.backward(g, need_dx=need_dx)
        assert (dx is None) == (not need_dx)
        results.append(({k: v.copy() for k, v in layer.grads.items()}, layer.state_grads))
    (g1, s1), (g2, s2) = results
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-13, atol=1e-14, err_msg=k)
    for a, b in zip(s1, s2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
