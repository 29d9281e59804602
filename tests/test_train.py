"""The training loop: learning, schedules, early stopping, divergence, Ctrl-C and exact resume."""

from __future__ import annotations

import math
import signal

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.callbacks import Callback
from scratchnet.data import Normalizer
from scratchnet.io import load_npz, save_npz
from scratchnet.layers import BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from scratchnet.schedules import Schedule
from scratchnet.train import (
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainingInterrupted,
    load_checkpoint,
)


def toy_data(n: int = 192, seed: int = 0):
    """Two-class images: a bright square top-left (class 0) or bottom-right (class 1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 1, 8, 8)).astype(np.uint8)
    for i in range(n):
        r = slice(0, 4) if y[i] == 0 else slice(4, 8)
        x[i, 0, r, r] += 150
    return x, y


def toy_model(seed: int = 0) -> sn.Sequential:
    rng = np.random.default_rng(seed)
    return sn.Sequential(
        Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2), BatchNorm2D(4), Flatten(),
        Dropout(0.2, rng=rng.integers(2**32)), Dense(64, 2, rng=rng),
    )  # fmt: skip


def make_trainer(tmp_path, cfg: TrainConfig, seed: int = 0, **kw) -> Trainer:
    x, _ = toy_data()
    return Trainer(toy_model(seed), cfg, Normalizer.fit(x), checkpoint_path=tmp_path / "ckpt.npz",
                   progress=False, log=None, **kw)  # fmt: skip


CFG = dict(epochs=3, batch_size=32, lr=0.05, val_size=0, crop_padding=1, flip=True, schedule="onecycle")


def split():
    x, y = toy_data()
    return x[:160], y[:160], x[160:], y[160:]


def test_learns_and_records_history(tmp_path):
    trainer = make_trainer(tmp_path, TrainConfig(**CFG))
    hist = trainer.fit(*split())
    assert len(hist.iterations["loss"]) == 3 * 5 and hist.iterations["iteration"] == list(range(15))
    assert [e["epoch"] for e in hist.epochs] == [1, 2, 3]
    assert hist.epochs[-1]["val_accuracy"] >= 0.9
    assert hist.iterations["loss"][-1] < hist.iterations["loss"][0]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(hist.epochs[0])
    assert (tmp_path / "ckpt.npz").exists()
    csv = hist.to_csv().splitlines()
    assert csv[0] == "epoch,iteration,loss,accuracy,lr" and len(csv) == 16


def _params(trainer: Trainer) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("shards", [1, 2])
def test_resume_reproduces_an_uninterrupted_run(tmp_path, shards):
    """Stop mid-epoch (as Ctrl-C does), resume from the checkpoint in a fresh trainer: the final
    weights, optimizer state and history equal those of a run that was never interrupted (also
    with data-parallel shards, whose dropout generators are drawn from the checkpointed ones)."""
    cfg = TrainConfig(**{**CFG, "shards": shards})
    straight = make_trainer(tmp_path / "a", cfg)
    straight.fit(*split())

    first = make_trainer(tmp_path / "b", cfg)
    real_step = first.train_step

    def step_then_stop(*args):
        out = real_step(*args)
        if first.iteration == 6:  # during epoch 2 (5 batches per epoch)
            first.request_stop()
        return out

    first.train_step = step_then_stop
    with pytest.raises(TrainingInterrupted) as info:
        first.fit(*split())
    assert info.value.checkpoint == tmp_path / "b" / "ckpt.npz"
    arrays, meta = load_checkpoint(info.value.checkpoint)
    assert (meta["epoch"], meta["batch"], meta["iteration"]) == (1, 2, 7)

    resumed = make_trainer(tmp_path / "b", cfg, seed=99)  # different init: overwritten
    resumed.load_state_dict(arrays)
    resumed.fit(*split())
    for k, v in _params(straight).items():
        np.testing.assert_array_equal(_params(resumed)[k], v, err_msg=k)
    assert resumed.history.iterations == straight.history.iterations
    for a, b in zip(resumed.optimizer.state["velocity"], straight.optimizer.state["velocity"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_saves_a_checkpoint(tmp_path):
    """A real SIGINT during training: the current step finishes, a checkpoint is written."""
    trainer = make_trainer(tmp_path, TrainConfig(**CFG))
    real_step = trainer.train_step

    def step(*args):
        out = real_step(*args)
        if trainer.iteration == 2:  # the third step (iterations already taken: 0, 1)
            signal.raise_signal(signal.SIGINT)  # delivered to the handler fit installed
        return out

    trainer.train_step = step
    with pytest.raises(TrainingInterrupted):
        trainer.fit(*split())
    _, meta = load_checkpoint(tmp_path / "ckpt.npz")
    assert meta["iteration"] == 3  # the step in progress completed, no further step started
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_nan_loss_stops_with_advice(tmp_path):
    trainer = make_trainer(tmp_path, TrainConfig(**{**CFG, "lr": 1e30, "schedule": "constant"}))
    with pytest.raises(
        TrainingDiverged, match=r"became (nan|inf).*Try a smaller learning rate, e\.g\. --lr 1e\+29"
    ):
        trainer.fit(*split())


def test_early_stopping_keeps_the_best_model(tmp_path):
    x, y = toy_data()
    cfg = TrainConfig(**{**CFG, "epochs": 30, "patience": 2, "lr": 0.05, "schedule": "constant"})
    best_states = {}

    class Record(Callback):
        def on_epoch_end(self, trainer, logs):
            best_states[logs["epoch"]] = _params(trainer)

    trainer = make_trainer(tmp_path, cfg, callbacks=[Record()])
    hist = trainer.fit(x[:160], y[:160], x[160:], y[160:])
    assert trainer.stopped_early and len(hist.epochs) < 30
    best_epoch = trainer.best["epoch"]
    assert len(hist.epochs) - best_epoch == 2
    for k, v in best_states[best_epoch].items():
        np.testing.assert_array_equal(trainer.model.state_dict()[k], v)


def test_schedules():
    s = Schedule("onecycle", total=100, pct=0.25, div=25, div_final=1e3)
    assert s.factor(0) == pytest.approx(1 / 25) and s.factor(25) == pytest.approx(1.0)
    assert s.factor(100) == pytest.approx(1e-3) and s.factor(60) < s.factor(40) < 1
    c = Schedule("cosine", total=10)
    assert c.factor(0) == 1.0 and c.factor(5) == pytest.approx(0.5) and c.factor(10) == pytest.approx(0)
    st = Schedule("step", total=100, iters_per_epoch=10, step_epochs=3, gamma=0.5)
    assert [st.factor(i * 10) for i in (0, 2, 3, 6)] == [1.0, 1.0, 0.5, 0.25]
    w = Schedule("constant", total=100, warmup=4)
    assert [w.factor(i) for i in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("exponential")


def test_config_validation():
    with pytest.raises(ValueError, match="learning rate"):
        TrainConfig(lr=math.nan)
    with pytest.raises(ValueError, match="unknown optimizer"):
        TrainConfig(optimizer="lbfgs")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_npz(path, {"a": np.arange(3)})

    def broken_savez(f, **arrays):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        save_npz(path, {"a": np.arange(5)})
    monkeypatch.undo()
    np.testing.assert_array_equal(load_npz(path)["a"], np.arange(3))  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left


def test_checkpoints_refuse_pickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    pickled = r"not a readable \.npz file of arrays: it holds pickled Python objects, which scratchnet never"
    with pytest.raises(ValueError, match=pickled + r" writes and never loads") as err:
        load_checkpoint(path)
    assert "allow_pickle" not in str(err.value), "no advice to load it unsafely"


@pytest.mark.parametrize("content", [b"this is not a zip file", b"PK\x03\x04 a truncated zip", b""])
def test_a_corrupt_checkpoint_says_so(tmp_path, content):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(content)
    corrupt = r"checkpoint\.npz: not a readable \.npz file of arrays: it is truncated, corrupt or another kind"
    with pytest.raises(ValueError, match=corrupt + r" of file.*not a usable scratchnet checkpoint") as err:
        load_checkpoint(path)
    assert "allow_pickle" not in str(err.value)


@pytest.mark.parametrize("loss", ["cross-entropy", "hinge", "bce", "mse"])
def test_the_trainer_takes_any_loss_of_the_registry(tmp_path, loss):
    """Each loss trains the toy classifier (one-vs-rest one-hot targets for bce and mse) and
    reports an accuracy; label smoothing belongs to cross-entropy only."""
    trainer = make_trainer(tmp_path, TrainConfig(**{**CFG, "epochs": 4, "loss": loss}))
    x_tr, y_tr, x_val, y_val = split()
    history = trainer.fit(x_tr, y_tr, x_val, y_val)
    assert history.epochs[-1]["val_accuracy"] > 0.9, (loss, history.epochs[-1])
    assert trainer.evaluate(x_val, y_val)["predictions"].shape == y_val.shape
    if loss != "cross-entropy":
        smoothing = f"label smoothing applies to the cross-entropy loss, not to {loss}$"
        with pytest.raises(ValueError, match=smoothing):
            TrainConfig(loss=loss, label_smoothing=0.1)


def test_a_sigmoid_output_with_mse_and_a_regression(tmp_path):
    """One output per sample: a sigmoid trained with squared error (the course's BCE-vs-MSE
    setting, threshold 0.5) is a classifier; float targets make a regression, judged by its loss
    alone, and early stopping follows the validation loss."""
    x, y = toy_data()
    net = sn.Sequential(Flatten(), Dense(64, 1, rng=0), sn.layers.Sigmoid())
    cfg = TrainConfig(epochs=6, batch_size=32, lr=0.5, val_size=0, momentum=0.0, nesterov=False,
                      weight_decay=0.0, schedule="constant", loss="mse")  # fmt: skip
    trainer = Trainer(net, cfg, Normalizer.fit(x), progress=False, log=None)
    trainer.fit(x[:160], y[:160], x[160:], y[160:])
    assert trainer.evaluate(x[160:], y[160:])["accuracy"] > 0.9

    rng = np.random.default_rng(0)
    xr = rng.standard_normal((200, 3)).astype(np.float32)
    yr = (xr @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    reg_cfg = TrainConfig(epochs=8, batch_size=20, lr=0.05, val_size=0, schedule="constant", weight_decay=0.0,
                          loss="mse", patience=3)  # fmt: skip
    reg = Trainer(sn.Sequential(Dense(3, 1, rng=0)), reg_cfg, progress=False, log=None)
    history = reg.fit(xr[:160], yr[:160], xr[160:], yr[160:])
    final = reg.evaluate(xr[160:], yr[160:])
    assert final["predictions"] is None and math.isnan(final["accuracy"]) and final["loss"] < 0.01
    assert reg.best["epoch"] >= 1 and history.epochs[-1]["val_loss"] < history.epochs[0]["val_loss"]


def test_a_loss_object_can_be_handed_to_the_trainer(tmp_path):
    trainer = make_trainer(tmp_path, TrainConfig(**CFG), loss=sn.losses.MulticlassHinge(margin=0.5))
    x_tr, y_tr, x_val, y_val = split()
    trainer.fit(x_tr, y_tr, x_val, y_val)
    assert trainer.loss_fn.margin == 0.5 and trainer.history.epochs[-1]["val_accuracy"] > 0.9
