"""The figure of docs/exercises.md section 7: the gradient w.r.t. the logit of a sigmoid output,
cross-entropy vs squared error, for a positive example (y = 1), computed by scratchnet's losses.

    python examples/bce_vs_mse.py docs/figures/bce-vs-mse.png
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from scratchnet.losses import MSE, BinaryCrossEntropy
from scratchnet.ops.activations import sigmoid


def gradients(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/da per logit (one example each, so the mean's 1/M is undone)."""
    y = np.ones_like(a)
    bce, mse = BinaryCrossEntropy(), MSE()
    bce.forward(a, y)
    mse.forward(sigmoid(a), y)
    s = sigmoid(a)
    return bce.backward() * a.size, mse.backward() * a.size * s * (1 - s)  # chain rule through sigma


def main(path: str) -> None:
    a = np.linspace(-10, 10, 401)
    g_bce, g_mse = gradients(a)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(a, g_bce, label=r"cross-entropy: $\sigma(a) - y$")
    ax.plot(a, g_mse, label=r"squared error: $2(\sigma(a) - y)\,\sigma'(a)$")
    ax.axvspan(-10, -3, color="#fdd0a2", alpha=0.4, label="confidently wrong (y = 1, a << 0)")
    ax.set_xlabel("logit a (target y = 1)")
    ax.set_ylabel(r"$\partial L / \partial a$")
    ax.set_title("Gradient through a sigmoid output: MSE vanishes on confident mistakes")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    print(path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bce-vs-mse.png")
