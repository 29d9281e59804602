"""Callbacks: the parts of a training run around the optimisation steps, one job each.

The convention of Keras and Lightning: :class:`~scratchnet.train.Trainer` calls every callback's
hooks at fixed points, in list order. ``on_epoch_end`` receives the epoch's record (a dict that
already holds ``epoch``, ``train_loss``, ``train_accuracy``, ``lr`` and ``seconds``); earlier
callbacks add to it (:class:`Evaluation` adds ``val_*``/``test_*``), later ones read it
(:class:`EarlyStopping`, :class:`EpochLog`, the loggers) and :class:`Checkpoint`, last, saves
everything. When ``on_epoch_end`` runs, the trainer's position already points at the next
epoch, so a checkpoint written there resumes correctly.

The trainer installs ``[ProgressBar, Evaluation, EarlyStopping, EpochLog, *yours, Checkpoint]``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .io import atomic_write_bytes
from .runtime import is_terminal, say

if TYPE_CHECKING:
    from .train import Trainer


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_begin(self, trainer: Trainer) -> None: ...

    def on_batch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """After each optimizer step; ``logs``: ``loss``, ``accuracy``, ``lr``."""

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer, completed: bool) -> None:
        """After the last epoch (``completed``), or when training stops with an exception."""


class Evaluation(Callback):
    """Adds the loss and accuracy on the validation set to the record of every ``cfg.val_every``-th
    epoch and of the last one, and those on the test set (if given) to the last epoch's record
    once training has finished: the test set is evaluated once, never used for a decision (the
    honest protocol, and the cheaper one)."""

    def __init__(self, x_val: np.ndarray, y_val: np.ndarray, x_test: np.ndarray | None = None,
                 y_test: np.ndarray | None = None) -> None:  # fmt: skip
        self.val, self.test = (x_val, y_val), (x_test, y_test)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        every, epoch = trainer.cfg.val_every, logs["epoch"]
        if epoch >= trainer.cfg.epochs or (every and epoch % every == 0):
            val = trainer.evaluate(*self.val)
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])

    def on_fit_end(self, trainer: Trainer, completed: bool) -> None:
        if completed and self.test[0] is not None and trainer.history.epochs:
            test = trainer.evaluate(*self.test)
            trainer.history.epochs[-1].update(test_loss=test["loss"], test_accuracy=test["accuracy"])


class EarlyStopping(Callback):
    """Tracks the epoch with the best validation accuracy (``trainer.best``; for a regression,
    which has no accuracy, the lowest validation loss); with ``patience > 0`` it keeps a copy of
    that epoch's weights, stops training after ``patience`` epochs without improvement, and
    restores the best weights at the end. The state lives on the trainer (``best``,
    ``best_state``, ``stopped_early``) so that checkpoints carry it."""

    def __init__(self, patience: int = 0) -> None:
        self.patience = patience

    @staticmethod
    def score(logs: dict[str, Any]) -> float:
        """Higher is better: the validation accuracy, else minus the validation loss (NaN if
        the epoch was not validated)."""
        accuracy = logs.get("val_accuracy", float("nan"))
        return accuracy if not np.isnan(accuracy) else -logs.get("val_loss", float("nan"))

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        score = self.score(logs)
        best = trainer.best.get("score", trainer.best["val_accuracy"])
        if score > best:  # False for NaN (no validation set, or not this epoch)
            trainer.best = {"val_accuracy": logs.get("val_accuracy", float("nan")), "score": score,
                            "epoch": logs["epoch"]}  # fmt: skip
            if self.patience:
                trainer.best_state = {k: v.copy() for k, v in trainer.model.state_dict().items()}
        elif self.patience and logs["epoch"] - trainer.best["epoch"] >= self.patience:
            trainer.stopped_early = True
            logs["early_stop"] = f"early stop: best val at epoch {trainer.best['epoch']}"

    def on_fit_end(self, trainer: Trainer, completed: bool) -> None:
        if completed and self.patience and trainer.best_state is not None:
            trainer.model.load_state_dict(trainer.best_state)


class EpochLog(Callback):
    """One line per epoch through ``log`` (``print`` by default): loss, accuracies, seconds."""

    def __init__(self, log: Callable[[str], None] = say) -> None:
        self.log = log

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        parts = [f"epoch {logs['epoch']:>3}/{trainer.cfg.epochs}", f"loss {logs['train_loss']:.4f}",
                 f"train {logs['train_accuracy']:.4f}"]  # fmt: skip
        parts += [
            f"{name} {logs[f'{name}_accuracy']:.4f}" for name in ("val", "test") if f"{name}_accuracy" in logs
        ]
        if "val_loss" in logs:
            parts.append(f"val loss {logs['val_loss']:.4f}")
        parts.append(f"{logs['seconds']:.1f}s")
        if "early_stop" in logs:
            parts.append(f"({logs['early_stop']})")
        self.log("  ".join(parts))


class ProgressBar(Callback):
    """A tqdm bar per epoch on standard error, only when that is a terminal: in a log file or a
    pipe every frame would be written out, so there the one line per epoch of :class:`EpochLog`
    is all the progress shown."""

    def __init__(self, enabled: bool = True, stream: Any = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and is_terminal(self.stream)
        self._bar: Any = None

    def on_epoch_begin(self, trainer: Trainer) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=trainer.batches_per_epoch, initial=trainer.batch, leave=False,
                             desc=f"epoch {trainer.epoch + 1}/{trainer.cfg.epochs}", dynamic_ncols=True,
                             file=self.stream)  # fmt: skip

    def on_batch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if trainer.batch % 10 == 0 or trainer.batch == trainer.batches_per_epoch:
                self._bar.set_postfix(loss=f"{logs['loss']:.3f}", acc=f"{logs['accuracy']:.3f}",
                                      lr=f"{logs['lr']:.3g}")  # fmt: skip

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.on_fit_end(trainer, completed=True)

    def on_fit_end(self, trainer: Trainer, completed: bool) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Checkpoint(Callback):
    """Writes the trainer's checkpoint (atomically) after every epoch."""

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        trainer.save_checkpoint()


