"""Experiments from end to end: data, model, training, and everything written to an output folder.

``train_run`` writes into ``out_dir``:

* ``metrics.json`` — final train/val/test accuracy and loss, seconds, configuration, machine;
* ``history.csv`` — per-iteration epoch, iteration, loss, batch accuracy, learning rate;
* ``checkpoint.npz`` — model + optimizer + trainer state (resumable, no pickle);
* ``loss.png``, ``accuracy.png``, ``confusion.png``, ``misclassified.png``, ``filters.png``.

``sweep`` runs ``train_run`` once per learning rate and writes ``sweep.png`` and ``sweep.md``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import viz, zoo
from ._version import __version__
from .callbacks import Callback, TensorBoardLogger, TextSamples
from .data import Dataset, Normalizer, load_dataset, train_val_split
from .data.text import Vocabulary
from .generate import sample_text
from .io import atomic_write_bytes, write_json
from .recipes import DEFAULTS, dataset_defaults  # noqa: F401  (re-exported: notebooks and benchmarks import them here)
from .runtime import blas_info, say
from .train import TrainConfig, Trainer, TrainingDiverged, TrainingInterrupted, load_checkpoint


def invocation() -> str:
    """The command line as typed (``python -m scratchnet ...`` is shown as ``scratchnet ...``)."""
    prog = Path(sys.argv[0]).name
    if prog in ("__main__.py", "scratchnet"):
        prog = "scratchnet"
    return " ".join([prog, *sys.argv[1:]])


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "blas": [
            {k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for i in blas_info()
        ],
        "scratchnet": __version__,
    }


def prepare_data(
    dataset: str, data_dir: str | os.PathLike | None, limit: int | None, progress: bool
) -> Dataset:
    """Load a dataset; with ``limit``, keep the first ``limit`` training and ``limit // 6`` test
    (and validation, for a corpus with its own) samples, for quick tries and tests; what was cut
    is said in ``ds.limited``."""
    ds = load_dataset(dataset, data_dir=data_dir, progress=progress)
    if limit:
        small = max(limit // 6, 1)
        cut = [f"the first {min(limit, len(ds.x_train)):,} of {len(ds.x_train):,} training"]
        ds.x_train, ds.y_train = ds.x_train[:limit], ds.y_train[:limit]
        if ds.x_val is not None and len(ds.x_val):
            cut.append(f"{min(small, len(ds.x_val)):,} of {len(ds.x_val):,} validation")
            ds.x_val, ds.y_val = ds.x_val[:small], ds.y_val[:small]
        if len(ds.x_test):
            cut.append(f"{min(small, len(ds.x_test)):,} of {len(ds.x_test):,} test")
        ds.x_test, ds.y_test = ds.x_test[:small], ds.y_test[:small]
        unit = "windows" if ds.kind == "text" else "images"
        ds.limited = ", ".join(cut) + f" {unit} are used"
    return ds


def initialise_from_data(net: Any, model: str, x_train: np.ndarray, transform: Normalizer | None,
                         seed: int) -> None:  # fmt: skip
    """The data-dependent initialisation of a zoo model (:data:`scratchnet.zoo.DATA_INIT`, e.g. the
    whitening filters of a first layer), from a seeded sample of 5,000 training inputs."""
    if model in zoo.DATA_INIT:
        sample = np.sort(np.random.default_rng([seed, 3]).permutation(len(x_train))[:5000])
        zoo.DATA_INIT[model](net, transform(x_train[sample]) if transform else x_train[sample])


def write_outputs(
    out: Path, trainer: Trainer, ds: Dataset, status: str, wall: float, extra: dict[str, Any]
) -> dict[str, Any]:
    """metrics.json, history.csv and the figures for whatever has been trained so far."""
    history = trainer.history
    title = f"{ds.title} / {trainer.model_spec.get('name')}"
    metrics: dict[str, Any] = {
        "status": status,
        "dataset": ds.name,
        "model": trainer.model_spec.get("name"),
        "parameters": trainer.model.num_parameters(),
        "dropout": trainer.model_spec.get("kwargs", {}).get("dropout", "model default"),
        "epochs_completed": len(history.epochs),
        "iterations": trainer.iteration,
        "train_seconds": round(trainer.elapsed, 2),
        "test_samples": len(ds.x_test),
        "limited": ds.limited,
        "wall_seconds": round(wall, 2),
        "config": asdict(trainer.cfg),
        "machine": machine_info(),
        **extra,
    }
    if history.epochs:
        last = history.epochs[-1]
        metrics.update({k: last.get(k) for k in ("train_loss", "train_accuracy", "val_loss",
                                                  "val_accuracy", "test_loss", "test_accuracy")})  # fmt: skip
        metrics["best_val_accuracy"] = trainer.best["val_accuracy"]
        metrics["best_epoch"] = trainer.best["epoch"]
    metrics["epochs"] = history.epochs
    atomic_write_bytes(out / "history.csv", history.to_csv().encode())
    if history.iterations["iteration"]:
        viz.plot_loss(history.iterations, out / "loss.png", title=f"{title}: training loss")
    test = None
    if history.epochs and ds.kind != "text":  # the test set: evaluated once, here
        test = trainer.evaluate(ds.x_test, ds.y_test)
        metrics["test_accuracy"], metrics["test_loss"] = test["accuracy"], test["loss"]
        history.epochs[-1].update(test_accuracy=test["accuracy"], test_loss=test["loss"])
    if history.epochs:
        viz.plot_accuracy(history.epochs, out / "accuracy.png", title=f"{title}: accuracy",
                          iterations=history.iterations)  # fmt: skip
    if history.epochs and ds.kind == "text":
        metrics["val_nats_per_char"] = metrics["val_loss"]
    elif test is not None and test["predictions"] is not None:
        cm = viz.confusion_matrix(ds.y_test, test["predictions"], ds.num_classes)
        metrics["confusion_matrix"] = cm.tolist()
        viz.plot_confusion(cm, ds.classes, out / "confusion.png",
                           title=f"{title}: test accuracy {test['accuracy']:.4f}")  # fmt: skip
        viz.plot_misclassified(ds.x_test, ds.y_test, test["predictions"], ds.classes, out / "misclassified.png")
        first_conv = next((m for m in trainer.model.modules() if m.params.get("W") is not None
                           and m.params["W"].ndim == 4), None)  # fmt: skip
        if first_conv is not None:
            viz.plot_filters(first_conv.params["W"], out / "filters.png", title=f"{title}: first-layer filters")
    write_json(out / "metrics.json", metrics)
    return metrics


def train_run(
    dataset: str,
    out_dir: str | os.PathLike,
    model: str | None = None,
    cfg: TrainConfig | None = None,
    *,
    dropout: float | None = None,
    data_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = say,
    extra: dict[str, Any] | None = None,
    split_seed: int | None = None,
    bootstrap: bool = False,
    tensorboard: str | os.PathLike | None = None,
    model_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one network and write every output into ``out_dir``; returns the metrics.

    ``split_seed`` chooses the validation split (default: the training seed; ensemble members
    share one so that they are validated on the same images); ``bootstrap`` trains on a sample
    of the training part drawn with replacement (bagging), seeded by the training seed;
    ``tensorboard`` is a directory for this run's TensorBoard scalars; ``model_options`` are more
    arguments of the zoo builder (``{"widths": [48, 192, 192]}``), saved with the checkpoint.

    ``resume`` continues from a checkpoint (model, optimizer, position and random states are
    restored; the configuration is the checkpoint's, except ``cfg.epochs`` when ``cfg`` is
    given). Raises ``TrainingDiverged`` / ``TrainingInterrupted`` after writing the metrics.
    """
    wall_start = time.perf_counter()
    out = Path(out_dir)  # created once data and model are ready: a run that fails at start leaves nothing
    state, model_kwargs = None, None
    if resume is not None:
        state, spec, cfg = resumed(resume, cfg)
        dataset, model, limit = spec["dataset"], spec["name"], spec.get("limit")
        split_seed, bootstrap = spec.get("split_seed"), spec.get("bootstrap", False)
        model_kwargs = spec["kwargs"]
    cfg = cfg or TrainConfig()
    model = model or dataset_defaults(dataset)["model"]
    ds = prepare_data(dataset, data_dir, limit, progress)
    (x_tr, y_tr), (x_val, y_val) = training_split(ds, cfg, limit, split_seed, bootstrap)
    if model_kwargs is None:  # a new network
        model_kwargs = model_arguments(ds, model_options, dropout)
    net = zoo.build(model, rng=cfg.seed, **model_kwargs)
    transform = Normalizer.fit(x_tr) if ds.kind == "images" else None
    if resume is None:
        initialise_from_data(net, model, x_tr, transform, cfg.seed)
    spec = {"name": model, "kwargs": model_kwargs, "dataset": ds.name, "limit": limit,
            "vocabulary": ds.vocabulary, "split_seed": split_seed, "bootstrap": bootstrap}  # fmt: skip
    trainer = Trainer(net, cfg, transform, checkpoint_path=out / "checkpoint.npz", progress=progress, log=log,
                      model_spec=spec, callbacks=run_callbacks(ds, net, out, tensorboard))  # fmt: skip
    if state is not None:
        trainer.load_state_dict(state)
    out.mkdir(parents=True, exist_ok=True)
    if log:
        log(announcement(ds, len(x_tr), len(x_val), model, net.num_parameters(), out, limit))
    run = (trainer, out, ds, wall_start, {"command": invocation(), **(extra or {})})
    return fit_and_write(run, x_tr, y_tr, x_val, y_val)


