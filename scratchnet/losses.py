"""Loss objects: ``loss = L.forward(scores, targets)`` (a Python float), ``dscores = L.backward()``.

The math lives in :mod:`scratchnet.ops.losses`; these classes validate inputs and keep the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ops import losses as ops
from .registry import Registry


class Loss:
    """Base class: ``forward`` returns a float and remembers what ``backward`` needs."""

    def __init__(self) -> None:
        self._cache: tuple | None = None

    def __call__(self, scores: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(scores, targets)

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def _saved(self) -> tuple:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}: backward() called before forward()")
        return self._cache

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _same_shape(name: str, scores: np.ndarray, targets: np.ndarray) -> None:
    if np.shape(scores) != np.shape(targets):
        raise ValueError(
            f"{name}: targets must have the shape of the predictions {np.shape(scores)}, "
            f"got {np.shape(targets)}"
        )


def _class_labels(name: str, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``targets`` checked as integer class labels for ``scores`` ``(N, ..., C)``: shape
    ``(N, ...)``, values in ``[0, C)``; a ``ValueError`` naming the loss otherwise."""
    targets = np.asarray(targets)
    if scores.ndim < 2:
        raise ValueError(f"{name}: expected scores of shape (N, C), got {scores.shape}")
    if targets.shape != scores.shape[:-1] or not np.issubdtype(targets.dtype, np.integer):
        shape = "(" + ", ".join(str(d) for d in scores.shape[:-1]) + ("," if scores.ndim == 2 else "") + ")"
        raise ValueError(f"{name}: expected integer labels of shape {shape}, "
                         f"got {targets.dtype} array of shape {targets.shape}")  # fmt: skip
    C = scores.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= C):
        raise ValueError(f"{name}: labels must be in [0, {C}), got range [{targets.min()}, {targets.max()}]")
    return targets


