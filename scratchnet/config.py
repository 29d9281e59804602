"""``TrainConfig``: every hyper-parameter of a training run (saved in checkpoints and
``metrics.json``), and the optimizer it names."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from .losses import LOSSES
from .optim import OPTIMIZERS, Lookahead, Optimizer
from .schedules import SCHEDULES


@dataclass
class TrainConfig:
    """Hyper-parameters of a run (all saved in the checkpoint and ``metrics.json``)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    optimizer: str = "sgd"  # sgd | adam | adamw
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"  # constant | step | cosine | onecycle
    warmup_epochs: float = 0.0
    step_epochs: int = 10
    gamma: float = 0.1
    label_smoothing: float = 0.0
    crop_padding: int = 0
    flip: bool = False
    val_size: int = 5000
    patience: int = 0  # early stopping: epochs without a better validation accuracy; 0 = off
    seed: int = 0
    eval_batch_size: int = 250
    clip_norm: float | None = None  # clip gradients to this global norm (None: no clipping)
    shards: int = 2  # data-parallel shards per batch (scratchnet.data_parallel); 1: the model alone
    flip_tta: bool = False  # evaluate on each image and its mirror image (mean of the scores)
    val_every: int = 1  # validate every N epochs and after the last one (0: only after the last)
    loss: str = "cross-entropy"  # a name of scratchnet.losses.LOSSES: cross-entropy | hinge | bce | mse
    alternate_flips: bool = False  # with flip: each image mirrored every other epoch (derandomised)
    tta_shifts: int = 0  # test-time augmentation: also average over translations by this many pixels
    lookahead: float = 0.0  # Lookahead's step toward the fast weights every lookahead_every steps (0: off)
    lookahead_every: int = 5
    accumulate: int = 1  # micro-batches per optimizer step, their gradients summed (1: one pass, one step)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if self.val_every < 0:
            raise ValueError(f"val_every must be >= 0, got {self.val_every}")
        if self.shards < 1:
            raise ValueError(f"shards must be >= 1, got {self.shards}")
        if not 1 <= self.accumulate <= self.batch_size:
            raise ValueError(f"accumulate must be between 1 and the batch size, got {self.accumulate}")
        if not 0 <= self.lookahead <= 1 or self.lookahead_every < 1 or self.tta_shifts < 0:
            raise ValueError("lookahead must be in [0, 1], lookahead_every >= 1 and tta_shifts >= 0")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        OPTIMIZERS.get(self.optimizer)  # validates the names
        SCHEDULES.get(self.schedule)
        LOSSES.get(self.loss).make(self.label_smoothing)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})






def make_optimizer(cfg: TrainConfig, params: list) -> Optimizer:
    """The optimizer named by ``cfg.optimizer`` (see :data:`scratchnet.optim.OPTIMIZERS`), wrapped
    in :class:`~scratchnet.optim.Lookahead` when ``cfg.lookahead`` is set."""
    factory = OPTIMIZERS.get(cfg.optimizer)
    opt = factory(params, cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay,
                  clip_norm=cfg.clip_norm)  # fmt: skip
    return Lookahead(opt, cfg.lookahead, cfg.lookahead_every) if cfg.lookahead else opt
