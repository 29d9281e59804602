r"""Loss functions. Each ``*_forward`` returns ``(loss, cache)`` with ``loss`` a 0-d value,
each ``*_backward(cache)`` returns the gradient of that loss w.r.t. the scores.

Softmax cross-entropy (integer labels :math:`y_n`, mean over the batch of :math:`N`, optional label
smoothing :math:`\varepsilon` with :math:`C` classes as in PyTorch):

.. math::
    \log p_{nk} = s_{nk} - \max_j s_{nj} - \log\sum_j e^{s_{nj}-\max_j s_{nj}},\quad
    t_{nk} = (1-\varepsilon)[k=y_n] + \varepsilon/C,

.. math::
    L = -\frac1N\sum_{n,k} t_{nk}\log p_{nk},\qquad
    \frac{\partial L}{\partial s_{nk}} = \frac{p_{nk} - t_{nk}}{N}.

Subtracting the row maximum makes every exponent :math:`\le 0`, so huge logits never overflow.

Binary cross-entropy on logits :math:`z` with targets :math:`t\in[0,1]`, mean over all
:math:`M` elements (sigmoid fused in, stable for any :math:`z`):

.. math::
    L = \frac1M\sum \big(\max(z,0) - z t + \log(1+e^{-|z|})\big),\qquad
    \frac{\partial L}{\partial z} = \frac{\sigma(z) - t}{M}.

Mean squared error, mean over all :math:`M` elements:
:math:`L = \frac1M\sum (\hat y - t)^2`, :math:`\partial L/\partial \hat y = 2(\hat y - t)/M`.

Multiclass hinge (the SVM loss of the courses), margin :math:`\Delta`, mean over the batch:

.. math::
    L = \frac1N\sum_n\sum_{j\ne y_n}\max(0,\ s_{nj} - s_{ny_n} + \Delta),

    \frac{\partial L}{\partial s_{nj}} = \frac{[m_{nj} > 0]}{N}\ (j \ne y_n),\quad
    \frac{\partial L}{\partial s_{ny_n}} = -\frac1N\sum_{j\ne y_n}[m_{nj} > 0]

with :math:`m_{nj} = s_{nj} - s_{ny_n} + \Delta` (a subgradient: 0 where :math:`m = 0`).

Derivations: ``docs/losses.md``.
"""

from __future__ import annotations

import numpy as np

from .activations import sigmoid
from .record import OpRecord


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise ``log(softmax(scores))`` computed stably (shift by the row maximum).

    Equation (2) of ``docs/losses.md``.
    """
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy_forward(
    scores: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
) -> tuple[np.ndarray, tuple]:
    """Mean softmax cross-entropy of ``scores`` ``(N, C)`` against integer ``labels`` ``(N,)``.

    Equations (1) and (2) of ``docs/losses.md``.
    """
    N, C = scores.shape
    logp = log_softmax(scores)
    picked = logp[np.arange(N), labels]
    if label_smoothing:
        per_sample = -(1 - label_smoothing) * picked - label_smoothing / C * logp.sum(axis=1)
    else:
        per_sample = -picked
    return per_sample.mean(), (logp, labels, label_smoothing)


def softmax_cross_entropy_backward(cache: tuple) -> np.ndarray:
    """``dscores = (softmax(scores) - t) / N`` with ``t`` the (smoothed) one-hot targets.

    Equation (3) of ``docs/losses.md``.
    """
    logp, labels, label_smoothing = cache
    N, C = logp.shape
    d = np.exp(logp)
    if label_smoothing:
        d -= np.asarray(label_smoothing / C, dtype=d.dtype)
    d[np.arange(N), labels] -= np.asarray(1 - label_smoothing, dtype=d.dtype)
    d /= np.asarray(N, dtype=d.dtype)
    return d


def bce_with_logits_forward(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``targets`` (same shape).

    Equations (4) and (5) of ``docs/losses.md``.
    """
    z, t = logits, targets.astype(logits.dtype, copy=False)
    per_elem = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return per_elem.mean(), (z, t)


def bce_with_logits_backward(cache: tuple) -> np.ndarray:
    """``dz = (sigmoid(z) - t) / M``.

    Equation (6) of ``docs/losses.md``; equation (2) of ``docs/exercises.md``.
    """
    z, t = cache
    return (sigmoid(z) - t) / np.asarray(z.size, dtype=z.dtype)


def mse_forward(pred: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Mean squared error over all elements.

    Equation (7) of ``docs/losses.md``.
    """
    diff = pred - targets.astype(pred.dtype, copy=False)
    return np.mean(diff * diff), (diff,)


def mse_backward(cache: tuple) -> np.ndarray:
    """``d pred = 2 (pred - targets) / M``.

    Equation (7) of ``docs/losses.md``.
    """
    (diff,) = cache
    return diff * np.asarray(2.0 / diff.size, dtype=diff.dtype)


def multiclass_hinge_forward(scores: np.ndarray, labels: np.ndarray, margin: float = 1.0
                             ) -> tuple[np.ndarray, tuple]:  # fmt: skip
    r"""Mean over the batch of :math:`\sum_{j \ne y} \max(0, s_j - s_y + \Delta)` (:math:`\Delta`
    the margin); the cache is the mask of
    the active margins (the correct class excluded).

    Equation (8) of ``docs/losses.md``.
    """
    N = scores.shape[0]
    rows = np.arange(N)
    m = scores - scores[rows, labels][:, None] + np.asarray(margin, dtype=scores.dtype)
    m[rows, labels] = 0
    active = m > 0
    return np.sum(m, where=active) / N, (active, labels, scores.dtype)


def multiclass_hinge_backward(cache: tuple) -> np.ndarray:
    """``1/N`` for each active margin, ``-count/N`` for the correct class of the row.

    Equation (9) of ``docs/losses.md``.
    """
    active, labels, dtype = cache
    N = active.shape[0]
    d = active.astype(dtype)
    d[np.arange(N), labels] = -active.sum(axis=1)
    d /= np.asarray(N, dtype=dtype)
    return d


RECORDS = (
    OpRecord(name="softmax_cross_entropy", forward=softmax_cross_entropy_forward,
             backward=softmax_cross_entropy_backward, layers=("SoftmaxCrossEntropy",), family="loss",
             docs="losses.md", topic="softmax cross-entropy", helpers=(log_softmax,)),
    OpRecord(name="bce_with_logits", forward=bce_with_logits_forward, backward=bce_with_logits_backward,
             layers=("BinaryCrossEntropy",), family="loss", docs="losses.md", topic="binary cross-entropy"),
    OpRecord(name="mse", forward=mse_forward, backward=mse_backward, layers=("MSE",), family="loss",
             docs="losses.md", topic="mean squared error"),
    OpRecord(name="multiclass_hinge", forward=multiclass_hinge_forward, backward=multiclass_hinge_backward,
             layers=("MulticlassHinge",), family="loss", docs="losses.md", topic="multiclass hinge (SVM)"),
)  # fmt: skip
