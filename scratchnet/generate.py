"""Sampling text from a character-level language model, one character at a time.

The model (ids ``(N, T)`` to scores ``(N, T, vocab)``) is switched to eval mode and its recurrent
layers to stateful mode: the prompt is read once, then every sampled character is fed back as a
sequence of length 1, the state carrying everything before it. A character is drawn from
``softmax(scores / temperature)``.
"""

from __future__ import annotations

import numpy as np

from .data.text import Vocabulary
from .layers.recurrent import _Recurrent
from .model import Sequential
from .ops.activations import softmax


def sample_text(model: Sequential, vocab: Vocabulary, prompt: str, length: int, temperature: float = 0.8,
                rng: np.random.Generator | None = None) -> str:  # fmt: skip
    """``prompt`` followed by ``length`` generated characters."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not prompt:
        raise ValueError("the prompt must hold at least one character")
    ids = vocab.encode(prompt)  # a clear error for characters outside the vocabulary
    rng = rng or np.random.default_rng()
    recurrent = [m for m in model.modules() if isinstance(m, _Recurrent)]
    saved = [(m, m.stateful) for m in recurrent]
    was_training = model.training
    model.eval()
    try:
        for m in recurrent:
            m.stateful = True
            m.reset_state()
        out = []
        scores = model.forward(ids[None, :])[0, -1]
        for _ in range(length):
            p = softmax((scores.astype(np.float64) / temperature)[None])[0]
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            scores = model.forward(np.array([[nxt]]))[0, -1]
    finally:
        for m, stateful in saved:
            m.stateful = stateful
            m.reset_state()
        model.train(was_training)
    return prompt + vocab.decode(np.array(out, dtype=np.int64))
