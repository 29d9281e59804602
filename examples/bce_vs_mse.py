"""The figure of docs/exercises.md section 7: the gradient w.r.t. the logit of a sigmoid output,
cross-entropy vs squared error, for a positive example (y = 1), computed by scratchnet's losses
(:func:`scratchnet.viz.plot_bce_vs_mse`).

    python examples/bce_vs_mse.py docs/figures/bce-vs-mse.png
"""

from __future__ import annotations

import sys

from scratchnet.viz import plot_bce_vs_mse

if __name__ == "__main__":
    print(plot_bce_vs_mse(sys.argv[1] if len(sys.argv) > 1 else "bce-vs-mse.png"))
