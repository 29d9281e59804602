"""The losses, each one call ``loss, dx = f(x, y)``: softmax cross-entropy, binary cross-entropy on
logits, mean squared error, the multiclass hinge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...losses import MSE, BinaryCrossEntropy, MulticlassHinge, SoftmaxCrossEntropy
from ..spec import Arrays, Mistake, OpSpec, times


def softmax_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.standard_normal((N, C)) * scale, "y": rng.integers(0, C, N)}
            for N, C, scale in [(5, 4, 1.0), (8, 10, 3.0), (1, 3, 1.0), (6, 5, 50.0)]]  # fmt: skip


def loss_expected(make: Callable[[], Any], target: str = "y") -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        loss = make()
        return {"loss": np.asarray(loss.forward(case["x"], case[target])), "dx": loss.backward()}

    return expected


def binary_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.standard_normal(s) * 2, "y": rng.integers(0, 2, s).astype(float)}
            for s in [(6,), (4, 3), (1,), (5, 2)]]  # fmt: skip


def regression_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.standard_normal(s), "y": rng.standard_normal(s)} for s in [(6,), (4, 3), (2, 5, 2)]]


def _hinge_counted_correct(c):
    """The correct class left in the sum: each row adds max(0, margin) = 1 to the loss."""
    return {"loss": np.asarray(HINGE(c)["loss"] + 1.0)}


SOFTMAX = loss_expected(SoftmaxCrossEntropy)


BCE = loss_expected(BinaryCrossEntropy)


MSE_ = loss_expected(MSE)


HINGE = loss_expected(MulticlassHinge)


def loss(*, name: str, about: str, cases: Any, expected: Any, signature: str, equations: str, layer: str,
         mistakes: tuple[Mistake, ...]) -> OpSpec:  # fmt: skip
    """The spec of a loss: one call ``loss, dx = f(x, y)``, both results from it."""
    return OpSpec(name=name, about=about, results=("loss", "dx"), cases=cases, expected=expected,
                  signature=signature, equations=equations, doc="docs/losses.md", layer=layer,
                  mistakes=mistakes, forward_results=2)  # fmt: skip


def _per_batch(expected: Any, dx_says: str = "") -> tuple[Mistake, Mistake]:
    """The two mistakes of a loss averaged over the batch: dx not divided (``dx_says``: what the
    message adds), loss summed."""
    return (Mistake("gradient not divided by N", "your dx is N times too large: the loss is a mean over the "
                    "batch" + dx_says, times("dx", lambda c: len(c["x"]), expected)),
            Mistake("loss summed, not averaged", "your loss is the sum over the batch: the mean is expected",
                    times("loss", lambda c: len(c["x"]), expected)))  # fmt: skip


def _bce_without_sigmoid(c):
    return {"dx": (c["x"] - c["y"]) / c["x"].size}


SPECS = (
    loss(name="softmax-ce", about="softmax cross-entropy, mean over the batch", cases=softmax_cases,
         expected=SOFTMAX,
         signature="loss, dx = softmax_loss(x, y)    # x (N, C) scores, y (N,) integer labels",
         equations="p = softmax(x) (subtract each row's max first); loss = -mean(log p[n, y[n]]); "
                   "dx = (p - onehot(y)) / N",
         layer="SoftmaxCrossEntropy", mistakes=_per_batch(SOFTMAX, ", so dx = (p - onehot(y)) / N")),
    loss(name="bce", about="binary cross-entropy on logits (sigmoid inside), mean over all elements",
         cases=binary_cases, expected=BCE,
         signature="loss, dx = bce_loss(x, y)    # x logits of any shape, y targets in [0, 1] of the "
                   "same shape",
         equations="loss = mean(max(x, 0) - x*y + log(1 + exp(-|x|))); dx = (sigmoid(x) - y) / x.size",
         layer="BinaryCrossEntropy",
         mistakes=(Mistake("gradient not divided by the number of elements", "your dx is x.size times too "
                           "large: dx = (sigmoid(x) - y) / x.size", times("dx", lambda c: c["x"].size, BCE)),
                   Mistake("sigmoid left out of the gradient", "your dx is (x - y) / x.size: the logits go "
                           "through the sigmoid, dx = (sigmoid(x) - y) / x.size", _bce_without_sigmoid))),
    loss(name="mse", about="mean squared error over all elements", cases=regression_cases, expected=MSE_,
         signature="loss, dx = mse_loss(x, y)    # x predictions, y targets, same shape",
         equations="loss = mean((x - y)**2); dx = 2 * (x - y) / x.size", layer="MSE",
         mistakes=(Mistake("gradient not divided by the number of elements", "your dx is x.size times too "
                           "large: dx = 2 (x - y) / x.size", times("dx", lambda c: c["x"].size, MSE_)),
                   Mistake("factor 2 missing", "your dx is half the gradient: d/dx (x - y)**2 = 2 (x - y) (if "
                           "your course's loss has a 1/2 in front, it is the loss that should have it)",
                           times("dx", lambda c: 0.5, MSE_)))),
    loss(name="hinge", about="the multiclass SVM (hinge) loss, margin 1, mean over the batch",
         cases=softmax_cases, expected=HINGE,
         signature="loss, dx = svm_loss(x, y)    # x (N, C) scores, y (N,) integer labels",
         equations="margins = max(0, x - x[n, y[n]] + 1) for j != y[n]; loss = margins.sum() / N; "
                   "dx[n, j] = (margin > 0) / N, dx[n, y[n]] = -(number of positive margins) / N",
         layer="MulticlassHinge",
         mistakes=(*_per_batch(HINGE), Mistake("the correct class counted", "your loss is 1 higher: the sum "
                   "runs over j != y[n] (the correct class's own margin is always 1)",
                   _hinge_counted_correct))),
)  # fmt: skip
