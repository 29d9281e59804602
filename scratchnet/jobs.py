"""One training as a job: what the trainings of a sweep and of an ensemble share, in this process
or in worker processes (:mod:`scratchnet.parallel`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .experiment import train_run
from .train import TrainConfig, TrainingDiverged


def training_job(dataset: str, run_dir: str, model: str | None, cfg: TrainConfig, kwargs: dict[str, Any]
                 ) -> dict[str, Any]:  # fmt: skip
    """One training of a sweep or an ensemble (a module-level function: it runs in worker
    processes too); a diverged run returns its metrics (status "diverged") instead of raising."""
    try:
        return train_run(dataset, run_dir, model, cfg, **kwargs)
    except TrainingDiverged:
        return json.loads((Path(run_dir) / "metrics.json").read_text())  # status "diverged"
