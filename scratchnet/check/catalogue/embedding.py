"""The word embedding: a lookup table whose gradient adds up over repeated ids."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import layers
from ..spec import Arrays, Mistake, OpSpec, with_dout


def embedding_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.integers(0, V, shape), "W": rng.standard_normal((V, D)), "dout_seed": 800 + k}
            for k, (shape, V, D) in enumerate([((3, 4), 5, 3), ((2, 6), 3, 2), ((1, 5), 10, 4)])]  # fmt: skip


def embedding_expected(case: dict[str, Any]) -> Arrays:
    emb = layers.Embedding(*case["W"].shape).astype(np.float64)
    emb.params["E"] = case["W"].copy()
    out = emb.forward(case["x"])
    emb.backward(with_dout(case, out.shape))
    return {"out": out, "dW": emb.grads["E"]}


def _embedding_overwrite(c):
    dW = np.zeros_like(c["W"])
    dW[c["x"].reshape(-1)] = c["dout"].reshape(-1, c["W"].shape[1])
    return {"dW": dW}


SPECS = (
    OpSpec(
        name="embedding",
        about="a lookup table of word vectors",
        results=("out", "dW"),
        cases=embedding_cases,
        expected=embedding_expected,
        signature="out, cache = word_embedding_forward(x, W)    # x (N, T) integer ids, W (V, D); out (N, "
                  "T, D)\n"
                  "dW = word_embedding_backward(dout, cache)",
        equations="out[n, t] = W[x[n, t]]; dW[v] = sum of dout[n, t] over the positions with x[n, t] == v",
        doc="docs/recurrent.md",
        layer="Embedding",
        mistakes=(Mistake("repeated ids overwritten", "your dW keeps only the last position of a repeated "
                                                      "id: the rows "
                 "must add up (np.add.at(dW, x, dout))", _embedding_overwrite),),
    ),
)  # fmt: skip
