r"""Ensembles of classifiers: soft voting (mean of probabilities), hard voting, optional weights.

With members :math:`f_1 \dots f_K`, weights :math:`w_k \ge 0` (default equal) and
:math:`p_k(x) = \operatorname{softmax}(f_k(x))`:

* soft voting: :math:`\hat p(x) = \sum_k w_k\, p_k(x) / \sum_k w_k`, prediction
  :math:`\arg\max_c \hat p_c(x)`;
* hard voting: each member votes for its :math:`\arg\max`; the class with the largest total weight
  wins (ties: the smallest class index).

Saved as a directory: one ``member-<k>.npz`` per member (the model's arrays, no pickle) and a
``manifest.json`` naming each member's zoo model, its build arguments, its input normalisation and
weight, and what the ensemble was trained on (``meta``: dataset, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import Normalizer
from .io import atomic_write_bytes
from .model import Sequential
from .ops.activations import softmax

MANIFEST = "manifest.json"


class Ensemble:
    """Several trained models voting on the same inputs.

    Args:
        members: the models (``Sequential``), class scores on the last axis.
        weights: one non-negative weight per member (default: equal).
        voting: ``"soft"`` (mean of probabilities) or ``"hard"`` (majority of predicted labels).
        specs: how to rebuild each member (``{"name": zoo model, "kwargs": {...}}``), for ``save``.
        transform: applied to every batch before the members see it (e.g. a ``Normalizer``), or
            one per member (members trained on different samples normalise differently).
        meta: free-form facts saved in the manifest (e.g. ``{"dataset": "mnist"}``).
    """

    def __init__(
        self,
        members: Sequence[Sequential],
        weights: Sequence[float] | None = None,
        voting: str = "soft",
        *,
        specs: Sequence[dict[str, Any]] | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | Sequence[Callable | None] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if not members:
            raise ValueError("Ensemble: needs at least one member")
        if voting not in ("soft", "hard"):
            raise ValueError(f"Ensemble: voting must be 'soft' or 'hard', got {voting!r}")
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(members),) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(
                f"Ensemble: need {len(members)} non-negative weights with a positive sum, got {weights}"
            )
        self.members, self.weights, self.voting = list(members), w, voting
        self.specs = list(specs) if specs is not None else None
        per_member = isinstance(transform, (list, tuple))
        self.transforms = list(transform) if per_member else [transform] * len(self.members)
        if len(self.transforms) != len(self.members):
            raise ValueError(f"Ensemble: {len(self.members)} members but {len(self.transforms)} transforms")
        self.meta = dict(meta or {})

    def member_probabilities(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """``(K, N, C)``: each member's class probabilities."""
        return np.stack([softmax(m.predict(x, batch_size, t).astype(np.float64))
                         for m, t in zip(self.members, self.transforms, strict=True)])  # fmt: skip

    def _combine(self, probs: np.ndarray, k: int | None = None) -> np.ndarray:
        """The vote of the first ``k`` members (all by default) from their ``(K, N, C)``
        probabilities: weighted mean of probabilities (soft) or of one-hot votes (hard)."""
        probs, w = probs[:k], self.weights[:k]
        if self.voting == "hard":
            probs = np.eye(probs.shape[-1])[probs.argmax(axis=-1)]  # (K, N, C) one-hot votes
        return np.tensordot(w / w.sum(), probs, axes=1)

    def predict_proba(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """``(N, C)``: the weighted mean of the members' probabilities (soft), or the weighted
        fraction of votes per class (hard)."""
        return self._combine(self.member_probabilities(x, batch_size))

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted labels ``(N,)``."""
        return self.predict_proba(x, batch_size).argmax(axis=-1)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> dict[str, Any]:
        """Accuracy of the ensemble, of every member, and of the ensembles of the first
        ``k = 1..K`` members (how accuracy grows as members are added); ``predictions``: the
        ensemble's labels."""
        probs = self.member_probabilities(x, batch_size)
        member_acc = [float(np.mean(p.argmax(-1) == y)) for p in probs]
        votes = [self._combine(probs, k).argmax(-1) for k in range(1, len(probs) + 1)]
        growing = [float(np.mean(v == y)) for v in votes]
        best = max(member_acc)
        return {"accuracy": growing[-1], "member_accuracy": member_acc, "accuracy_by_size": growing,
                "best_member_accuracy": best, "gain_over_best_member": growing[-1] - best,
                "predictions": votes[-1]}  # fmt: skip

    # --- saving --------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """One ``member-<k>.npz`` per member and ``manifest.json`` (no pickle)."""
        if self.specs is None:
            raise ValueError("Ensemble.save: give specs= (each member's zoo name and kwargs) to rebuild them")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for k, member in enumerate(self.members):
            files.append(f"member-{k}.npz")
            member.save(out / files[-1])
        entries = [{"file": f, **spec} for f, spec in zip(files, self.specs, strict=True)]
        for entry, t in zip(entries, self.transforms, strict=True):
            if isinstance(t, Normalizer):
                entry["normalizer"] = {"mean": list(t.mean), "std": list(t.std)}
            elif t is not None:
                raise ValueError(f"Ensemble.save: cannot save the transform {t!r} (only a Normalizer)")
        manifest = {"format": 1, "voting": self.voting, "weights": self.weights.tolist(), "meta": self.meta,
                    "members": entries}  # fmt: skip
        atomic_write_bytes(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Ensemble:
        """The ensemble saved in ``directory`` (members rebuilt from the zoo, arrays loaded)."""
        from . import zoo

        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise ValueError(f"{directory}: not an ensemble directory (no {MANIFEST})")
        manifest = json.loads(path.read_text())
        members, specs, transforms = [], [], []
        for entry in manifest["members"]:
            spec = {k: v for k, v in entry.items() if k not in ("file", "normalizer")}
            members.append(
                zoo.build(spec["name"], **spec.get("kwargs", {})).load(Path(directory) / entry["file"])
            )
            specs.append(spec)
            norm = entry.get("normalizer")
            transforms.append(Normalizer(tuple(norm["mean"]), tuple(norm["std"])) if norm else None)
        return cls(members, manifest["weights"], manifest["voting"], specs=specs, transform=transforms,
                   meta=manifest.get("meta", {}))  # fmt: skip
