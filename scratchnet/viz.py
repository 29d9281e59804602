"""Figures (matplotlib, written as PNG files; no display needed).

Every figure is a :class:`matplotlib.figure.Figure` of its own with an Agg canvas (:func:`_subplots`):
pyplot is never imported here and the user's backend is never changed, so a notebook's own
``plt.show()`` still displays after the library has drawn its files."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


def _subplots(rows: int = 1, cols: int = 1, **kw):
    """``pyplot.subplots`` without pyplot: a figure of its own (no global state, no backend
    switched), drawn by an Agg canvas for ``savefig``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    squeeze = kw.pop("squeeze", True)
    fig = Figure(figsize=kw.pop("figsize", None))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=squeeze, **kw)


def MaxNLocator(**kw):
    from matplotlib.ticker import MaxNLocator as _Locator

    return _Locator(**kw)


def smoothing_window(n: int) -> int:
    """The window of :func:`smooth` for a curve of ``n`` points: about a 25th of the run (odd,
    between 1 and 201), so a short run is not flattened into a lagging line."""
    return int(min(max(n // 25, 1), 201)) | 1


def smooth(values: Sequence[float], window: int | None = None, log: bool = False) -> np.ndarray:
    """Centred moving average over ``window`` points (default :func:`smoothing_window`), shrunk at
    the ends: unlike an exponential average it does not lag behind a falling curve. With
    ``log=True`` the average is taken of the logarithms (a geometric mean: the right average for
    a loss drawn on a log scale, where one spike would otherwise lift the whole window)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    w = smoothing_window(v.size) if window is None else max(int(window), 1)
    a = np.log(np.maximum(v, 1e-12)) if log else v
    c = np.concatenate([[0.0], np.cumsum(a)])
    half = w // 2
    i = np.arange(v.size)
    lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, v.size)
    out = (c[hi] - c[lo]) / (hi - lo)
    return np.exp(out) if log else out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of samples of class ``i`` predicted as ``j``."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def plot_loss(iterations: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> None:
    """Training loss per iteration, raw and smoothed."""
    fig, ax = _subplots(figsize=(8, 4.5))
    it, loss = np.asarray(iterations["iteration"]), np.asarray(iterations["loss"], dtype=np.float64)
    keep = np.isfinite(loss) & (loss > 0)
    it, loss = it[keep], loss[keep]
    ax.plot(it, loss, lw=0.5, alpha=0.35, color="C0", marker="o" if len(loss) < 3 else None,
            label="per iteration")  # fmt: skip
    w = smoothing_window(len(loss))
    if len(loss) >= 3:
        ax.plot(it, smooth(loss, w, log=True), lw=1.8, color="C0",
                label=f"smoothed (centred mean of {w} iterations)")  # fmt: skip
    log_scale = len(loss) >= 2 and loss.max() > loss.min()
    ax.set(xlabel="iteration", ylabel="training loss", title=title or "training loss",
           yscale="log" if log_scale else "linear")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def epoch_positions(iterations: dict[str, list[float]]) -> np.ndarray:
    """Each iteration's position in epochs: iteration ``k`` of ``n`` in epoch ``e`` (0-based) is at
    ``e + (k + 1) / n``, so epoch ``e``'s last step lands on ``e + 1``, where its record is drawn."""
    ep = np.asarray(iterations["epoch"], dtype=np.int64)
    if ep.size == 0:
        return np.zeros(0)
    counts = np.bincount(ep)
    starts = np.concatenate([[0], np.cumsum(counts)])[ep]
    return ep + (np.arange(ep.size) - starts + 1) / counts[ep]


def plot_accuracy(epochs: list[dict[str, float]], path: str | os.PathLike, title: str = "",
                  iterations: dict[str, list[float]] | None = None) -> None:  # fmt: skip
    """Accuracy over the run: the training batches' accuracy (smoothed, per iteration, if
    ``iterations`` are given), each epoch's mean training accuracy, and the validation and test
    accuracies where they were measured (labelled with their values: a run that validates only
    after its last epoch has one such point)."""
    fig, ax = _subplots(figsize=(7.5, 4.5))
    if iterations is not None and iterations.get("accuracy"):
        x, acc = epoch_positions(iterations), np.asarray(iterations["accuracy"])
        ax.plot(x, acc, lw=0.4, alpha=0.25, color="C0")
        ax.plot(x, smooth(acc), lw=1.2, color="C0", alpha=0.8, label="training batches (smoothed)")
    ep = [e["epoch"] for e in epochs]
    train = [e.get("train_accuracy", np.nan) for e in epochs]
    ax.plot(ep, train, marker="o", ms=4, color="C0", lw=0 if iterations else 1.5,
            label="training, mean of each epoch (augmented)")  # fmt: skip
    for key, label, colour in (("val_accuracy", "validation", "C1"), ("test_accuracy", "test", "C2")):
        points = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None and not np.isnan(e[key])]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="s" if key == "val_accuracy" else "D", ms=6, color=colour, label=label,
                    lw=1.5 if len(points) > 1 else 0)  # fmt: skip
            x_last, y_last = points[-1]
            ax.annotate(f"{label} {y_last:.4f}", (x_last, y_last), textcoords="offset points",
                        xytext=(-8, -14 if key == "test_accuracy" else 8), ha="right", fontsize=8, color=colour)
    ax.set(xlabel="epoch", ylabel="accuracy", title=title or "accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = "") -> None:
    """Confusion matrix with counts, rows = true class, columns = predicted class."""
    k = len(classes)
    fig, ax = _subplots(figsize=(1.0 + 0.65 * k, 0.8 + 0.6 * k))
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix (test)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _as_image(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, H, W) -> something imshow takes, and its colormap."""
    if img.shape[0] == 1:
        return img[0], "gray"
    return np.moveaxis(img, 0, -1), None


def plot_misclassified(
    x: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str],
    path: str | os.PathLike, n: int = 36,
) -> None:  # fmt: skip
    """A grid of the first ``n`` misclassified test images, titled ``true -> predicted``."""
    wrong = np.flatnonzero(y_true != y_pred)[:n]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = _subplots(rows, cols, figsize=(cols * 1.7, rows * 1.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        img, cmap = _as_image(x[i])
        ax.imshow(img, cmap=cmap)
        ax.set_title(f"{classes[y_true[i]]}\n-> {classes[y_pred[i]]}", fontsize=7)
    fig.suptitle(f"misclassified test images ({len(np.flatnonzero(y_true != y_pred))} in all)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_filters(w: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    """The first conv layer's kernels ``(C_out, C_in, kH, kW)``: RGB if ``C_in == 3``, else the
    first input channel in gray, each kernel scaled to its own range."""
    n = w.shape[0]
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = _subplots(rows, cols, figsize=(cols * 1.0, rows * 1.0), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, k in zip(axes.flat, w, strict=False):
        k = k.astype(np.float64)
        k = (k - k.min()) / max(k.max() - k.min(), 1e-12)
        img, cmap = _as_image(k if k.shape[0] == 3 else k[:1])
        ax.imshow(img, cmap=cmap, interpolation="nearest")
    fig.suptitle(title or f"first-layer filters {tuple(w.shape)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_sweep(runs: dict[str, dict[str, list[float]]], path: str | os.PathLike, title: str = "") -> None:
    """Training classification error (1 - batch accuracy, smoothed) per iteration, one line per run."""
    fig, ax = _subplots(figsize=(8, 4.8))
    for i, (label, it) in enumerate(runs.items()):
        err = 1.0 - np.asarray(it["accuracy"])
        ax.plot(it["iteration"], err, lw=0.4, alpha=0.25, color=f"C{i}")
        ax.plot(it["iteration"], smooth(err), lw=1.6, color=f"C{i}", label=label)
    ax.set(xlabel="iteration", ylabel="training classification error", yscale="log",
           title=title or "learning-rate sweep")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_ensemble(member_accuracy: Sequence[float], accuracy_by_size: Sequence[float],
                  labels: Sequence[str], path: str | os.PathLike, title: str = "") -> None:  # fmt: skip
    """Test accuracy of each member (bars), of the ensemble of the first k members (line) and
    of the best member (dashed)."""
    k = np.arange(1, len(member_accuracy) + 1)
    fig, ax = _subplots(figsize=(max(5.0, 0.9 * len(k) + 3), 4.5))
    bars = ax.bar(k, member_accuracy, width=0.6, color="C0", alpha=0.55, label="member alone")
    ax.bar_label(bars, labels=[f"{a:.4f}" for a in member_accuracy], fontsize=7, padding=2)
    ax.plot(k, accuracy_by_size, "o-", color="C3", lw=2, label="ensemble of the first k members")
    ax.axhline(max(member_accuracy), color="k", ls="--", lw=1, label=f"best member {max(member_accuracy):.4f}")
    ax.annotate(f"{accuracy_by_size[-1]:.4f}", (k[-1], accuracy_by_size[-1]), textcoords="offset points",
                xytext=(0, 8), ha="center", color="C3", fontsize=8)  # fmt: skip
    low = min(*member_accuracy, *accuracy_by_size)
    high = max(*member_accuracy, *accuracy_by_size)
    ax.set_ylim(low - 0.6 * (high - low + 1e-3), high + 1.0 * (high - low + 1e-3))
    ax.set_xticks(k, list(labels), fontsize=7)
    ax.set(xlabel="members, in the order they are added", ylabel="test accuracy", title=title or "ensemble")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def sigmoid_output_gradients(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dL/da`` per logit ``a`` of a sigmoid output with target 1, for binary cross-entropy
    (``sigmoid(a) - 1``) and squared error (``2 (sigmoid(a) - 1) sigmoid'(a)``), computed by the
    library's losses (one example each: the mean's ``1/M`` is undone)."""
    from .losses import MSE, BinaryCrossEntropy
    from .ops.activations import sigmoid

    y, s = np.ones_like(a), sigmoid(a)
    bce, mse = BinaryCrossEntropy(), MSE()
    bce.forward(a, y)
    mse.forward(s, y)
    return bce.backward() * a.size, mse.backward() * a.size * s * (1 - s)  # chain rule through sigma


def plot_bce_vs_mse(path: str | os.PathLike) -> os.PathLike:
    """The gradient through a sigmoid output over the logits, cross-entropy vs squared error
    (``docs/exercises.md`` section 7); returns ``path``."""
    a = np.linspace(-10, 10, 401)
    g_bce, g_mse = sigmoid_output_gradients(a)
    fig, ax = _subplots(figsize=(7, 4))
    ax.plot(a, g_bce, label=r"cross-entropy: $\sigma(a) - y$")
    ax.plot(a, g_mse, label=r"squared error: $2(\sigma(a) - y)\,\sigma'(a)$")
    ax.axvspan(-10, -3, color="#fdd0a2", alpha=0.4, label="confidently wrong (y = 1, a << 0)")
    ax.set(xlabel="logit a (target y = 1)", ylabel=r"$\partial L / \partial a$",
           title="Gradient through a sigmoid output: MSE vanishes on confident mistakes")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    return path
