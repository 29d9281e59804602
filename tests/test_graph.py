"""Graph models and what a PyTorch user reaches for (issue 27): a graph through every bookkeeping
path, the zoo's ResNet-20 against its PyTorch twin, frozen layers, gradient accumulation, the
global seed, optimizers given a model, schedulers that step an optimizer, a Trainer given any
model and any optimizer. The op-table entries of the merges and graphs are in ``graph_samples.py``."""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from real_data import needs

import scratchnet as sn
from scratchnet import zoo
from scratchnet.graph import Graph, Input
from scratchnet.layers import Add, BatchNorm2D, Concat, Conv2D, Dense, Dropout, Flatten, ReLU, Tanh
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import SGD, Adam
from scratchnet.schedules import LRScheduler, Schedule
from scratchnet.train import TrainConfig, Trainer, TrainingInterrupted, load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from torch_mirror import graph_twin


def small_graph(rng: int = 0) -> Graph:
    """A branch, a merge and a shared layer: enough to reach every bookkeeping path."""
    gen = np.random.default_rng(rng)
    x = Input((2, 6, 6), "image")
    a = ReLU()(BatchNorm2D(3)(Conv2D(2, 3, 3, padding=1, rng=gen)(x)))
    b = Conv2D(2, 3, 1, rng=gen)(x)
    h = Concat()(Add()(a, b), a)
    shared = Dense(6 * 36, 6 * 36, rng=gen)
    f = shared(Tanh()(shared(Flatten()(h))))
    return Graph(x, Dense(6 * 36, 4, rng=gen)(Dropout(0.2, rng=gen)(f)))


def test_a_graph_goes_through_every_bookkeeping_path(tmp_path):
    model = small_graph()
    names = [p.name for p in model.parameters()]
    assert len(names) == len(set(names)) == 10 and "layers.7.W" in names  # the shared Dense: once
    x = np.random.default_rng(1).standard_normal((5, 2, 6, 6)).astype(np.float32)
    model.eval()
    y = model.forward(x)
    model.save(tmp_path / "g.npz")
    other = small_graph(rng=9).load(tmp_path / "g.npz").eval()
    np.testing.assert_array_equal(other.forward(x), y)
    in_float64 = copy.deepcopy(model).astype(np.float64).forward(x.astype(np.float64))
    np.testing.assert_allclose(in_float64, y, rtol=1e-5, atol=1e-6)
    text = model.summary(print_fn=None)
    assert "Add()  <- " in text and "(again: shared)" in text and f"{model.num_parameters():,}" in text
    assert model.plot((2, 6, 6), tmp_path / "g.png").stat().st_size > 0
    assert model.output_shape((2, 6, 6)) == (4,)
    fused = sn.fuse(model)
    np.testing.assert_allclose(fused.eval().forward(x), y, rtol=1e-5, atol=1e-6)


