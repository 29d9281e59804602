"""Random samples for the op table (``tests/op_table.py``): one generator per op family.

Each generator takes ``(rng, check)`` and returns a :class:`Sample`: a fresh layer or loss, an input
suited to the check (no ties or kinks within a difference step for ``"gradcheck"``, 4-D for
``"layout"``, channels-last memory half of the time) and the same computation in PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchnet.layers import (
    LSTM,
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    ConvPool2D,
    Dense,
    Dropout,
    Embedding,
    Layer,
    MaxPool2D,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from scratchnet.ops import reference as slow
from scratchnet.ops.conv import KMAJOR_MAX_CHANNELS


def F() -> Any:
    """``torch.nn.functional``, imported only when a parity check runs."""
    import torch.nn.functional

    return torch.nn.functional


def distinct_values(shape: tuple[int, ...], rng: np.random.Generator, spacing: float = 0.05) -> np.ndarray:
    """Entries all distinct and at least ``spacing`` apart: no difference step crosses a tie."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + 0.5) * spacing).reshape(shape)


def away_from_zero(shape: tuple[int, ...], rng: np.random.Generator, margin: float = 0.05) -> np.ndarray:
    """Random values with ``|x| >= margin``: no ReLU kink within a difference step."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def channels_last(x: np.ndarray) -> np.ndarray:
    """The same logical NCHW array, stored NHWC."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@dataclass
class Sample:
    """One random case: a fresh layer (or loss), its input and how PyTorch computes the same."""

    layer: Any
    x: np.ndarray  # float64; for a loss: the scores
    torch_fn: Callable[..., Any] | None = None  # (x, **params) -> output; loss: (scores) -> loss
    targets: np.ndarray | None = None  # losses only
    after: Callable[[Any], dict[str, float]] | None = None  # extra parity errors (e.g. running stats)
    grad_atol: float = 0.0  # float32 input-gradient error allowed absolutely (times max|dout|)
    float32_tol_scale: float = 1.0  # for sums that cancel (see batchnorm_sample)


def _nchw(rng: np.random.Generator, C: int, H: int, W: int, N: int | None = None) -> np.ndarray:
    """NCHW values, stored channels-last half of the time (as a conv layer's output is)."""
    x = rng.standard_normal((int(N or rng.integers(1, 4)), C, H, W))
    return channels_last(x) if rng.integers(0, 2) else x


# --- convolution -------------------------------------------------------------------------------
def conv_sample(rng: np.random.Generator, check: str, fused: bool = False) -> Sample:
    small = check == "gradcheck"
    kh, kw = (int(k) for k in rng.integers(1, 5 if small else 6, 2))
    sh, sw = (int(s) for s in rng.integers(1, 4, 2))
    ph, pw = (int(p) for p in rng.integers(0, 3, 2))
    # both im2col layouts: K-major below KMAJOR_MAX_CHANNELS input channels, row-major from there
    C = int(rng.choice([1, KMAJOR_MAX_CHANNELS - 1, KMAJOR_MAX_CHANNELS, KMAJOR_MAX_CHANNELS + 1, 3]))
    Co = int(rng.integers(1, 4 if small else 9))
    lo_h, lo_w = (2 * sh, 2 * sw) if fused else (1, 1)  # a fused pool needs a conv output of 2x2 or more
    H = int(rng.integers(max(1, kh - 2 * ph) + lo_h - 1, (7 if small else 13) + lo_h))
    W = int(rng.integers(max(1, kw - 2 * pw) + lo_w - 1, (7 if small else 13) + lo_w))
    bias = bool(rng.integers(0, 2))
    conv = Conv2D(C, Co, (kh, kw), (sh, sw), (ph, pw), bias=bias, rng=rng)
    layer = ConvPool2D.from_conv(conv) if fused else conv
    x = _nchw(rng, C, H, W, N=2 if small else None)
    if fused and small:
        x = distinct_values(x.shape, rng) + rng.standard_normal(x.shape) * 1e-3

    def ref(x, W, b=None):
        y = F().conv2d(x, W, b, stride=(sh, sw), padding=(ph, pw))
        return F().max_pool2d(y, 2) if fused else y

    return Sample(layer.astype(np.float64), x, ref)


