r"""Learning-rate schedules: the factor applied to the base rate at iteration ``t`` of ``T``.

* ``constant``: :math:`1`.
* ``step``: :math:`\gamma^{\lfloor e / s\rfloor}` for epoch :math:`e` (``step_epochs`` :math:`s`).
* ``cosine``: :math:`\tfrac12(1 + \cos(\pi\, t/T))`, decaying from 1 to 0.
* ``onecycle``: linear warm-up from ``1/div`` to 1 over the first ``pct`` of training, then
  cosine annealing down to ``1/div_final`` (Smith & Topin's one-cycle policy, learning-rate part).

Any schedule can be preceded by a linear warm-up over ``warmup`` iterations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """``factor(t)`` for iterations ``t = 0 .. total-1``; ``lr_t = base_lr * factor(t)``."""

    kind: str = "constant"
    total: int = 1  # iterations in the whole run
    iters_per_epoch: int = 1
    warmup: int = 0  # iterations of linear warm-up (any kind)
    step_epochs: int = 10
    gamma: float = 0.1
    pct: float = 0.25  # one-cycle: fraction of the run spent rising
    div: float = 25.0  # one-cycle: start at base/div
    div_final: float = 1e3  # one-cycle: end at base/div_final

    KINDS = ("constant", "step", "cosine", "onecycle")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown schedule {self.kind!r}; choose from {', '.join(self.KINDS)}")

    def factor(self, t: int) -> float:
        T = max(self.total, 1)
        if self.kind == "constant":
            f = 1.0
        elif self.kind == "step":
            f = self.gamma ** ((t // max(self.iters_per_epoch, 1)) // max(self.step_epochs, 1))
        elif self.kind == "cosine":
            f = 0.5 * (1.0 + math.cos(math.pi * min(t, T) / T))
        else:  # onecycle
            rise = max(int(self.pct * T), 1)
            if t < rise:
                f = 1.0 / self.div + (1.0 - 1.0 / self.div) * t / rise
            else:
                p = min((t - rise) / max(T - rise, 1), 1.0)
                low = 1.0 / self.div_final
                f = low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * p))
        if t < self.warmup:
            f *= (t + 1) / self.warmup
        return f