def test_a_graph_trains_in_shards_and_resumes_from_its_checkpoint(tmp_path):
    """The Trainer with two data-parallel shards and a checkpoint: a run cut after its first
    epoch and resumed ends with the weights of the run that was not cut."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((96, 2, 6, 6)).astype(np.float32), rng.integers(0, 4, 96)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, shards=2, val_size=0, schedule="cosine")
    whole = Trainer(small_graph(), cfg, checkpoint_path=tmp_path / "a.npz", progress=False, log=None)
    whole.fit(x, y, x[:0], y[:0])
    first = Trainer(small_graph(), cfg, checkpoint_path=tmp_path / "b.npz", progress=False, log=None)
    real_step = first.train_step

    def step_then_stop(*args):
        out = real_step(*args)
        if first.iteration == 8:  # in the second epoch (6 batches per epoch), as Ctrl-C would
            first.request_stop()
        return out

    first.train_step = step_then_stop
    with pytest.raises(TrainingInterrupted):
        first.fit(x, y, x[:0], y[:0])
    resumed = Trainer(small_graph(rng=5), cfg, checkpoint_path=tmp_path / "b.npz", progress=False, log=None)
    resumed.load_state_dict(load_checkpoint(tmp_path / "b.npz")[0])
    resumed.fit(x, y, x[:0], y[:0])
    for p, q in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value, err_msg=p.name)


def test_graph_errors_name_what_is_wrong():
    a, b = Input((3,), "a"), Input((4,), "b")
    with pytest.raises(ValueError, match=r"depend on inputs not given to Graph\(...\): \['b'\]"):
        Graph(a, Add()(Dense(3, 2)(a), Dense(4, 2)(b)))
    with pytest.raises(ValueError, match=r"the inputs \['b'\] reach no output"):
        Graph([a, b], Dense(3, 2)(a))
    g = Graph(a, Dense(3, 2)(a))
    with pytest.raises(ValueError, match=r"'a' expects samples of shape \(3,\), got a batch of shape \(2, 4\)"):
        g.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Add: the inputs have shapes \(N, 2\), \(N, 5\)"):
        Graph(a, Add()(Dense(3, 2)(a), Dense(3, 5)(a))).summary()
    with pytest.raises(TypeError, match="a mix of graph values and arrays"):
        Add()(a, np.zeros((1, 3)))


# --- ResNet-20 -----------------------------------------------------------------------------------
def test_resnet20_is_he_et_al_s_and_matches_its_pytorch_twin():
    torch = pytest.importorskip("torch")
    model = zoo.build("resnet20", rng=0)
    assert model.num_parameters() == 272_474  # 0.27 M: the paper's 0.27 M plus the two projections
    convs = [m for m in model.layers if isinstance(m, Conv2D) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 20  # 19 convolutions of 3x3 and the dense layer: 6n + 2 = 20 layers
    model.astype(np.float64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 3, 32, 32))
    y = model.forward(x)
    dout = rng.standard_normal(y.shape)
    dx = model.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    twin, pt = graph_twin(model)  # the graph's calls written out in torch.nn.functional (bench/)
    yt = twin(xt)
    yt.backward(torch.tensor(dout))
    rel = lambda a, b: float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))  # noqa: E731
    assert rel(y, yt.detach().numpy()) < 1e-10
    assert rel(dx, xt.grad.numpy()) < 1e-9
    worst = max(rel(p.grad, pt[p.name].grad.numpy()) for p in model.parameters())
    assert worst < 1e-8, worst


def test_a_small_resnet_s_gradient_is_its_finite_differences():
    model = zoo.build("resnet20", in_shape=(2, 8, 8), widths=(2, 3, 4), blocks=1, rng=0)
    report = sn.gradcheck(model, np.random.default_rng(2).standard_normal((2, 2, 8, 8)), max_entries=6)
    assert len(report.errors) == len(model.parameters()) + 1
    bad = {k: e for k, e in report.errors.items() if e > 1e-6 and report.abs_errors[k] > 1e-9}
    assert not bad, str(report)


# --- frozen layers ---------------------------------------------------------------------------------
def test_a_frozen_layer_gets_no_gradient_and_no_update_and_passes_the_gradient_on():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    model = sn.Sequential(Conv2D(2, 3, 3, padding=1, rng=rng), ReLU(), Flatten(), Dense(3 * 25, 4, rng=rng))
    model.astype(np.float64)
    model.layers[0].freeze()
    x = rng.standard_normal((2, 2, 5, 5))
    dout = rng.standard_normal((2, 4))
    model.forward(x)
    dx = model.backward(dout)
    assert model.layers[0].grads == {} and set(model.layers[3].grads) == {"W", "b"}
    W, b = (torch.tensor(model.layers[0].params[k]) for k in ("W", "b"))  # frozen: no grad in torch
    Wd, bd = (torch.tensor(model.layers[3].params[k], requires_grad=True) for k in ("W", "b"))
    xt = torch.tensor(x, requires_grad=True)
    hidden = torch.relu(torch.nn.functional.conv2d(xt, W, b, padding=1)).flatten(1)
    out = torch.nn.functional.linear(hidden, Wd.T, bd)
    out.backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.layers[3].grads["W"], Wd.grad.numpy(), rtol=1e-10, atol=1e-12)
    before = {p.name: p.value.copy() for p in model.parameters()}
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.step()
    assert all(np.array_equal(p.value, before[p.name]) == p.name.startswith("0.") for p in model.parameters())
    model.unfreeze()
    model.forward(x)
    model.backward(dout)
    assert set(model.layers[0].grads) == {"W", "b"}


# --- gradient accumulation ----------------------------------------------------------------------------
def test_three_micro_batches_accumulate_to_the_gradient_of_their_union():
    rng = np.random.default_rng(0)
    model = sn.Sequential(Dense(5, 7, rng=rng), Tanh(), Dense(7, 3, rng=rng)).astype(np.float64)
    x, y = rng.standard_normal((12, 5)), rng.integers(0, 3, 12)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    whole = {p.name: p.grad.copy() for p in model.parameters()}
    for m in model.modules():
        m.grads.clear()
    with sn.accumulate_gradients():
        for part in np.array_split(np.arange(12), 3):
            loss.forward(model.forward(x[part]), y[part])
            model.backward(loss.backward() * (len(part) / 12))
    for p in model.parameters():
        np.testing.assert_allclose(p.grad, whole[p.name], rtol=1e-12, atol=1e-14, err_msg=p.name)
    loss.forward(model.forward(x[:4]), y[:4])  # outside the context: one pass, one gradient again
    model.backward(loss.backward())
    assert not np.allclose(model.parameters()[0].grad, whole["0.W"])


@pytest.mark.parametrize("shards", [1, 2])
def test_the_trainer_s_accumulation_takes_the_step_of_the_whole_batch(shards):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 6)).astype(np.float64), rng.integers(0, 3, 64)

    def run(accumulate: int) -> list[np.ndarray]:
        model = sn.Sequential(Dense(6, 8, rng=1), Tanh(), Dense(8, 3, rng=2)).astype(np.float64)
        cfg = TrainConfig(epochs=2, batch_size=32, lr=0.1, shards=shards, val_size=0, accumulate=accumulate)
        Trainer(model, cfg, progress=False, log=None).fit(x, y, x[:0], y[:0])
        return [p.value for p in model.parameters()]

    for a, b in zip(run(1), run(3), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# --- seeds, optimizers, schedulers, the trainer ------------------------------------------------------
def test_scratchnet_seed_reaches_initialisation_and_dropout():
    try:
        sn.seed(7)
        a = zoo.build("mnist-cnn")
        np.random.seed(123)  # the global generator is not what the layers use  # noqa: NPY002
        sn.seed(7)
        b = zoo.build("mnist-cnn")
        sn.seed(8)
        c = zoo.build("mnist-cnn")
    finally:
        sn.seed(None)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert np.array_equal(p.value, q.value)
    pairs = zip(a.parameters(), c.parameters(), strict=True)
    assert not all(np.array_equal(p.value, r.value) for p, r in pairs), "another seed, other weights"
    masks = [m.rng.integers(1 << 30) for m in (a, b) for m in m.modules() if isinstance(m, Dropout)]
    assert masks[: len(masks) // 2] == masks[len(masks) // 2 :]


def test_optimizers_take_a_model_and_refuse_what_is_not_its_parameters():
    model = sn.Sequential(Dense(3, 2, rng=0))
    assert len(SGD(model, lr=0.1).params) == 2
    with pytest.raises(TypeError, match=r"expected a model or its parameters\(\).*got an item of type Dense"):
        SGD(list(model), lr=0.1)


def test_the_scheduler_steps_the_optimizer_as_pytorch_s_cosine_annealing():
    torch = pytest.importorskip("torch")
    opt = SGD(sn.Sequential(Dense(3, 2, rng=0)), lr=0.1)
    sched = LRScheduler(opt, "cosine", total=10)
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    t_sched = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=10)
    for _ in range(10):
        assert math.isclose(opt.lr, t_opt.param_groups[0]["lr"], rel_tol=1e-12, abs_tol=1e-15)
        t_opt.step()
        sched.step()
        t_sched.step()
    assert sched.schedule == Schedule("cosine", total=10)


def test_the_trainer_takes_a_graph_and_an_optimizer_of_one_s_own():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 2, 6, 6)).astype(np.float32)
    y = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.int64)  # learnable: the sign of the first channel's mean
    model = small_graph()
    opt = Adam(model, lr=3e-3)
    trainer = Trainer(model, TrainConfig(epochs=4, batch_size=32, val_size=0, shards=2, schedule="constant"),
                      optimizer=opt, progress=False, log=None)  # fmt: skip
    history = trainer.fit(x, y, x[:0], y[:0])
    assert trainer.optimizer is opt and opt.lr == 3e-3  # the schedule scales the optimizer's own rate
    losses = [e["train_loss"] for e in history.epochs]
    assert losses[-1] < 0.6 * losses[0]


@needs("cifar10")
def test_scratchnet_train_runs_resnet20_on_cifar10_and_evaluates_its_checkpoint(tmp_path, capsys):
    """The command line end to end with the graph model: a short run (1 epoch, 600 images), its
    checkpoint evaluated again from the folder: the same test accuracy."""
    import json

    from scratchnet.cli import main

    out = tmp_path / "run"
    code = main(["train", "--dataset", "cifar10", "--model", "resnet20", "--epochs", "1", "--limit", "600",
                 "--batch-size", "32", "--out", str(out), "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["model"] == "resnet20"
    assert main(["evaluate", str(out), "--json", "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_the_graph_example_of_the_docs_runs():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "composition.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "sn.Graph(" in b)
    namespace: dict = {}
    exec(compile(code, "docs/composition.md", "exec"), namespace)
    assert namespace["dx"].shape == (2, 3, 16, 16) and namespace["scores"].shape == (2, 10)
