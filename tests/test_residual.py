"""``Residual``: the skip path's gradient is added to the block's, and everything that walks a
model (save/load, fuse, DataParallel, summary, plot, parameters) sees through it."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.data_parallel import DataParallel
from scratchnet.layers import BatchNorm2D, Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU, Residual
from scratchnet.losses import SoftmaxCrossEntropy


def small_resnet(rng: int = 0, bn: bool = True) -> sn.Sequential:
    norm = [BatchNorm2D(4)] if bn else []
    block = sn.Sequential(Conv2D(4, 4, 3, padding=1, bias=False, rng=rng), *norm, ReLU(),
                          Conv2D(4, 4, 3, padding=1, rng=rng + 1))  # fmt: skip
    return sn.Sequential(Conv2D(1, 4, 3, padding=1, rng=rng + 2), MaxPool2D(2), ReLU(), Residual(block),
                         GlobalAvgPool2D(), Dense(4, 3, rng=rng + 3))  # fmt: skip


def test_forward_is_x_plus_block_and_backward_adds_the_skip_path():
    rng = np.random.default_rng(0)
    block = Dense(5, 5, rng=1).astype(np.float64)
    res = Residual(block)
    x = rng.standard_normal((3, 5))
    y = res.forward(x)
    np.testing.assert_allclose(y, x + x @ block.params["W"] + block.params["b"], rtol=1e-13)
    g = rng.standard_normal((3, 5))
    dx = res.backward(g)
    np.testing.assert_allclose(dx, g + g @ block.params["W"].T, rtol=1e-13)  # the identity's g + block's
    np.testing.assert_allclose(block.grads["W"], x.T @ g, rtol=1e-13)  # the block's own gradient
    report = sn.gradcheck(Residual(Dense(4, 4, rng=2).astype(np.float64)), rng.standard_normal((2, 4)))
    assert max(report.errors.values()) < 1e-7, str(report)


def test_a_block_that_changes_the_shape_is_refused():
    with pytest.raises(ValueError, match=r"maps \(N, 5\) to \(N, 3\) but x is \(N, 5\); y = x \+ block"):
        sn.Sequential(Residual(Dense(5, 3))).summary((5,), print_fn=None)


def test_models_save_load_fuse_and_shard_through_a_residual(tmp_path):
    model = small_resnet()
    names = [n for n, _ in model.named_modules()]
    assert names == ["", "0", "1", "2", "3", "3.block", "3.block.0", "3.block.1", "3.block.2", "3.block.3",
                     "4", "5"]  # the model, its layers, the residual, its block and the block's layers
    assert len(model.parameters()) == 2 + 1 + 2 + 2 + 2  # conv W,b; block conv W; bn; conv W,b; dense W,b
    model.save(tmp_path / "m.npz")
    other = small_resnet(rng=7).load(tmp_path / "m.npz")
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(model.eval().forward(x), other.eval().forward(x))

    fused = sn.fuse(model)  # the conv + pool pair outside fuses; the block inside is kept, shared
    assert type(fused[0]).__name__ == "ConvPool2D" and isinstance(fused[2], Residual)
    np.testing.assert_allclose(fused.eval().forward(x), model.eval().forward(x), rtol=1e-5, atol=1e-6)

    y = np.array([0, 1, 2, 1])
    results = []  # no batch statistics: 2 shards compute what one pass does
    for runner_of in (lambda m: m, lambda m: DataParallel(m, 2, threads=2)):
        m = small_resnet(bn=False).astype(np.float64)
        loss = SoftmaxCrossEntropy()
        runner = runner_of(m)
        loss.forward(runner.forward(x.astype(np.float64)), y)
        runner.backward(loss.backward())
        results.append({p.name: p.grad.copy() for p in m.parameters()})
    assert len(results[0]) == 7  # conv W,b; block conv W; block conv W,b; dense W,b
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_summary_and_plot_show_the_skip_path(tmp_path):
    model = small_resnet()
    text = model.summary((1, 8, 8), print_fn=None)
    assert "Residual: y = x + block(x), block:" in text and "+ x (the skip path joins)" in text
    assert f"total parameters: {model.num_parameters():,}" in text
    path = model.plot((1, 8, 8), tmp_path / "net.svg")
    svg = path.read_text()
    assert "Residual: y = x + block(x)" in svg and "skip path joins" in svg


def test_a_residual_network_learns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
    top_brighter = x[:, 0, :4].mean(axis=(1, 2)) > x[:, 0, 4:].mean(axis=(1, 2))
    y = top_brighter.astype(np.int64) + (x.mean((1, 2, 3)) > 0)
    model = small_resnet()
    loss_fn = SoftmaxCrossEntropy()
    opt = sn.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        losses.append(loss_fn.forward(model.forward(x), y))
        model.backward(loss_fn.backward())
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    _ = Flatten  # the head is GlobalAvgPool2D + Dense: no flatten needed
