"""Normalisation and (vectorized) data augmentation on uint8 NCHW batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class Normalizer:
    """Per-channel ``(x/255 - mean) / std`` to float32; ``mean``/``std`` in [0, 1] units."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        """Channel statistics of a uint8 ``(N, C, H, W)`` array (computed in chunks, float64)."""
        C = x.shape[1]
        s = np.zeros(C)
        s2 = np.zeros(C)
        for i in range(0, len(x), 10000):
            chunk = x[i : i + 10000].astype(np.float64) / 255.0
            s += chunk.sum(axis=(0, 2, 3))
            s2 += (chunk * chunk).sum(axis=(0, 2, 3))
        n = x.shape[0] * x.shape[2] * x.shape[3]
        mean = s / n
        std = np.sqrt(np.maximum(s2 / n - mean**2, 1e-12))
        return cls(tuple(float(m) for m in mean), tuple(float(v) for v in std))

    def __call__(self, x: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
        scale = (1.0 / (255.0 * np.asarray(self.std))).astype(dtype).reshape(1, -1, 1, 1)
        shift = (np.asarray(self.mean) / np.asarray(self.std)).astype(dtype).reshape(1, -1, 1, 1)
        out = x.astype(dtype)
        out *= scale
        out -= shift
        return out


def random_crop(x: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad every image by ``padding`` pixels and cut a random window of the original size.

    One vectorized gather for the whole batch: a strided view of all windows is indexed with
    per-image offsets.
    """
    if padding <= 0:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    xp[:, :, padding : padding + H, padding : padding + W] = x
    dy = rng.integers(0, 2 * padding + 1, N)
    dx = rng.integers(0, 2 * padding + 1, N)
    windows = sliding_window_view(xp, (H, W), axis=(2, 3))  # (N, C, 2p+1, 2p+1, H, W)
    return windows[np.arange(N), :, dy, dx]  # (N, C, H, W)


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability ``p`` (returns a new array)."""
    flip = rng.random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out


def flip_where(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``x`` with the images where ``mask`` is true mirrored left-right (a new array)."""
    out = x.copy()
    out[mask] = x[mask, :, :, ::-1]
    return out


def alternating_flips(n: int, seed: int, epoch: int) -> np.ndarray:
    """Derandomised flips (airbench): every image gets a fixed random coin (seeded), and is
    mirrored in the epochs where the coin and the epoch's parity agree, so each image is seen
    mirrored exactly every other epoch instead of at random."""
    coins = np.random.default_rng([seed, 2]).integers(0, 2, n).astype(bool)
    return coins ^ bool(epoch % 2)


def translate(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Every image shifted by ``dy`` rows and ``dx`` columns, the uncovered border filled by
    repeating the edge pixels (for test-time augmentation)."""
    if dy == 0 and dx == 0:
        return x
    p = max(abs(dy), abs(dx))
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="edge")
    H, W = x.shape[2:]
    return xp[:, :, p - dy : p - dy + H, p - dx : p - dx + W]


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation: random crop with ``crop_padding`` and optional flips."""

    crop_padding: int = 0
    flip: bool = False

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, rng)
        if self.flip:
            x = random_flip(x, rng)
        return x

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.flip)
