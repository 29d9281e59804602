"""Character-level text corpora (tiny Shakespeare): a vocabulary, ids, and next-character windows.

The corpus is split as nanoGPT and char-rnn do: the first 90% of the characters for training, the
last 10% for validation. Each split is cut into consecutive windows of ``seq_len`` characters;
the target of a window is the same window shifted by one character (``y[t] = x[t + 1]``), so a
model reading ``(N, T)`` ids predicts ``(N, T)`` next characters, and its mean cross-entropy is
the loss in nats per character.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .formats import DatasetError

TRAIN_FRACTION = 0.9


def read_corpus(path: str | os.PathLike) -> str:
    """The text of ``path``; an empty file or one that is not UTF-8 is a ``DatasetError`` naming it."""
    data = Path(path).read_bytes()
    if not data:
        raise DatasetError(f"{path}: the text file is empty; expected a UTF-8 text corpus")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"{path}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start:,}); "
            "save the corpus as UTF-8 and try again"
        ) from None


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a corpus, sorted; id ``i`` is ``chars[i]``."""

    chars: str

    @classmethod
    def of(cls, text: str) -> Vocabulary:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``; characters outside the vocabulary are a ``ValueError`` naming them."""
        table = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted({c for c in text if c not in table})
        if unknown:
            raise ValueError(
                f"characters not in the model's vocabulary of {len(self)}: {''.join(unknown)!r} "
                f"(the vocabulary: {self.chars!r})"
            )
        return np.array([table[c] for c in text], dtype=np.int64)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.chars[int(i)] for i in np.ravel(ids))


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping windows ``x`` ``(n, seq_len)`` and their targets ``y = x``
    shifted by one character (the last window that has a full target is kept)."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise DatasetError(f"a text of {len(ids)} characters is too short for windows of {seq_len}")
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1 : n * seq_len + 1].reshape(n, seq_len)
    return x, y


def split_corpus(text: str, seq_len: int) -> tuple[Vocabulary, tuple[np.ndarray, ...]]:
    """Vocabulary and ``(x_train, y_train, x_val, y_val)`` windows (first 90% / last 10%)."""
    vocab = Vocabulary.of(text)
    ids = vocab.encode(text)
    cut = int(len(ids) * TRAIN_FRACTION)
    return vocab, (*windows(ids[:cut], seq_len), *windows(ids[cut:], seq_len))
