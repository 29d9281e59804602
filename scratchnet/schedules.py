r"""Learning-rate schedules: the factor applied to the base rate at iteration ``t`` of ``T``.

* ``constant``: :math:`1`.
* ``step``: :math:`\gamma^{\lfloor e / s\rfloor}` for epoch :math:`e` (``step_epochs`` :math:`s`).
* ``cosine``: :math:`\tfrac12(1 + \cos(\pi\, t/T))`, decaying from 1 to 0.
* ``onecycle``: linear warm-up from ``1/div`` to 1 over the first ``pct`` of training, then
  cosine annealing down to ``1/div_final`` (Smith & Topin's one-cycle policy, learning-rate part).
* ``linear``: :math:`1 - t/T`, a straight line from 1 down to 0 (with a warm-up: the triangle of
  the CIFAR-10 speedruns).

Any schedule can be preceded by a linear warm-up over ``warmup`` iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .registry import Registry


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

    def __post_init__(self) -> None:
        SCHEDULES.get(self.kind)  # validates the name

    def factor(self, t: int) -> float:
        f = SCHEDULES.get(self.kind)(self, t)
        if t < self.warmup:
            f *= (t + 1) / self.warmup
        return f


FactorFn = Callable[[Schedule, int], float]
SCHEDULES: Registry[FactorFn] = Registry("schedule")


@SCHEDULES.register("constant", "the same rate throughout")
def _constant(s: Schedule, t: int) -> float:
    return 1.0


@SCHEDULES.register("step", "multiply by gamma every step_epochs epochs")
def _step(s: Schedule, t: int) -> float:
    return s.gamma ** ((t // max(s.iters_per_epoch, 1)) // max(s.step_epochs, 1))


@SCHEDULES.register("cosine", "cosine decay from the base rate to 0")
def _cosine(s: Schedule, t: int) -> float:
    T = max(s.total, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(t, T) / T))


@SCHEDULES.register("linear", "straight down from the base rate to 0 (with --warmup-epochs: a triangle)")
def _linear(s: Schedule, t: int) -> float:
    T = max(s.total, 1)
    return max(0.0, 1.0 - min(t, T) / T)


@SCHEDULES.register("onecycle", "linear warm-up from base/25 over 25% of the run, cosine down to base/1000")
def _onecycle(s: Schedule, t: int) -> float:
    T = max(s.total, 1)
    rise = max(int(s.pct * T), 1)
    if t < rise:
        return 1.0 / s.div + (1.0 - 1.0 / s.div) * t / rise
    p = min((t - rise) / max(T - rise, 1), 1.0)
    low = 1.0 / s.div_final
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * p))


class LRScheduler:
    """Steps an optimizer's learning rate along a schedule, as PyTorch's schedulers do:
    ``lr = base_lr * schedule.factor(t)``, ``base_lr`` the optimizer's rate when the scheduler is
    made, ``t`` the number of ``step()`` calls (one per optimizer step)::

        opt = SGD(model, lr=0.1, momentum=0.9)
        sched = LRScheduler(opt, "cosine", total=epochs * batches)
        for ...:
            ...; opt.step(); sched.step()

    ``schedule``: a :class:`Schedule`, or the name of one (``SCHEDULES``) with ``total`` and its
    other fields as keywords (``warmup=``, ``pct=``, ...). ``base_lr`` and ``start``: the rate to
    scale and the step to start at, for a run that continues (default: the optimizer's rate, 0).
    The ``Trainer`` steps one from its ``cfg.schedule``."""

    def __init__(self, optimizer: object, schedule: Schedule | str, total: int | None = None, *,
                 base_lr: float | None = None, start: int = 0, **fields: object) -> None:  # fmt: skip
        if isinstance(schedule, str):
            if total is None:
                raise ValueError(f"LRScheduler: schedule {schedule!r} needs total= (the number of steps)")
            schedule = Schedule(schedule, total=total, **fields)  # type: ignore[arg-type]
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"LRScheduler: {optimizer!r} has no learning rate (lr) to schedule")
        self.optimizer, self.schedule = optimizer, schedule
        self.base_lr = float(optimizer.lr if base_lr is None else base_lr)  # type: ignore[attr-defined]
        self.t = start
        optimizer.lr = self.base_lr * schedule.factor(start)  # type: ignore[attr-defined]

    def step(self) -> float:
        """Move to the next step's rate; returns it."""
        self.t += 1
        self.optimizer.lr = self.base_lr * self.schedule.factor(self.t)  # type: ignore[attr-defined]
        return self.optimizer.lr  # type: ignore[attr-defined]