def conv_reference(s: Sample, dout: np.ndarray) -> tuple:
    layer, p = s.layer, s.layer.params
    y = slow.conv2d_naive(s.x, p["W"], p.get("b"), layer.stride, layer.padding)
    dx, dw, db = slow.conv2d_backward_naive(dout, s.x, p["W"], layer.stride, layer.padding)
    return y, dx, {"W": dw, "b": db}


def convpool_reference(s: Sample, dout: np.ndarray) -> tuple:
    layer, p = s.layer, s.layer.params
    y = slow.convpool2d_naive(s.x, p["W"], p.get("b"), layer.stride, layer.padding)
    dx, dw, db = slow.convpool2d_backward_naive(dout, s.x, p["W"], p.get("b"), layer.stride, layer.padding)
    return y, dx, {"W": dw, "b": db}


# --- pooling -----------------------------------------------------------------------------------
def pool_sample(rng: np.random.Generator, check: str, mode: str) -> Sample:
    kh, kw = (int(k) for k in rng.integers(1, 5, 2))
    stride = None if rng.integers(0, 3) == 0 else tuple(int(s) for s in rng.integers(1, 5, 2))
    C, H, W = int(rng.integers(1, 5)), int(rng.integers(kh, 14)), int(rng.integers(kw, 14))
    if rng.integers(0, 3) == 0:
        kh = kw = 2  # the 2x2 tournament fast path, often
        stride = None
    layer = (MaxPool2D if mode == "max" else AvgPool2D)((kh, kw), stride)
    x = _nchw(rng, C, H, W)
    if check == "gradcheck" and mode == "max":
        x = distinct_values(x.shape, rng)

    def ref(x):
        pool = F().max_pool2d if mode == "max" else F().avg_pool2d
        return pool(x, (kh, kw), stride or (kh, kw))

    return Sample(layer, x, ref)


def pool_ties_sample(rng: np.random.Generator, check: str) -> Sample:
    """Windows of equal values (zeros after a ReLU): the gradient goes to the first one, as torch."""
    kernel, stride = [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 1))][int(rng.integers(0, 3))]
    x = rng.integers(0, 2, (2, 3, 8, 7)).astype(np.float64)
    return Sample(MaxPool2D(kernel, stride), x, lambda t: F().max_pool2d(t, kernel, stride or kernel))


def pool_reference(mode: str) -> Callable[[Sample, np.ndarray], tuple]:
    def run(s: Sample, dout: np.ndarray) -> tuple:
        k, st = s.layer.kernel_size, s.layer.stride
        return slow.pool2d_naive(s.x, k, st, mode), slow.pool2d_backward_naive(dout, s.x, k, st, mode), {}

    return run


# --- element-wise, shape, dense, dropout, batch norm ------------------------------------------
def _any_shape(rng: np.random.Generator, check: str) -> tuple[int, ...]:
    if check == "layout":
        return tuple(int(d) for d in rng.integers(1, 7, 4))
    return tuple(int(d) for d in rng.integers(1, 7, int(rng.integers(2 if check == "gradcheck" else 1, 5))))


def activation_sample(
    make: Callable[[], Any], torch_fn: Callable
) -> Callable[[np.random.Generator, str], Sample]:
    def sample(rng: np.random.Generator, check: str) -> Sample:
        shape = _any_shape(rng, check)
        if check == "gradcheck":
            return Sample(make(), away_from_zero(shape, rng) * 2)
        scale = float(rng.choice([1.0, 10.0, 100.0]))  # large inputs exercise sigmoid's overflow guard
        x = rng.standard_normal(shape) * scale
        if len(shape) == 4 and rng.integers(0, 2):
            x = channels_last(x)
        # sigmoid'/tanh' of saturated inputs are 1 - y and 1 - y**2 with y within an ulp of 1:
        # the two libraries' float32 exp/tanh differ by an ulp there, i.e. ~1e-7 absolute
        return Sample(make(), x, lambda t: torch_fn()(t), grad_atol=4 * float(np.finfo(np.float32).eps))

    return sample


def shape_sample(make: Callable[[], Any]) -> Callable[[np.random.Generator, str], Sample]:
    def sample(rng: np.random.Generator, check: str) -> Sample:
        shape = _any_shape(rng, check)
        x = rng.standard_normal(shape)
        return Sample(make(), channels_last(x) if len(shape) == 4 and rng.integers(0, 2) else x)

    return sample


