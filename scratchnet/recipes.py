"""The recipes: what a training does with the options it is not given, as data, and the one
function that resolves a dataset, a model and the user's overrides into a configuration.

``scratchnet train --dataset X [--model M] [--option value ...]`` is
``resolve(X, M, {option: value, ...})``: the dataset's recipe (:data:`DEFAULTS`), then what the
model changes (:data:`MODEL_RECIPES`), then the overrides. ``scratchnet ensemble`` starts from
:data:`ENSEMBLE_DEFAULTS`. How each recipe was chosen, and what it gives: ``docs/results.md``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .config import TrainConfig
from .data import get_spec

# What `scratchnet train --dataset X` does when nothing else is given: the best recipe we
# measured for each dataset that fits the time budget on 2 CPU cores (see docs/results.md).
DEFAULTS: dict[str, dict[str, Any]] = {
    "fashion-mnist": dict(model="fmnist-fast", epochs=11, lr=0.05, batch_size=128, weight_decay=5e-4,
                          schedule="onecycle", crop_padding=0, flip=True, label_smoothing=0.0, shards=2,
                          flip_tta=True, val_every=0),
    "mnist": dict(model="mnist-cnn", epochs=6, lr=0.05, batch_size=128, weight_decay=5e-4,
                  schedule="onecycle", crop_padding=2, flip=False, shards=2, val_every=0),
    "cifar10": dict(model="cifar-fast", epochs=11, lr=0.4, batch_size=512, weight_decay=5e-4,
                    schedule="onecycle", crop_padding=2, flip=True, alternate_flips=True, label_smoothing=0.2,
                    shards=2, flip_tta=True, tta_shifts=1, val_every=0),
    "tinyshakespeare": dict(model="char-lstm", epochs=12, lr=3e-3, batch_size=64, optimizer="adam",
                            weight_decay=0.0, schedule="onecycle", crop_padding=0, flip=False, clip_norm=1.0,
                            val_size=0, eval_batch_size=128),
}  # fmt: skip

# Recipes of models that do not train like the dataset's default CNN, per dataset ("*": any).
ROWS_RECIPE = {
    "*": dict(optimizer="adam", lr=3e-3, weight_decay=0.0, schedule="onecycle", crop_padding=0, flip=False,
              clip_norm=1.0, epochs=20, shards=2, flip_tta=False, val_every=1),
    "fashion-mnist": dict(epochs=30),
}  # fmt: skip
# the CNNs of the assignments on colour images (three input channels), their own recipe: the
# assignment's own order, conv -> ReLU -> max-pool (reference-cnn), and the MNIST network
ASSIGNMENT_CIFAR = dict(epochs=20, lr=0.05, batch_size=128, weight_decay=5e-4, schedule="onecycle",
                        crop_padding=4, flip=True, alternate_flips=False, label_smoothing=0.0, flip_tta=True,
                        tta_shifts=0)  # fmt: skip
# ResNet-20 on CIFAR-10: SGD with Nesterov momentum, one cycle peaking at 0.1 (the paper's rate), batches
# of 128, 4-pixel crops and flips (the paper's augmentation), weight decay 5e-4, flipped test images
RESNET_CIFAR = dict(epochs=20, lr=0.1, batch_size=128, weight_decay=5e-4, schedule="onecycle",
                    crop_padding=4, flip=True, alternate_flips=False, label_smoothing=0.0, flip_tta=True,
                    tta_shifts=0)  # fmt: skip
MODEL_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "lstm-rows": ROWS_RECIPE, "gru-rows": ROWS_RECIPE,
    "mnist-cnn": {"cifar10": ASSIGNMENT_CIFAR}, "reference-cnn": {"cifar10": ASSIGNMENT_CIFAR},
    "resnet20": {"cifar10": RESNET_CIFAR},
}  # fmt: skip


# The member recipe of ``scratchnet ensemble --dataset X`` for what the command line leaves out:
# the dataset's default training (:data:`DEFAULTS`) cut short, so that the whole run takes
# well under 30 minutes on 2 cores with --workers 2 (measured: docs/results.md, "Ensembles"); with W workers
# each member gets cores // W threads, on which its shards run (one after the other on one thread).
ENSEMBLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "fashion-mnist": {"members": 5, "model": ["fmnist-cnn"], "epochs": 5, "crop_padding": 2, "flip": True,
                      "flip_tta": False, "shards": 2},
    "mnist": {"members": 5, "model": ["mnist-cnn"], "epochs": 4, "crop_padding": 2, "shards": 2},
    "cifar10": {"members": 4, "model": ["cifar-fast"], "epochs": 3, "shards": 2},
}  # fmt: skip


def dataset_defaults(dataset: str, model: str | None = None) -> dict[str, Any]:
    """The recipe of ``scratchnet train --dataset DATASET [--model MODEL]``: the dataset's default,
    then what ``model`` changes (see :data:`MODEL_RECIPES`)."""
    name = get_spec(dataset).name
    recipe = dict(DEFAULTS[name])
    if model is not None:
        recipe["model"] = model
        for key in ("*", name):
            recipe.update(MODEL_RECIPES.get(model, {}).get(key, {}))
    return recipe


def resolve(dataset: str, model: str | None = None, overrides: dict[str, Any] | None = None, *,
            limit: int | None = None, augment: bool = True) -> tuple[str, TrainConfig]:  # fmt: skip
    """``(model, configuration)`` of a training: the recipe of ``dataset`` and ``model``, then the
    ``overrides`` (fields of :class:`~scratchnet.config.TrainConfig`; ``None`` values are not
    given). With ``limit`` and no ``val_size`` given the validation split is a tenth of the limit;
    ``augment=False`` turns off the random crops and flips."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    merged = {**dataset_defaults(dataset, model), **overrides}
    if limit and "val_size" not in overrides:  # the validation split scales with a --limit
        merged["val_size"] = min(merged.get("val_size", TrainConfig.val_size), max(limit // 10, 1))
    if not augment:
        merged["crop_padding"], merged["flip"] = 0, False
    names = {f.name for f in fields(TrainConfig)}
    return merged["model"], TrainConfig(**{k: v for k, v in merged.items() if k in names})
