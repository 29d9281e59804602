"""Train/validation splits and seeded mini-batch order."""

from __future__ import annotations

import numpy as np


def train_val_split(
    x: np.ndarray, y: np.ndarray, val_size: int, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Carve a stratified validation set of ``val_size`` samples out of the training set.

    Each class contributes in proportion to its frequency; the split depends only on ``seed``.
    """
    if not 0 <= val_size < len(x):
        raise ValueError(f"val_size must be in [0, {len(x)}), got {val_size}")
    if val_size == 0:
        return (x, y), (x[:0], y[:0])
    rng = np.random.default_rng([seed, 7919])
    order = rng.permutation(len(x))
    # stratify: sort the shuffled indices by class, then take every k-th one
    by_class = order[np.argsort(y[order], kind="stable")]
    take = np.zeros(len(x), dtype=bool)
    take[by_class[np.linspace(0, len(x) - 1, val_size).round().astype(np.int64)]] = True
    val_idx, train_idx = np.flatnonzero(take), np.flatnonzero(~take)
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The sample order of ``epoch``: a permutation that depends only on ``(seed, epoch)``,
    so a run resumed from a checkpoint sees exactly the batches an uninterrupted one would."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