def _scalars(logs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in logs.items() if isinstance(v, (int, float, np.floating, np.integer))}


class CSVLogger(Callback):
    """Appends one row per epoch (every numeric entry of the record) to a CSV file, rewritten
    atomically each epoch so that a crash never leaves half a row."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path, self.rows = Path(path), []

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.rows.append(_scalars(logs))
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.path, out.getvalue().encode())


class JSONLogger(Callback):
    """Keeps a JSON list of the epoch records in a file, rewritten atomically each epoch."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path, self.rows = Path(path), []

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self.rows.append(_scalars(logs))
        atomic_write_bytes(self.path, (json.dumps(self.rows, indent=1, default=float) + "\n").encode())


class TensorBoardLogger(Callback):
    """Scalars for TensorBoard, so that many runs (sweep jobs, ensemble members) can be compared
    in the tool: ``train/loss``, ``train/accuracy`` and ``train/lr`` every ``every`` steps, and
    every numeric entry of each epoch's record as ``epoch/<name>``. Needs ``tensorboardX`` (the
    optional ``tensorboard`` extra); open with ``tensorboard --logdir DIR``."""

    def __init__(self, logdir: str | os.PathLike, every: int = 10) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "TensorBoard logging needs tensorboardX: pip install 'scratchnet[tensorboard]'"
            ) from e
        self.logdir, self.every = Path(logdir), every
        self.writer = SummaryWriter(str(self.logdir))

    def on_batch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        if trainer.iteration % self.every == 0:
            for key in ("loss", "accuracy", "lr"):
                self.writer.add_scalar(f"train/{key}", logs[key], trainer.iteration)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        for key, value in _scalars(logs).items():
            if key != "epoch":
                self.writer.add_scalar(f"epoch/{key}", value, int(logs["epoch"]))
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer, completed: bool) -> None:
        self.writer.close()


class TextSamples(Callback):
    """Samples from a character model before training and after every epoch, appended to a
    Markdown file (``samples.md``) so the improvement can be read. ``sample()`` returns the text
    (e.g. :func:`scratchnet.generate.sample_text` with the model, vocabulary, prompt and a fixed
    seed bound to it)."""

    def __init__(self, sample: Callable[[], str], path: str | os.PathLike) -> None:
        self.sample, self.path = sample, Path(path)

    def _append(self, heading: str) -> None:
        text = self.sample()
        old = self.path.read_text() if self.path.exists() else "# Samples during training\n"
        entry = f"\n## {heading}\n\n```text\n{text.strip()}\n```\n"
        atomic_write_bytes(self.path, (old + entry).encode())

    def on_fit_begin(self, trainer: Trainer) -> None:
        if trainer.iteration == 0:
            self._append("before training")

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        loss = logs.get("val_loss")
        self._append(f"after epoch {logs['epoch']}" + (f" (validation {loss:.3f} nats/char)" if loss else ""))
