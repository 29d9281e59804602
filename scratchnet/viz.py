"""Figures (matplotlib, written as PNG files; no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def MaxNLocator(**kw):
    from matplotlib.ticker import MaxNLocator as _Locator

    return _Locator(**kw)


def smooth(values: Sequence[float], weight: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average (what TensorBoard's smoothing slider does)."""
    out = np.empty(len(values))
    avg = 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of samples of class ``i`` predicted as ``j``."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def plot_loss(iterations: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> None:
    """Training loss per iteration, raw and smoothed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    it, loss = np.asarray(iterations["iteration"]), np.asarray(iterations["loss"])
    ax.plot(it, loss, lw=0.5, alpha=0.35, color="C0", label="per iteration")
    ax.plot(it, smooth(loss), lw=1.8, color="C0", label="smoothed (EMA 0.98)")
    ax.set(xlabel="iteration", ylabel="training loss", title=title or "training loss", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy(epochs: list[dict[str, float]], path: str | os.PathLike, title: str = "") -> None:
    """Train / validation / test accuracy per epoch."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ep = [e["epoch"] for e in epochs]
    for key, label in (("train_accuracy", "train (running, augmented)"), ("val_accuracy", "validation"),
                       ("test_accuracy", "test")):  # fmt: skip
        vals = [e.get(key, np.nan) for e in epochs]
        if not np.all(np.isnan(vals)):
            ax.plot(ep, vals, marker="o", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel="accuracy", title=title or "accuracy per epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = "") -> None:
    """Confusion matrix with counts, rows = true class, columns = predicted class."""
    plt = _plt()
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.65 * k, 0.8 + 0.6 * k))
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
    plt.close(fig)


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
    plt = _plt()
    wrong = np.flatnonzero(y_true != y_pred)[:n]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.7, rows * 1.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        img, cmap = _as_image(x[i])
        ax.imshow(img, cmap=cmap)
        ax.set_title(f"{classes[y_true[i]]}\n-> {classes[y_pred[i]]}", fontsize=7)
    fig.suptitle(f"misclassified test images ({len(np.flatnonzero(y_true != y_pred))} in all)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_filters(w: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    """The first conv layer's kernels ``(C_out, C_in, kH, kW)``: RGB if ``C_in == 3``, else the
    first input channel in gray, each kernel scaled to its own range."""
    plt = _plt()
    n = w.shape[0]
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.0, rows * 1.0), squeeze=False)
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
    plt.close(fig)


def plot_sweep(runs: dict[str, dict[str, list[float]]], path: str | os.PathLike, title: str = "") -> None:
    """Training classification error (1 - batch accuracy, smoothed) per iteration, one line per run."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.8))
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
    plt.close(fig)


def plot_ensemble(member_accuracy: Sequence[float], accuracy_by_size: Sequence[float],
                  labels: Sequence[str], path: str | os.PathLike, title: str = "") -> None:  # fmt: skip
    """Test accuracy of each member (bars), of the ensemble of the first k members (line) and
    of the best member (dashed)."""
    plt = _plt()
    k = np.arange(1, len(member_accuracy) + 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(k) + 3), 4.5))
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
    plt.close(fig)
