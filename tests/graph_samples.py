"""Graph models for the op table (issue 27): branches that merge (``Add``, ``Concat``), a residual
block with a projection shortcut, graphs of several inputs or outputs, a layer shared by two
branches — each with its PyTorch twin written out with the same parameters (by their dotted names,
``layers.<k>.<key>``: the graph's layers in the order of their first call).

No backward pass is written here: the graph derives it (:mod:`scratchnet.graph`), and these entries
check that it is the gradient, by finite differences and against PyTorch's autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from composed_samples import COMPOSED_FLOAT32
from op_samples import F, Sample

from scratchnet.graph import Graph, Input
from scratchnet.layers import Add, BatchNorm2D, Concat, Conv2D, Dense, Flatten, ReLU, Residual, Tanh
from scratchnet.model import Sequential


def _linear(t: Any, p: dict, name: str) -> Any:
    return F().linear(t, p[f"{name}.W"].T, p.get(f"{name}.b"))


def _conv(t: Any, p: dict, name: str, stride: int = 1, padding: int = 0) -> Any:
    return F().conv2d(t, p[f"{name}.W"], p.get(f"{name}.b"), stride=stride, padding=padding)


def _sample(model: Any, x: Any, ref: Any) -> Sample:
    return Sample(model.astype(np.float64), x, ref, float32_tol_scale=COMPOSED_FLOAT32)


def _small(rng: np.random.Generator, check: str) -> tuple[int, int, int]:
    """Batch, channels, size: small for finite differences."""
    fd = check == "gradcheck"
    n, c = int(rng.integers(1, 3 if fd else 5)), int(rng.integers(1, 3 if fd else 5))
    return n, c, int(rng.integers(3, 5 if fd else 8))


def add_block_sample(rng: np.random.Generator, check: str) -> Sample:
    """Two branches of the input merged by ``Add``: ``conv3x3(relu(conv3x3(x))) + x``."""
    n, c, s = _small(rng, check)
    x = Input((c, s, s))
    a = Conv2D(c, c, 3, padding=1, rng=rng)(x)
    y = Add()(Conv2D(c, c, 3, padding=1, rng=rng)(Tanh()(a)), x)

    def ref(t, **p):
        return _conv(_conv(t, p, "layers.0", padding=1).tanh(), p, "layers.2", padding=1) + t

    return _sample(Graph(x, y), rng.standard_normal((n, c, s, s)), ref)


def concat_block_sample(rng: np.random.Generator, check: str) -> Sample:
    """An Inception-style block: a 1x1 and a 3x3 branch side by side (``Concat``), then a 1x1."""
    n, c, s = _small(rng, check)
    x = Input((c, s, s))
    b1 = Conv2D(c, 2, 1, rng=rng)(x)
    b2 = Tanh()(Conv2D(c, 3, 3, padding=1, rng=rng)(x))
    y = Conv2D(5, c, 1, rng=rng)(Concat()(b1, b2))

    def ref(t, **p):
        import torch

        both = torch.cat([_conv(t, p, "layers.0"), _conv(t, p, "layers.1", padding=1).tanh()], dim=1)
        return _conv(both, p, "layers.4")

    return _sample(Graph(x, y), rng.standard_normal((n, c, s, s)), ref)


def projection_residual_sample(rng: np.random.Generator, check: str) -> Sample:
    """A ResNet basic block that halves the maps and doubles the channels: the block is
    conv3x3/2 - BN - ReLU - conv3x3 - BN, the shortcut a 1x1 convolution of stride 2 with BN."""
    n, c, s = _small(rng, check)
    # batch statistics of at least two samples; two input channels at least, or the shortcut's
    # 1x1 convolution of one channel followed by batch norm is scale-invariant (its weight's
    # gradient is zero up to eps, and the check would measure round-off)
    n, c = max(n, 2), max(c, 2)
    c2 = 2 * c
    block = Sequential(Conv2D(c, c2, 3, stride=2, padding=1, bias=False, rng=rng), BatchNorm2D(c2),
                       ReLU(), Conv2D(c2, c2, 3, padding=1, bias=False, rng=rng), BatchNorm2D(c2))  # fmt: skip
    shortcut = Sequential(Conv2D(c, 2 * c, 1, stride=2, bias=False, rng=rng), BatchNorm2D(2 * c))
    for bn in (block.layers[1], block.layers[4], shortcut.layers[1]):  # not at 1 and 0
        bn.params["gamma"] = rng.uniform(0.5, 1.5, bn.params["gamma"].shape)
        bn.params["beta"] = rng.standard_normal(bn.params["beta"].shape)

    def bn(t, p, name):
        return F().batch_norm(t, None, None, p[f"{name}.gamma"], p[f"{name}.beta"], training=True, eps=1e-5)

    def ref(t, **p):
        h = F().relu(bn(_conv(t, p, "block.0", stride=2, padding=1), p, "block.1"))
        f = bn(_conv(h, p, "block.3", padding=1), p, "block.4")
        return f + bn(_conv(t, p, "shortcut.0", stride=2), p, "shortcut.1")

    return _sample(Residual(block, shortcut=shortcut), rng.standard_normal((n, c, 2 * s, 2 * s)), ref)


def two_inputs_sample(rng: np.random.Generator, check: str) -> Sample:
    """Two inputs of different sizes, each through a dense layer, added, then a head."""
    n, d1, d2 = _small(rng, check)
    a, b = Input((d1,), "a"), Input((d2 + 1,), "b")
    h = Tanh()(Add()(Dense(d1, 4, rng=rng)(a), Dense(d2 + 1, 4, rng=rng)(b)))
    y = Dense(4, 3, rng=rng)(h)

    def ref(ta, tb, **p):
        return _linear((_linear(ta, p, "layers.0") + _linear(tb, p, "layers.1")).tanh(), p, "layers.4")

    return _sample(Graph([a, b], y), (rng.standard_normal((n, d1)), rng.standard_normal((n, d2 + 1))), ref)


def two_outputs_sample(rng: np.random.Generator, check: str) -> Sample:
    """A trunk read by two heads (a fork: the trunk's gradient is the sum of the heads'), both
    outputs of the model, the second also reading the input directly."""
    n, d, k = _small(rng, check)
    x = Input((d,))
    trunk = Tanh()(Dense(d, 4, rng=rng)(x))
    y1 = Dense(4, k, rng=rng)(trunk)
    y2 = Add()(Dense(4, d, rng=rng)(trunk), x)

    def ref(t, **p):
        h = _linear(t, p, "layers.0").tanh()
        return _linear(h, p, "layers.2"), _linear(h, p, "layers.3") + t

    return _sample(Graph(x, [y1, y2]), rng.standard_normal((n, d)), ref)


def shared_layer_sample(rng: np.random.Generator, check: str) -> Sample:
    """One ``Dense`` in two branches (its gradient the sum over its two calls), merged by concat."""
    n, d, _ = _small(rng, check)
    x = Input((d,))
    shared = Dense(d, d, rng=rng)
    left = shared(x)
    right = shared(Tanh()(Dense(d, d, rng=rng)(x)))
    y = Flatten()(Concat()(left, Tanh()(right)))

    def ref(t, **p):
        import torch

        right = _linear(_linear(t, p, "layers.1").tanh(), p, "layers.0").tanh()
        return torch.cat([_linear(t, p, "layers.0"), right], dim=1)

    return _sample(Graph(x, y), rng.standard_normal((n, d)), ref)