class SoftmaxCrossEntropy(Loss):
    r"""Softmax + cross-entropy with integer labels, mean over the batch.

    :math:`L = -\frac1N\sum_n \log \operatorname{softmax}(s_n)_{y_n}`;
    :math:`\partial L/\partial s = (\operatorname{softmax}(s) - \operatorname{onehot}(y))/N`.
    Stable for huge logits (log-sum-exp with the row maximum subtracted). ``label_smoothing``
    :math:`\varepsilon` mixes the one-hot target with the uniform distribution as PyTorch does.

    Args:
        scores (to ``forward``): logits of shape ``(N, C)``, or ``(N, T, ..., C)`` with the classes
            on the last axis (a sequence model's output): the mean is then over every position.
        targets: integer class labels of shape ``(N,)`` (or ``(N, T, ...)``) in ``[0, C)``.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"SoftmaxCrossEntropy: label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        targets = _class_labels("SoftmaxCrossEntropy", scores, targets)
        C = scores.shape[-1]
        self._scores_shape = scores.shape
        scores, targets = scores.reshape(-1, C), targets.reshape(-1)
        loss, self._cache = ops.softmax_cross_entropy_forward(scores, targets, self.label_smoothing)
        return float(loss)

    def backward(self) -> np.ndarray:
        return ops.softmax_cross_entropy_backward(self._saved()).reshape(self._scores_shape)


class MulticlassHinge(Loss):
    r"""The multiclass SVM (hinge) loss of the courses, mean over the batch:
    :math:`L = \frac1N\sum_n\sum_{j\ne y_n}\max(0, s_{nj} - s_{ny_n} + \Delta)`.

    Subgradient: :math:`1/N` for each class whose margin :math:`m_{nj} = s_{nj} - s_{ny_n} + \Delta`
    is positive, minus their count over :math:`N` for the correct class. PyTorch's
    ``multi_margin_loss`` is this divided by the number of classes :math:`C`.

    Args:
        margin: :math:`\Delta` (default 1).
        scores (to ``forward``): ``(N, C)``; targets: integer labels ``(N,)`` in ``[0, C)``.
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        if not margin >= 0:
            raise ValueError(f"MulticlassHinge: margin must be >= 0, got {margin}")
        self.margin = float(margin)

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        targets = _class_labels("MulticlassHinge", scores, targets)
        if scores.ndim != 2:
            raise ValueError(f"MulticlassHinge: expected scores of shape (N, C), got {scores.shape}")
        loss, self._cache = ops.multiclass_hinge_forward(scores, targets, self.margin)
        return float(loss)

    def backward(self) -> np.ndarray:
        return ops.multiclass_hinge_backward(self._saved())

    def __repr__(self) -> str:
        return f"MulticlassHinge(margin={self.margin})"


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy on logits (sigmoid fused in), mean over all elements.

    :math:`L = \frac1M\sum \max(z,0) - zt + \log(1+e^{-|z|})`;
    :math:`\partial L/\partial z = (\sigma(z) - t)/M`. Targets in ``[0, 1]``, same shape as
    the logits (``(N,)`` or ``(N, K)`` for K independent labels).
    """

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        targets = np.asarray(targets)
        _same_shape("BinaryCrossEntropy", scores, targets)
        if targets.size and (targets.min() < 0 or targets.max() > 1):
            raise ValueError("BinaryCrossEntropy: targets must lie in [0, 1]")
        loss, self._cache = ops.bce_with_logits_forward(scores, targets)
        return float(loss)

    def backward(self) -> np.ndarray:
        return ops.bce_with_logits_backward(self._saved())


class MSE(Loss):
    r"""Mean squared error over all elements: :math:`L = \frac1M\sum(\hat y - t)^2`,
    :math:`\partial L/\partial \hat y = 2(\hat y - t)/M`."""

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        targets = np.asarray(targets)
        _same_shape("MSE", scores, targets)
        loss, self._cache = ops.mse_forward(scores, targets)
        return float(loss)

    def backward(self) -> np.ndarray:
        return ops.mse_backward(self._saved())


# --- losses as the trainer uses them -------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """A loss as a training run uses it (Keras' ``compile(loss=...)``): how to make it, how the
    stored targets become the loss's targets, and how scores become predicted labels.

    Integer labels make a classification: ``cross-entropy`` and ``hinge`` take them as they are;
    ``bce`` and ``mse`` take a one-hot matrix when the scores have a class axis (one-vs-rest), or
    the labels as floats for a single output per sample (then the prediction is ``score >
    threshold``: 0 for logits, 0.5 for a sigmoid's output). Float targets make a regression, judged
    by its loss alone (no accuracy)."""

    make: Callable[[float], Loss]  # label smoothing -> the loss
    float_targets: bool = False  # the loss wants float targets (bce, mse)
    threshold: float | None = None  # a single output's decision threshold

    def targets(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray:
        if not self.float_targets or not np.issubdtype(y.dtype, np.integer):
            return y
        if scores.shape == y.shape or (scores.ndim == y.ndim + 1 and scores.shape[-1] == 1):
            return y.astype(scores.dtype).reshape(scores.shape)
        return np.eye(scores.shape[-1], dtype=scores.dtype)[y]  # one-vs-rest

    def predictions(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """Predicted labels of the shape of ``y`` (``None`` for a regression)."""
        if not np.issubdtype(y.dtype, np.integer):
            return None
        if scores.ndim == y.ndim + 1 and scores.shape[-1] > 1:
            return scores.argmax(axis=-1)
        return (scores.reshape(y.shape) > (self.threshold or 0.0)).astype(y.dtype)

    def accuracy(self, scores: np.ndarray, y: np.ndarray) -> float:
        pred = self.predictions(scores, y)
        return float("nan") if pred is None else float(np.mean(pred == y))


def _no_smoothing(name: str, make: Callable[[], Loss]) -> Callable[[float], Loss]:
    def build(label_smoothing: float) -> Loss:
        if label_smoothing:
            raise ValueError(f"label smoothing applies to the cross-entropy loss, not to {name}")
        return make()

    return build


#: name -> how the trainer uses the loss (``TrainConfig.loss``, ``--loss``)
LOSSES: Registry[Objective] = Registry("loss")
LOSSES.add("cross-entropy", Objective(SoftmaxCrossEntropy),
           "softmax cross-entropy on class scores (label smoothing)")
LOSSES.add("hinge", Objective(_no_smoothing("hinge", MulticlassHinge)), "multiclass SVM hinge loss, margin 1")
LOSSES.add("bce", Objective(_no_smoothing("bce", BinaryCrossEntropy), float_targets=True, threshold=0.0),
           "binary cross-entropy on logits: one-vs-rest for class scores, or one output per sample")
LOSSES.add("mse", Objective(_no_smoothing("mse", MSE), float_targets=True, threshold=0.5),
           "mean squared error: to one-hot targets for class scores, or to float targets (regression)")

__all__ = ["LOSSES", "MSE", "BinaryCrossEntropy", "Loss", "MulticlassHinge", "Objective", "SoftmaxCrossEntropy"]
