"""Using trained networks: a checkpoint's network rebuilt, its test accuracy, an ensemble's, and
text sampled from a character model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from . import viz, zoo
from .data import Normalizer
from .data.text import Vocabulary
from .ensemble import Ensemble
from .experiment import prepare_data
from .generate import sample_text
from .io import without_prefix
from .train import TrainConfig, Trainer, load_checkpoint


def load_trained(path: str | os.PathLike) -> tuple[Any, Normalizer | None, dict[str, Any]]:
    """The network saved in a checkpoint (rebuilt from the zoo, its weights loaded), its input
    normaliser (``None`` for non-image data) and the checkpoint's metadata."""
    arrays, meta = load_checkpoint(path)
    spec = meta["model"]
    net = zoo.build(spec["name"], **spec["kwargs"])
    net.load_state_dict(without_prefix(arrays, "model."))
    transform = Normalizer(**meta["normalizer"]) if meta.get("normalizer") else None
    return net, transform, meta


def evaluate_checkpoint(
    path: str | os.PathLike, data_dir: str | os.PathLike | None = None, progress: bool = True
) -> dict[str, Any]:
    """Test-set accuracy, loss and per-class accuracy of a saved checkpoint."""
    net, transform, meta = load_trained(path)
    spec = meta["model"]
    ds = prepare_data(spec["dataset"], data_dir, spec.get("limit"), progress)
    trainer = Trainer(net, TrainConfig.from_dict(meta["config"]), transform,
                      progress=False, log=None, model_spec=spec)  # fmt: skip
    res = trainer.evaluate(ds.x_test, ds.y_test)
    cm = viz.confusion_matrix(ds.y_test, res["predictions"], ds.num_classes)
    per_class = (np.diag(cm) / np.maximum(cm.sum(axis=1), 1)).tolist()
    return {"dataset": ds.name, "model": spec["name"], "test_accuracy": res["accuracy"],
            "test_loss": res["loss"], "per_class_accuracy": dict(zip(ds.classes, per_class, strict=True)),
            "epochs_trained": meta["epoch"]}  # fmt: skip


def evaluate_ensemble(
    directory: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Test-set accuracy of a saved ensemble, of each member, and per class."""
    ens = Ensemble.load(directory)
    if "dataset" not in ens.meta:
        raise ValueError(f"{directory}: the manifest does not say which dataset the ensemble was trained on")
    ds = prepare_data(ens.meta["dataset"], data_dir, ens.meta.get("limit"), progress=False)
    res = ens.evaluate(ds.x_test, ds.y_test)
    cm = viz.confusion_matrix(ds.y_test, res.pop("predictions"), ds.num_classes)
    per_class = (np.diag(cm) / np.maximum(cm.sum(axis=1), 1)).tolist()
    return {"dataset": ds.name, "voting": ens.voting, "models": [s["name"] for s in ens.specs or []], **res,
            "per_class_accuracy": dict(zip(ds.classes, per_class, strict=True))}  # fmt: skip


def load_generator(path: str | os.PathLike) -> Callable[[str, int, float, np.random.Generator], str]:
    """``generate(prompt, length, temperature, rng)`` for the character model in a checkpoint."""
    model, _, meta = load_trained(path)
    spec = meta["model"]
    if not spec.get("vocabulary"):
        raise ValueError(f"{path}: not a character model's checkpoint (no vocabulary); sample needs one "
                         "trained on a text dataset such as tinyshakespeare")  # fmt: skip
    vocab = Vocabulary(spec["vocabulary"])
    return lambda prompt, length, temperature, rng: sample_text(model, vocab, prompt, length, temperature, rng)