def model_arguments(ds: Dataset, options: dict[str, Any] | None, dropout: float | None) -> dict[str, Any]:
    """The zoo builder's arguments of a new network (saved with its checkpoint): the data's input
    shape and classes, the caller's ``options``, and ``dropout`` if given."""
    kwargs = {"in_shape": list(ds.input_shape), "num_classes": ds.num_classes, **(options or {})}
    return kwargs if dropout is None else {**kwargs, "dropout": dropout}


def announcement(ds: Dataset, n_train: int, n_val: int, model: str, params: int, out: Path,
                 limit: int | None) -> str:  # fmt: skip
    """The line a run starts with: the data, the model, where the output goes (and what a
    ``--limit`` cut)."""
    unit = "windows" if ds.kind == "text" else "images"
    line = (f"{ds.title}: {n_train:,} train / {n_val:,} validation / {len(ds.x_test):,} test {unit}; "
            f"model {model} ({params:,} parameters); output in {out}/")  # fmt: skip
    return line + (f"\n--limit {limit}: {ds.limited}" if limit and ds.limited else "")


def resumed(checkpoint: str | os.PathLike, cfg: TrainConfig | None) -> tuple[dict, dict, TrainConfig]:
    """``(trainer state, model spec, configuration)`` of a checkpoint to continue: its own
    configuration, with ``cfg.epochs`` when ``cfg`` is given."""
    state, meta = load_checkpoint(checkpoint)
    saved = TrainConfig.from_dict(meta["config"])
    return state, meta["model"], replace(saved, epochs=cfg.epochs) if cfg is not None else saved


