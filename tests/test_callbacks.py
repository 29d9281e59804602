"""Callbacks: each part of a run around the steps has one job, and the trainer assumes no images."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from test_train import CFG, make_trainer, split

import scratchnet as sn
from scratchnet.callbacks import Callback, CSVLogger, JSONLogger, ProgressBar
from scratchnet.layers import Dense, ReLU
from scratchnet.train import TrainConfig, Trainer


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_hooks_run_in_order_with_the_record_filled_in(tmp_path):
    seen = []

    class Spy(Callback):
        def on_fit_begin(self, trainer):
            seen.append("fit")

        def on_epoch_begin(self, trainer):
            seen.append(f"begin {trainer.epoch}")

        def on_epoch_end(self, trainer, logs):
            # Evaluation ran before this callback; the position already points at the next epoch
            assert {"val_accuracy", "train_loss", "seconds"} <= set(logs) and "test_accuracy" not in logs
            assert trainer.epoch == logs["epoch"] and trainer.batch == 0
            seen.append(f"end {logs['epoch']}")

        def on_fit_end(self, trainer, completed):
            seen.append(f"done {completed}")

    trainer = make_trainer(tmp_path, TrainConfig(**{**CFG, "epochs": 2}), callbacks=[Spy()])
    x, y, xv, yv = split()
    trainer.fit(x, y, xv, yv, xv, yv)
    assert seen == ["fit", "begin 0", "end 1", "begin 1", "end 2", "done True"]
    # the test set: evaluated once, after the last epoch, into the last record
    assert "test_accuracy" not in trainer.history.epochs[0]
    assert trainer.history.epochs[-1]["test_accuracy"] == trainer.evaluate(xv, yv)["accuracy"]


def test_csv_and_json_loggers_write_one_row_per_epoch(tmp_path):
    cbs = [CSVLogger(tmp_path / "epochs.csv"), JSONLogger(tmp_path / "epochs.json")]
    trainer = make_trainer(tmp_path, TrainConfig(**CFG), callbacks=cbs)
    trainer.fit(*split())
    rows = list(csv.DictReader((tmp_path / "epochs.csv").open()))
    records = json.loads((tmp_path / "epochs.json").read_text())
    assert [int(r["epoch"]) for r in rows] == [r["epoch"] for r in records] == [1, 2, 3]
    assert (
        float(rows[-1]["val_accuracy"])
        == records[-1]["val_accuracy"]
        == trainer.history.epochs[-1]["val_accuracy"]
    )


def test_validation_every_n_epochs_and_after_the_last(tmp_path):
    for every, expected in ((2, [False, True, True]), (0, [False, False, True]), (1, [True, True, True])):
        trainer = make_trainer(tmp_path / str(every), TrainConfig(**{**CFG, "val_every": every}))
        trainer.fit(*split())
        assert [("val_accuracy" in e) for e in trainer.history.epochs] == expected, every


def read_tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TensorBoard event files under ``folder``, read back from the records
    (TFRecord framing: 8-byte length, 4-byte CRC, the ``Event`` protobuf, 4-byte CRC)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_logger_writes_the_runs_scalars(tmp_path):
    import pytest

    pytest.importorskip("tensorboardX")
    from scratchnet.callbacks import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path / "tb", every=1)
    trainer = make_trainer(tmp_path, TrainConfig(**CFG), callbacks=[logger])
    trainer.fit(*split())
    scalars = read_tensorboard_scalars(tmp_path / "tb")
    epochs = trainer.history.epochs
    assert [step for step, _ in scalars["epoch/val_accuracy"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in scalars["epoch/val_accuracy"]],
                               [e["val_accuracy"] for e in epochs], rtol=1e-6)  # fmt: skip
    losses = trainer.history.iterations["loss"]
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, len(losses) + 1))
    np.testing.assert_allclose([v for _, v in scalars["train/loss"]], losses, rtol=1e-6)


def test_progress_bar_only_on_a_terminal(tmp_path):
    """Piped output (a CI log, nohup) gets no bar frames at all; a terminal gets the bar."""
    for stream, expect_bar in [(io.StringIO(), False), (FakeTerminal(), True)]:
        trainer = make_trainer(
            tmp_path, TrainConfig(**{**CFG, "epochs": 1}), callbacks=[ProgressBar(True, stream)]
        )
        trainer.fit(*split())
        assert ("it/s" in stream.getvalue() or "epoch 1/1" in stream.getvalue()) == expect_bar


def test_trainer_takes_any_input_shape():
    """No images, no transform: vectors in, class scores out."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = sn.Sequential(Dense(5, 16, rng=0), ReLU(), Dense(16, 2, rng=1))
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.1, schedule="constant", val_size=0)
    trainer = Trainer(model, cfg, None, progress=False, log=None)
    hist = trainer.fit(x[:250], y[:250], x[250:], y[250:])
    assert hist.epochs[-1]["val_accuracy"] > 0.9
    assert trainer.state_dict()["meta"] is not None  # checkpoints work without a Normalizer
