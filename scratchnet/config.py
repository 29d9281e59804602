"""``TrainConfig``: every hyper-parameter of a training run (saved in checkpoints and
``metrics.json``), and the optimizer it names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from .losses import LOSSES
from .optim import OPTIMIZERS, Lookahead, Optimizer
from .schedules import SCHEDULES


def option(default: Any, help: str, **cli: Any) -> Any:
    """A field of :class:`TrainConfig` with its help text: the command line's option ``--name``
    (dashes for underscores) is generated from it (:func:`scratchnet.cli.add_config_options`).
    ``cli``: ``choices`` (a registry whose names are allowed), ``type`` (when the default is
    ``None``), ``command_line=False`` (set by each command itself, as ``lr``)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Hyper-parameters of a run (all saved in the checkpoint and ``metrics.json``); each field's
    help is that of its command-line option."""

    epochs: int = option(10, "passes over the training set")
    batch_size: int = option(128, "images per optimizer step")
    lr: float = option(0.05, "the learning rate (the peak of a one-cycle schedule)", command_line=False)
    optimizer: str = option("sgd", "the update rule", choices=OPTIMIZERS)
    momentum: float = option(0.9, "momentum (SGD, RMSprop)")
    nesterov: bool = option(True, "Nesterov momentum (SGD)")
    weight_decay: float = option(5e-4, "L2 penalty on the weights (decoupled for adamw)")
    schedule: str = option("onecycle", "learning-rate schedule over the run", choices=SCHEDULES)
    warmup_epochs: float = option(0.0, "epochs of linear warm-up of the rate")
    step_epochs: int = option(10, "the step schedule: epochs between two decays")
    gamma: float = option(0.1, "the step schedule: the factor of each decay")
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy (0: none)")
    crop_padding: int = option(0, "random crops of the image padded by this many pixels (0: none)")
    flip: bool = option(False, "mirror training images at random")
    val_size: int = option(5000, "validation images carved from the training set (with --limit: a tenth of "
                                 "the limit)")  # fmt: skip
    patience: int = option(0, "early stopping after this many epochs without a better validation accuracy "
                              "(0: off)")  # fmt: skip
    seed: int = option(0, "seed of initialisation, batch order and augmentation")
    eval_batch_size: int = option(250, "images per evaluation batch")
    clip_norm: float | None = option(None, "clip gradients to this global L2 norm (none if unset)", type=float)
    shards: int = option(2, "split each batch into this many data-parallel shards, run at once (1: the model "
                            "alone, BLAS on every core)")  # fmt: skip
    shard_processes: bool = option(True, "on Linux, run the shards after the first in forked processes when "
                                         "each has a core (no interpreter lock between them; the same "
                                         "result as threads)")  # fmt: skip
    flip_tta: bool = option(False, "evaluate on each image and its mirror image (test-time augmentation)")
    val_every: int = option(1, "validate every N epochs and after the last (0: only after the last)")
    loss: str = option("cross-entropy", "what to minimise (`scratchnet names` describes each)", choices=LOSSES)
    alternate_flips: bool = option(False, "with --flip: mirror each training image every other epoch "
                                          "instead of at random")  # fmt: skip
    tta_shifts: int = option(0, "test-time augmentation: also average over the views shifted by this many "
                                "pixels")  # fmt: skip
    lookahead: float = option(0.0, "Lookahead: every --lookahead-every steps the slow weights move this "
                                   "fraction toward the fast ones (0: off)")  # fmt: skip
    lookahead_every: int = option(5, "Lookahead: steps between two moves of the slow weights")
    accumulate: int = option(1, "gradient accumulation: each batch run as this many micro-batches, "
                                "their gradients summed into one step (less memory; 1: off)")  # fmt: skip

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