def dense_sample(rng: np.random.Generator, check: str) -> Sample:
    N, D, K = (int(v) for v in (rng.integers(1, 20), rng.integers(1, 70), rng.integers(1, 30)))
    if check == "gradcheck":
        N, D, K = int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(rng.integers(1, 7))
    layer = Dense(D, K, bias=bool(rng.integers(0, 2)), rng=rng).astype(np.float64)
    return Sample(layer, rng.standard_normal((N, D)), lambda x, W, b=None: F().linear(x, W.T, b))


def dropout_sample(rng: np.random.Generator, check: str) -> Sample:
    shape = _any_shape(rng, check)
    if check == "gradcheck":  # training mode: gradcheck replays the random mask at every evaluation
        return Sample(Dropout(float(rng.choice([0.0, 0.2, 0.5, 0.9])), rng=int(rng.integers(2**16))),
                      rng.standard_normal(shape))  # fmt: skip
    p = float(rng.uniform(0, 1))
    return Sample(
        Dropout(p, rng=0).eval(), rng.standard_normal(shape), lambda t: F().dropout(t, p, training=False)
    )


def batchnorm_sample(training: bool) -> Callable[[np.random.Generator, str], Sample]:
    def sample(rng: np.random.Generator, check: str) -> Sample:
        N, C, H, W = (
            int(v) for v in (rng.integers(2, 5), rng.integers(1, 6), rng.integers(1, 6), rng.integers(1, 6))
        )
        if check == "gradcheck" and training and N * H * W < 3:
            H = 2  # with 2 values per channel the true input gradient is O(eps): see test_gradcheck.py
        bn = BatchNorm2D(C, momentum=float(rng.uniform(0.05, 0.5))).astype(np.float64)
        bn.params["gamma"], bn.params["beta"] = rng.uniform(0.5, 2, C), rng.standard_normal(C)
        rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
        bn.buffers["running_mean"], bn.buffers["running_var"] = rm.copy(), rv.copy()
        bn.train(training)
        torch_stats: dict[str, Any] = {}

        def ref(x, gamma, beta):
            import torch

            torch_stats["mean"], torch_stats["var"] = (
                torch.tensor(v.astype(x.detach().numpy().dtype)) for v in (rm, rv)
            )
            return F().batch_norm(x, torch_stats["mean"], torch_stats["var"], gamma, beta, training=training,
                                  momentum=bn.momentum, eps=bn.eps)  # fmt: skip

        def after(layer: BatchNorm2D) -> dict[str, float]:
            return {
                "running_mean": rel_err(layer.buffers["running_mean"], torch_stats["mean"].numpy()),
                "running_var": rel_err(layer.buffers["running_var"], torch_stats["var"].numpy()),
            }

        # dgamma = sum(g * xhat) adds terms of both signs: in float32 its round-off is relative to
        # sum|g * xhat|, which can be several times |dgamma| itself
        return Sample(bn, _nchw(rng, C, H, W, N) * 2 + 0.5, ref, after=after, float32_tol_scale=4.0)

    return sample


# --- sequences -------------------------------------------------------------------------------
class WithState(Layer):
    """A recurrent layer whose initial state is a parameter (``h0``, ``c0``), so that the generic
    checks compare and finite-difference its gradient like any weight's."""

    def __init__(self, inner: Any, N: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.inner, self.params, self.grads = inner, inner.params, inner.grads
        self.names = ("h0", "c0") if isinstance(inner, LSTM) else ("h0",)
        for name in self.names:
            self.params[name] = rng.standard_normal((N, inner.hidden_size))

    def __repr__(self) -> str:
        return f"{self.inner!r} with initial state"

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._cache = True
        return self.inner.forward(x, tuple(self.params[n] for n in self.names))

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        self._saved()
        dx = self.inner.backward(dout, need_dx=need_dx)
        for name, g in zip(self.names, self.inner.state_grads, strict=True):
            self._set_grad(name, g)
        return dx


def recurrent_sample(Kind: type) -> Callable[[np.random.Generator, str], Sample]:
    def sample(rng: np.random.Generator, check: str) -> Sample:
        small = check == "gradcheck"
        N, T = int(rng.integers(1, 4)), int(rng.choice([1, 2, 5] if small else [1, 2, 5, 9]))
        D, H = int(rng.integers(1, 5 if small else 7)), int(rng.integers(1, 5 if small else 8))
        return_sequences, with_state = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        layer = Kind(D, H, return_sequences=return_sequences, rng=rng).astype(np.float64)
        layer.params["b"] = rng.standard_normal(layer.params["b"].shape) * 0.5
        if with_state:
            layer = WithState(layer, N, rng)

        def ref(x, Wx, Wh, b, h0=None, c0=None):
            import torch

            module = (torch.nn.LSTM if Kind is LSTM else torch.nn.RNN)(D, H, batch_first=True)
            weights = {"weight_ih_l0": Wx.T, "weight_hh_l0": Wh.T, "bias_ih_l0": b,
                       "bias_hh_l0": torch.zeros_like(b)}  # fmt: skip
            state = None if h0 is None else (h0[None], c0[None]) if Kind is LSTM else h0[None]
            out, _ = torch.func.functional_call(module.to(x.dtype), weights, (x, state))
            return out if return_sequences else out[:, -1]

        return Sample(layer, rng.standard_normal((N, T, D)), ref)

    return sample


def embedding_sample(rng: np.random.Generator, check: str) -> Sample:
    vocab, dim = int(rng.integers(1, 12)), int(rng.integers(1, 6))
    shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 3))))
    layer = Embedding(vocab, dim, rng=rng).astype(np.float64)
    return Sample(layer, rng.integers(0, vocab, shape), lambda x, E: F().embedding(x, E))


