"""The training loop: seeded mini-batches, schedules, metrics, early stopping, checkpoints.

``Trainer.fit`` trains a :class:`~scratchnet.Sequential` classifier on any inputs: images (uint8,
augmented and normalised batch by batch by the optional ``transform``) or sequences alike; the
model's scores have the classes on their last axis. It records

* per iteration: loss, accuracy of the batch, learning rate;
* per epoch: mean training loss/accuracy, seconds, and whatever the callbacks add
  (:mod:`scratchnet.callbacks`: validation/test metrics, early stopping, logging, checkpoints).

Reproducibility: the batch order of epoch ``e`` is a permutation seeded by ``(seed, e)`` and the
augmentation of batch ``b`` is seeded by ``(seed, e, b)``; a checkpoint stores the model, the
optimizer state, every layer's random generator (dropout), the position in the epoch and the
history, so a resumed run reproduces the uninterrupted one exactly.

Checkpoint keys carry one prefix per part: ``model.``, ``optim.``, ``history.``, ``best.`` (see
:func:`scratchnet.io.with_prefix`); :class:`~scratchnet.Sequential` knows only its own keys.

Ctrl-C during ``fit`` finishes the current step, writes a checkpoint and raises
:class:`TrainingInterrupted`; a second Ctrl-C aborts at once. A non-finite loss raises
:class:`TrainingDiverged` before the bad step is applied.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .callbacks import Callback, Checkpoint, EarlyStopping, EpochLog, Evaluation, ProgressBar
from .config import TrainConfig, make_optimizer
from .data.batching import epoch_order, num_batches
from .data.transforms import Augment, alternating_flips, flip_where, translate
from .data_parallel import DataParallel
from .io import load_npz, save_npz, with_prefix, without_prefix
from .layers.base import Layer
from .losses import LOSSES, Loss, Objective
from .model import Sequential
from .optim import Lookahead, Optimizer
from .runtime import graceful_interrupt, say
from .schedules import LRScheduler, Schedule

CHECKPOINT_FORMAT = 1


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C: a checkpoint with everything done so far has been written (``.checkpoint``)."""

    def __init__(self, checkpoint: Path | None) -> None:
        super().__init__(f"training interrupted; checkpoint: {checkpoint}")
        self.checkpoint = checkpoint


