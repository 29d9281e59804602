"""Composed models for the op table: blocks of one's own and layers used several times, each with
its PyTorch twin written out with the same parameters (by their dotted names).

Each block below is what a user writes: ``__init__`` (children as attributes, in a list, in a dict),
``forward`` and ``backward``, nothing else. The backward passes are the chain rule by hand: where
a value is used twice its gradient is the sum of the two paths' (``docs/composition.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from op_samples import F, Sample, away_from_zero

import scratchnet as sn
from scratchnet.layers import Dense, Layer, Sigmoid, Tanh


def _linear(t: Any, p: dict, name: str) -> Any:
    return F().linear(t, p[f"{name}.W"].T, p.get(f"{name}.b"))


# --- the blocks ------------------------------------------------------------------------------------
class ScaledMLP(Layer):
    r"""Children as attributes and a parameter of its own: :math:`y = s \odot f_2(\tanh f_1(x))`."""

    def __init__(self, d: int, h: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = Dense(d, h, rng=rng), Tanh(), Dense(h, d, rng=rng)
        self.params["scale"] = rng.standard_normal(d)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._cache = z = self.fc2(self.act(self.fc1(x)))
        return self.params["scale"] * z

    def backward(self, dout: np.ndarray) -> np.ndarray:
        z = self._saved()
        self.grads["scale"] = (dout * z).sum(axis=0)
        return self.fc1.backward(self.act.backward(self.fc2.backward(dout * self.params["scale"])))


def scaled_mlp_torch(t: Any, p: dict, prefix: str = "") -> Any:
    h = _linear(t, p, prefix + "fc1").tanh()
    return p[prefix + "scale"] * _linear(h, p, prefix + "fc2")


class Branches(Layer):
    r"""Children in a list: :math:`y = \sum_i B_i(x)`; the input feeds every branch, so
    :math:`\partial L/\partial x = \sum_i B_i^\top g` (a fork: the gradients add)."""

    def __init__(self, d: int, k: int, n: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.branches = [Dense(d, k, rng=rng) for _ in range(n)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        return sum(b(x) for b in self.branches)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return sum(b.backward(dout) for b in reversed(self.branches))


class GatedHeads(Layer):
    r"""Children in a dict: :math:`y = m(x) \odot \sigma(s(x))`; by the product rule
    :math:`\partial L/\partial m = g \odot \sigma`, :math:`\partial L/\partial \sigma = g \odot m`."""

    def __init__(self, d: int, k: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.heads = {"mean": Dense(d, k, rng=rng), "gate": Dense(d, k, rng=rng)}
        self.sigmoid = Sigmoid()

    def forward(self, x: np.ndarray) -> np.ndarray:
        m, gate = self.heads["mean"](x), self.sigmoid(self.heads["gate"](x))
        self._cache = (m, gate)
        return m * gate

    def backward(self, dout: np.ndarray) -> np.ndarray:
        m, gate = self._saved()
        d_gate = self.heads["gate"].backward(self.sigmoid.backward(dout * m))
        return d_gate + self.heads["mean"].backward(dout * gate)


class Nested(Layer):
    """A block inside a block, then a chain: ``tail(inner(x))``."""

    def __init__(self, d: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.inner = ScaledMLP(d, d + 1, rng)
        self.tail = sn.Sequential(Tanh(), Dense(d, d, rng=rng))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.tail(self.inner(x))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.inner.backward(self.tail.backward(dout))


class Siamese(Layer):
    r"""One encoder, two inputs (``x[:, 0]`` and ``x[:, 1]``): :math:`y = e(x_1) \odot e(x_2)`.
    The encoder's weights get the sum of the two calls' gradients."""

    def __init__(self, d: int, h: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.encoder = sn.Sequential(Dense(d, h, rng=rng), Tanh(), Dense(h, h, rng=rng))

    def forward(self, x: np.ndarray) -> np.ndarray:
        first, second = self.encoder(x[:, 0]), self.encoder(x[:, 1])
        self._cache = (first, second)
        return first * second

    def backward(self, dout: np.ndarray) -> np.ndarray:
        first, second = self._saved()
        dx = np.empty((len(dout), 2, self.encoder[0].in_features), dout.dtype)
        dx[:, 1] = self.encoder.backward(dout * first)  # the second call first: reverse order
        dx[:, 0] = self.encoder.backward(dout * second)
        return dx


class Unrolled(Layer):
    r"""An Elman recurrence unrolled by hand with one cell called at every step:
    :math:`h_t = \tanh([x_t, h_{t-1}] W + b)`, :math:`h_0 = 0`; output :math:`h_T`. Backward:
    through time, the cell's and the tanh's calls popped last to first."""

    def __init__(self, d: int, h: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.cell, self.act, self.hidden = Dense(d + h, h, rng=rng), Tanh(), h

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = np.zeros((len(x), self.hidden), x.dtype)
        self._cache = x.shape
        for t in range(x.shape[1]):
            h = self.act(self.cell(np.concatenate([x[:, t], h], axis=1)))
        return h

    def backward(self, dout: np.ndarray) -> np.ndarray:
        n, steps, d = self._saved()
        dx = np.empty((n, steps, d), dout.dtype)
        dh = dout
        for t in reversed(range(steps)):
            d_in = self.cell.backward(self.act.backward(dh))
            dx[:, t], dh = d_in[:, :d], d_in[:, d:]
        return dx


# --- the samples -------------------------------------------------------------------------------------
COMPOSED_FLOAT32 = 10.0  # float32 tolerance scale: several layers' round-off, and sums that cancel


def _sample(layer: Layer, x: np.ndarray, ref: Any) -> Sample:
    return Sample(layer.astype(np.float64), x, ref, float32_tol_scale=COMPOSED_FLOAT32)


def _sizes(rng: np.random.Generator, check: str) -> tuple[int, int, int]:
    small = check == "gradcheck"
    return int(rng.integers(1, 4 if small else 7)), int(rng.integers(1, 5 if small else 9)), \
        int(rng.integers(1, 5 if small else 9))  # fmt: skip


def shared_chain_sample(rng: np.random.Generator, check: str) -> Sample:
    """One ``Dense`` used three times in a chain: ``d(tanh(d(tanh(d(x)))))``."""
    n, d, _ = _sizes(rng, check)
    dense = Dense(d, d, rng=rng)
    model = sn.Sequential(dense, Tanh(), dense, Tanh(), dense)

    def ref(t, **p):
        for _ in range(2):
            t = _linear(t, p, "0").tanh()
        return _linear(t, p, "0")

    return _sample(model, rng.standard_normal((n, d)), ref)


def scaled_mlp_sample(rng: np.random.Generator, check: str) -> Sample:
    n, d, h = _sizes(rng, check)
    return _sample(ScaledMLP(d, h, rng), rng.standard_normal((n, d)),
                  lambda t, **p: scaled_mlp_torch(t, p))  # fmt: skip


def branches_sample(rng: np.random.Generator, check: str) -> Sample:
    n, d, k = _sizes(rng, check)
    block = Branches(d, k, int(rng.integers(1, 4)), rng)
    names = [f"branches.{i}" for i in range(len(block.branches))]
    return _sample(block, rng.standard_normal((n, d)), lambda t, **p: sum(_linear(t, p, b) for b in names))


def gated_heads_sample(rng: np.random.Generator, check: str) -> Sample:
    n, d, k = _sizes(rng, check)
    def ref(t, **p):
        return _linear(t, p, "heads.mean") * _linear(t, p, "heads.gate").sigmoid()

    return _sample(GatedHeads(d, k, rng), rng.standard_normal((n, d)), ref)


def nested_sample(rng: np.random.Generator, check: str) -> Sample:
    n, d, _ = _sizes(rng, check)
    return _sample(Nested(d, rng), rng.standard_normal((n, d)),
                  lambda t, **p: _linear(scaled_mlp_torch(t, p, "inner.").tanh(), p, "tail.1"))  # fmt: skip


def siamese_sample(rng: np.random.Generator, check: str) -> Sample:
    n, d, h = _sizes(rng, check)

    def ref(t, **p):
        def encode(u):
            return _linear(_linear(u, p, "encoder.0").tanh(), p, "encoder.2")

        return encode(t[:, 0]) * encode(t[:, 1])

    return _sample(Siamese(d, h, rng), rng.standard_normal((n, 2, d)), ref)


def unrolled_sample(rng: np.random.Generator, check: str) -> Sample:
    n, d, h = _sizes(rng, check)
    steps = int(rng.integers(1, 4 if check == "gradcheck" else 6))

    def ref(t, **p):
        import torch

        state = torch.zeros((t.shape[0], h), dtype=t.dtype)
        for s in range(steps):
            state = _linear(torch.cat([t[:, s], state], dim=1), p, "cell").tanh()
        return state

    x = away_from_zero((n, steps, d), rng) if check == "gradcheck" else rng.standard_normal((n, steps, d))
    return _sample(Unrolled(d, h, rng), x, ref)
