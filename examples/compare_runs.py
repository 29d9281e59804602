"""One figure comparing runs: smoothed training loss per iteration and accuracy per epoch.

python examples/compare_runs.py OUT.png runs/mnist-regularised runs/mnist-plain
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from scratchnet.viz import smooth


def main() -> None:
    out, runs = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, run in enumerate(runs):
        metrics = json.loads((run / "metrics.json").read_text())
        cfg = metrics["config"]
        words = metrics["command"].split()
        dropout = metrics.get("dropout")
        if dropout is None and "--dropout" in words:
            dropout = words[words.index("--dropout") + 1]
        label = f"{run.name}: dropout {dropout}, weight decay {cfg['weight_decay']:g}"
        with open(run / "history.csv") as f:
            rows = list(csv.DictReader(f))
        it = [int(float(r["iteration"])) for r in rows]
        loss = [float(r["loss"]) for r in rows]
        ax_loss.plot(it, smooth(loss), color=f"C{i}", label=label)
        ep = [e["epoch"] for e in metrics["epochs"]]
        train_err = [max(1 - e["train_accuracy"], 1e-5) for e in metrics["epochs"]]  # 0 -> 1e-5 on a log axis
        ax_acc.plot(
            ep, train_err, "--", color=f"C{i}", label=f"{run.name}: training error (running, floor 1e-5)"
        )
        ax_acc.plot(ep, [1 - e["val_accuracy"] for e in metrics["epochs"]], "-o", ms=3, color=f"C{i}",
                    label=f"{run.name}: validation error")  # fmt: skip
    ax_loss.set(xlabel="iteration", ylabel="training loss (smoothed)", yscale="log", title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="classification error", yscale="log", title="error per epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