@dataclass
class History:
    """Metrics recorded during training."""

    iterations: dict[str, list[float]] = field(
        default_factory=lambda: {"epoch": [], "iteration": [], "loss": [], "accuracy": [], "lr": []}
    )
    epochs: list[dict[str, float]] = field(default_factory=list)

    def add_iteration(self, **values: float) -> None:
        for k, v in values.items():
            self.iterations[k].append(v)

    def to_csv(self) -> str:
        keys = list(self.iterations)
        rows = zip(*(self.iterations[k] for k in keys), strict=True)
        lines = [",".join(keys)]
        lines += [",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in r) for r in rows]
        return "\n".join(lines) + "\n"


def _rng_states(model: Sequential) -> dict[str, Any]:
    return {n: m.rng.bit_generator.state for n, m in model.named_modules() if m.rng is not None}


class Trainer:
    """Trains a classifier; see the module docstring.

    Args:
        model: the network; its output: class scores with the classes on the last axis.
        cfg: hyper-parameters.
        transform: turns a batch of stored samples into network input (e.g. a
            :class:`~scratchnet.data.Normalizer` for uint8 images); ``None``: used as they are.
        checkpoint_path: where the checkpoint is written after every epoch and on Ctrl-C.
        model_spec: how to rebuild the model (zoo name and arguments), stored in checkpoints.
        progress: show a progress bar (only where standard error is a terminal).
        log: where to print one line per epoch (``None``: silent).
        callbacks: more :class:`~scratchnet.callbacks.Callback` objects, run after the built-in
            ones and before the checkpoint is written.
        loss: what to minimise: default ``cfg.loss`` (a name of
            :data:`scratchnet.losses.LOSSES`); a name, or a :class:`~scratchnet.losses.Loss` object
            (its targets are the stored labels as they are, predictions the arg-max).
        optimizer: an optimizer of one's own (any of :mod:`scratchnet.optim`, over the model's
            parameters or a subset); default: the one ``cfg`` names. The schedule ``cfg.schedule``
            scales its learning rate as given (``cfg.lr`` is then not used).

    ``model`` is any layer: a ``Sequential``, a block of one's own, a :class:`~scratchnet.graph.Graph`
    of one input and one output. ``cfg.accumulate > 1`` runs each batch as that many micro-batches
    and sums their gradients (weighted by their share of the batch) into one step.
    """

    def __init__(
        self,
        model: Layer,
        cfg: TrainConfig,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        checkpoint_path: str | os.PathLike | None = None,
        model_spec: dict[str, Any] | None = None,
        progress: bool = True,
        log: Callable[[str], None] | None = say,
        callbacks: Sequence[Callback] = (),
        loss: str | Loss | None = None,
        optimizer: Optimizer | Lookahead | None = None,
    ) -> None:
        self.model, self.cfg, self.transform = model, cfg, transform
        self.runner: Layer | DataParallel = (  # what runs the steps: the model, or its data-parallel shards
            DataParallel(model, cfg.shards, processes=cfg.shard_processes) if cfg.shards > 1 else model)
        if isinstance(loss, Loss):
            self.objective = Objective(lambda _: loss)
            self.loss_fn = self.eval_loss_fn = loss
        else:
            self.objective = LOSSES.get(loss or cfg.loss)
            self.loss_fn = self.objective.make(cfg.label_smoothing)
            self.eval_loss_fn = self.objective.make(0.0)
        self._params = model.parameters()
        self.optimizer = optimizer if optimizer is not None else make_optimizer(cfg, self._params)
        # the rate the schedule scales: the optimizer's own if one was given, else the recipe's
        self.base_lr = self.optimizer.lr if optimizer is not None else cfg.lr
        self.augment = Augment(cfg.crop_padding, cfg.flip and not cfg.alternate_flips)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.model_spec = model_spec or {}
        self.progress, self.log = progress, log
        self.extra_callbacks = list(callbacks)
        self.history = History()
        self.epoch = 0  # current epoch (0-based)
        self.batch = 0  # next batch within the epoch
        self.batches_per_epoch = 0
        self.iteration = 0  # optimizer steps taken
        self.elapsed = 0.0  # training seconds, summed over resumed sessions
        self.best: dict[str, float] = {"val_accuracy": -1.0, "epoch": -1}
        self.best_state: dict[str, np.ndarray] | None = None
        self.stopped_early = False
        self._stop = False

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return x if self.transform is None else self.transform(x)

    # --- one step and evaluation ---------------------------------------------------------------
    def train_step(self, x_batch: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                   flips: np.ndarray | None = None) -> tuple[float, float]:  # fmt: skip
        """Forward, loss, backward and update on one batch (``flips``: which images to mirror,
        for alternating flips); returns (loss, accuracy)."""
        x = self.augment(x_batch, rng) if self.augment.active else x_batch
        if flips is not None:
            x = flip_where(x, flips)
        if self.cfg.accumulate == 1:
            loss, acc = self._forward_backward(x, y, 1.0)
        else:  # micro-batches, each gradient weighted by its share of the batch, summed
            loss = acc = 0.0
            sums: list[np.ndarray | None] = [None] * len(self._params)
            for part in np.array_split(np.arange(len(x)), self.cfg.accumulate):
                share = len(part) / len(x)
                part_loss, part_acc = self._forward_backward(x[part], y[part], share)
                loss, acc = loss + share * part_loss, acc + share * part_acc
                sums = [g if s is None else (s if g is None else s + g)
                        for s, g in zip(sums, (p.grad for p in self._params), strict=True)]  # fmt: skip
            for p, total in zip(self._params, sums, strict=True):
                for use in (p, *p.tied):
                    use.layer.grads.pop(use.key, None)
                if total is not None:
                    p.layer.grads[p.key] = total
        self.optimizer.step()
        return loss, acc

    def _forward_backward(self, x: np.ndarray, y: np.ndarray, weight: float) -> tuple[float, float]:
        """One forward and backward pass; the upstream gradient times ``weight`` (a micro-batch's
        share of the batch). Returns (loss, accuracy)."""
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported below
            scores = self.runner.forward(self._prepare(x))
            loss = self.loss_fn.forward(scores, self.objective.targets(scores, y))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the training loss became {loss} at epoch {self.epoch + 1}, iteration "
                f"{self.iteration + 1} (learning rate {self.optimizer.lr:.3g}); training stopped. "
                f"Try a smaller learning rate, e.g. --lr {self.base_lr / 10:g}"
            )
        dscores = self.loss_fn.backward()
        scaled = dscores if weight == 1.0 else dscores * np.asarray(weight, dscores.dtype)
        self.runner.backward(scaled, need_dx=False)
        return loss, self.objective.accuracy(scores, y)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores, in eval mode, in batches; test-time augmentation averages the scores of
        each image and of its mirror image (``cfg.flip_tta``) and of those views shifted by
        ``cfg.tta_shifts`` pixels up-left and down-right."""
        views = [x, x[..., ::-1]] if self.cfg.flip_tta else [x]
        if self.cfg.tta_shifts:
            s = self.cfg.tta_shifts
            views += [translate(v, d, d) for v in list(views) for d in (-s, s)]
        scores = [self.runner.predict(v, self.cfg.eval_batch_size, transform=self.transform) for v in views]
        return scores[0] if len(scores) == 1 else np.mean(scores, axis=0)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Mean loss, accuracy and predicted labels on a labelled set (accuracy NaN and no
        predictions for a regression)."""
        if len(x) == 0:
            return {"loss": float("nan"), "accuracy": float("nan"), "predictions": y[:0]}
        scores = self.predict(x)
        loss = self.eval_loss_fn.forward(scores, self.objective.targets(scores, y))
        pred = self.objective.predictions(scores, y)
        accuracy = float("nan") if pred is None else float(np.mean(pred == y))
        return {"loss": loss, "accuracy": accuracy, "predictions": pred}

    # --- the loop ------------------------------------------------------------------------------
    def callbacks(self, x_val, y_val, x_test, y_test) -> list[Callback]:
        """The callbacks of a ``fit`` call, in the order they run."""
        built_in: list[Callback] = [ProgressBar(self.progress), Evaluation(x_val, y_val, x_test, y_test),
                                    EarlyStopping(self.cfg.patience)]  # fmt: skip
        if self.log:
            built_in.append(EpochLog(self.log))
        return [*built_in, *self.extra_callbacks, Checkpoint()]

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        x_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
    ) -> History:
        """Train for ``cfg.epochs`` epochs (continuing from the current position after a
        resume). Validation (every epoch) drives early stopping; the test set, if given, is
        evaluated once, after the last epoch (its result is added to the last epoch's record)."""
        cfg = self.cfg
        n, bs = len(x_train), cfg.batch_size
        nb = self.batches_per_epoch = num_batches(n, bs)
        schedule = Schedule(
            cfg.schedule, total=cfg.epochs * nb, iters_per_epoch=nb, warmup=int(cfg.warmup_epochs * nb),
            step_epochs=cfg.step_epochs, gamma=cfg.gamma,
        )  # fmt: skip
        callbacks = self.callbacks(x_val, y_val, x_test, y_test)
        self._stop = False
        completed = False
        for cb in callbacks:
            cb.on_fit_begin(self)
        try:
            with graceful_interrupt(self.request_stop):
                scheduler = LRScheduler(self.optimizer, schedule, base_lr=self.base_lr, start=self.iteration)
                while self.epoch < cfg.epochs and not self.stopped_early:
                    self._run_epoch(x_train, y_train, scheduler, callbacks)
            completed = True
        finally:
            for cb in callbacks:
                cb.on_fit_end(self, completed)
            if isinstance(self.runner, DataParallel):  # its shard threads or processes end with the fit
                self.runner.close()
        return self.history

    def _run_epoch(self, x_train: np.ndarray, y_train: np.ndarray, scheduler: LRScheduler,
                   callbacks: list[Callback]) -> None:  # fmt: skip
        cfg, bs = self.cfg, self.cfg.batch_size
        order = epoch_order(len(x_train), cfg.seed, self.epoch)
        alternate = cfg.flip and cfg.alternate_flips
        flip_plan = alternating_flips(len(x_train), cfg.seed, self.epoch) if alternate else None
        self.model.train()
        start = time.perf_counter()
        for cb in callbacks:
            cb.on_epoch_begin(self)
        while self.batch < self.batches_per_epoch:
            idx = np.sort(order[self.batch * bs : (self.batch + 1) * bs])
            rng = np.random.default_rng([cfg.seed, self.epoch, self.batch, 1])
            flips = flip_plan[idx] if flip_plan is not None else None
            lr = self.optimizer.lr  # this step's rate (the scheduler set it after the last step)
            loss, acc = self.train_step(x_train[idx], y_train[idx], rng, flips)
            scheduler.step()
            logs = {"loss": loss, "accuracy": acc, "lr": lr}
            self.history.add_iteration(epoch=self.epoch, iteration=self.iteration, **logs)
            self.batch += 1
            self.iteration += 1
            for cb in callbacks:
                cb.on_batch_end(self, logs)
            if self._stop:
                self.elapsed += time.perf_counter() - start
                self.save_checkpoint()
                raise TrainingInterrupted(self.checkpoint_path)
        seconds = time.perf_counter() - start
        self.elapsed += seconds
        record = self._epoch_record(seconds)
        self.history.epochs.append(record)
        self.epoch += 1  # the position moves on first: a checkpoint written below resumes here
        self.batch = 0
        for cb in callbacks:
            cb.on_epoch_end(self, record)

    def _epoch_record(self, seconds: float) -> dict[str, Any]:
        """Mean training loss and accuracy of the epoch that just ended, its last rate, seconds."""
        it = self.history.iterations
        in_epoch = [i for i, e in enumerate(it["epoch"]) if e == self.epoch]
        return {
            "epoch": self.epoch + 1,
            "train_loss": float(np.mean([it["loss"][i] for i in in_epoch])),
            "train_accuracy": float(np.mean([it["accuracy"][i] for i in in_epoch])),
            "lr": self.optimizer.lr,
            "seconds": seconds,
        }

    def request_stop(self) -> None:
        """Ask ``fit`` to stop after the current step (what the first Ctrl-C does)."""
        self._stop = True

    # --- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume: model, optimizer, history, position, random states."""
        arrays = with_prefix(self.model.state_dict(), "model.")
        arrays.update(with_prefix(self.optimizer.state_dict(), "optim."))
        arrays.update(with_prefix({k: np.asarray(v) for k, v in self.history.iterations.items()}, "history."))
        if self.best_state is not None:
            arrays.update(with_prefix(self.best_state, "best."))
        meta = {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(self.cfg),
            "model": self.model_spec,
            "normalizer": asdict(self.transform) if is_dataclass(self.transform) else None,
            "epoch": self.epoch,
            "batch": self.batch,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "best": self.best,
            "stopped_early": self.stopped_early,
            "epochs": self.history.epochs,
            "rng": _rng_states(self.model),
        }
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path | None:
        """Atomically write :meth:`state_dict` to ``path`` (default: ``checkpoint_path``)."""
        path = Path(path) if path else self.checkpoint_path
        if path is not None:
            save_npz(path, self.state_dict())
        return path

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        meta = checkpoint_meta(arrays)
        self.model.load_state_dict(without_prefix(arrays, "model."))
        self.optimizer.load_state_dict(without_prefix(arrays, "optim."))
        self.history = History(
            iterations={k: v.tolist() for k, v in without_prefix(arrays, "history.").items()},
            epochs=meta["epochs"],
        )
        best = without_prefix(arrays, "best.")
        self.best_state = best or None
        self.epoch, self.batch, self.iteration = meta["epoch"], meta["batch"], meta["iteration"]
        self.elapsed, self.best, self.stopped_early = (
            meta["elapsed"],
            meta["best"],
            meta["stopped_early"],
        )
        modules = dict(self.model.named_modules())
        for name, state in meta["rng"].items():
            modules[name].rng.bit_generator.state = state


def checkpoint_meta(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (raises ``ValueError`` if it is not one of ours)."""
    if "meta" not in arrays:
        raise ValueError("not a scratchnet training checkpoint (no 'meta' entry)")
    meta = json.loads(str(arrays["meta"]))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"unsupported checkpoint format {meta.get('format')!r}")
    return meta


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of a checkpoint written by :meth:`Trainer.save_checkpoint`; a file that
    is not one (corrupt, truncated, another ``.npz``) raises a ``ValueError`` saying so."""
    try:
        arrays = load_npz(path)
    except ValueError as e:
        raise ValueError(f"{e}; not a usable scratchnet checkpoint") from None
    try:
        return arrays, checkpoint_meta(arrays)
    except (ValueError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: {e}") from e