def dense_sequence_sample(rng: np.random.Generator, check: str) -> Sample:
    """Dense over the last axis of a sequence ``(N, T, D)``."""
    N, T, D, K = (int(v) for v in rng.integers(1, 7, 4))
    layer = Dense(D, K, bias=bool(rng.integers(0, 2)), rng=rng).astype(np.float64)
    return Sample(layer, rng.standard_normal((N, T, D)), lambda x, W, b=None: F().linear(x, W.T, b))


def sequence_cross_entropy_sample(rng: np.random.Generator, check: str) -> Sample:
    """Softmax cross-entropy over the last axis of ``(N, T, C)`` scores, targets ``(N, T)``."""
    N, T, C = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(2, 9))
    y = rng.integers(0, C, (N, T))
    smoothing = float(rng.choice([0.0, 0.1]))

    def ref(s):
        import torch

        return F().cross_entropy(s.permute(0, 2, 1), torch.tensor(y), label_smoothing=smoothing)

    return Sample(SoftmaxCrossEntropy(smoothing), rng.standard_normal((N, T, C)) * 3, ref, targets=y)


def rel_err(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Norm-wise relative error ``max|ours - theirs| / max|theirs|``."""
    o, t = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert o.shape == t.shape, f"shape {o.shape} != reference {t.shape}"
    return float(np.abs(o - t).max(initial=0.0) / max(np.abs(t).max(initial=0.0), 1e-30))


# --- losses ------------------------------------------------------------------------------------
def cross_entropy_sample(rng: np.random.Generator, check: str) -> Sample:
    N, C = (
        int(rng.integers(1, 50 if check == "parity" else 7)),
        int(rng.integers(2, 15 if check == "parity" else 8)),
    )
    scale = float(rng.choice([1.0, 30.0, 1e4] if check == "parity" else [1.0, 10.0, 100.0]))  # 1e4: max shift
    smoothing = float(rng.choice([0.0, 0.1]))
    y = rng.integers(0, C, N)

    def ref(s):
        import torch

        return F().cross_entropy(s, torch.tensor(y), label_smoothing=smoothing)

    return Sample(SoftmaxCrossEntropy(smoothing), rng.standard_normal((N, C)) * scale, ref, targets=y)


def elementwise_loss_sample(kind: str) -> Callable[[np.random.Generator, str], Sample]:
    def sample(rng: np.random.Generator, check: str) -> Sample:
        shape = tuple(int(d) for d in rng.integers(1, 9, int(rng.integers(1, 4))))
        if kind == "bce":
            t = rng.integers(0, 2, shape).astype(np.float64) if rng.integers(0, 2) else rng.uniform(0, 1, shape)
            z = rng.standard_normal(shape) * float(
                rng.choice([1.0, 30.0, 1e3] if check == "parity" else [1.0, 30.0])
            )
            loss, fn = BinaryCrossEntropy(), "binary_cross_entropy_with_logits"
        else:
            t, z, loss, fn = rng.standard_normal(shape), rng.standard_normal(shape) * 3, MSE(), "mse_loss"

        def ref(s):
            import torch

            return getattr(F(), fn)(s, torch.tensor(t.astype(s.detach().numpy().dtype)))

        return Sample(loss, z, ref, targets=t)

    return sample
