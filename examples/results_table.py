"""Print the README's results table from the metrics.json files of finished runs.

python examples/results_table.py runs/fashion-mnist runs/mnist ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def command(cmd: str) -> str:
    """Runs made before the command was recorded as typed: show the CLI form."""
    words = cmd.split()
    if words and words[0].endswith("__main__.py"):
        words[0] = "scratchnet"
    return " ".join(w for w in words if w != "--no-progress")


def row(run: Path) -> str:
    m = json.loads((run / "metrics.json").read_text())
    cfg, machine = m["config"], m["machine"]
    extras = []
    if not cfg["crop_padding"] and not cfg["flip"]:
        extras.append("no augmentation")
    return (
        f"| {m['dataset']} | {m['model']} | `{command(m['command'])}` | "
        f"**{m['test_accuracy']:.2%}** | {m['val_accuracy']:.2%} | {m['epochs_completed']} | "
        f"{m['wall_seconds'] / 60:.1f} min | {machine['cpus']} cores, NumPy {machine['numpy']} |"
    )


def main() -> None:
    print("| dataset | model | command | test accuracy | val accuracy | epochs | wall time | machine |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for arg in sys.argv[1:]:
        print(row(Path(arg)))


if __name__ == "__main__":
    main()