def training_split(ds: Dataset, cfg: TrainConfig, limit: int | None, split_seed: int | None, bootstrap: bool
                   ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """The training and validation parts: a corpus's own validation split, else ``cfg.val_size``
    stratified samples carved from the training set (seeded by ``split_seed``, else the training
    seed); ``bootstrap``: the training part resampled with replacement (bagging)."""
    if ds.x_val is not None:  # a corpus with its own validation split
        (x_tr, y_tr), (x_val, y_val) = (ds.x_train, ds.y_train), (ds.x_val, ds.y_val)
    else:
        if not 0 <= cfg.val_size < len(ds.x_train):
            cut = f" left by --limit {limit}" if limit else ""
            raise ValueError(f"the validation split of {cfg.val_size:,} images (--val-size, "
                             f"TrainConfig.val_size) must be smaller than the {len(ds.x_train):,} training "
                             f"images{cut}; "
                             f"e.g. --val-size {max(len(ds.x_train) // 10, 1)}")  # fmt: skip
        split = cfg.seed if split_seed is None else split_seed
        (x_tr, y_tr), (x_val, y_val) = train_val_split(ds.x_train, ds.y_train, cfg.val_size, split)
        if cfg.val_size:  # the split copied the images: let the unsplit ones go (150 MB for CIFAR-10)
            ds.x_train, ds.y_train = ds.x_train[:0].copy(), ds.y_train[:0].copy()
    if bootstrap:
        pick = np.sort(np.random.default_rng([cfg.seed, 7]).integers(0, len(x_tr), len(x_tr)))
        x_tr, y_tr = x_tr[pick], y_tr[pick]
    return (x_tr, y_tr), (x_val, y_val)


def run_callbacks(ds: Dataset, net: Any, out: Path, tensorboard: str | os.PathLike | None) -> list[Callback]:
    """What runs around the steps besides the built-in callbacks: text samples of a character
    model after each epoch, TensorBoard scalars."""
    callbacks: list[Callback] = []
    if ds.kind == "text":
        vocab = Vocabulary(ds.vocabulary)
        callbacks.append(TextSamples(lambda: sample_text(net, vocab, "\n", 300, 0.8, np.random.default_rng(0)),
                                     out / "samples.md"))  # fmt: skip
    if tensorboard is not None:
        callbacks.append(TensorBoardLogger(tensorboard))
    return callbacks


def fit_and_write(run: tuple[Trainer, Path, Dataset, float, dict[str, Any]], x_tr: np.ndarray, y_tr: np.ndarray,
                  x_val: np.ndarray, y_val: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Train, then write the outputs (:func:`write_outputs`, which evaluates the test set, once)
    whatever the end: completed, diverged or interrupted (then re-raised)."""
    trainer, out, ds, wall_start, extra = run
    try:
        trainer.fit(x_tr, y_tr, x_val, y_val)
    except TrainingDiverged as e:
        wall = time.perf_counter() - wall_start
        write_outputs(out, trainer, ds, "diverged", wall, {**extra, "error": str(e)})
        raise
    except TrainingInterrupted:
        write_outputs(out, trainer, ds, "interrupted", time.perf_counter() - wall_start, extra)
        raise
    return write_outputs(out, trainer, ds, "completed", time.perf_counter() - wall_start, extra)
