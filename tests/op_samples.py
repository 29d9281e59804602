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

import scratchnet as sn
from scratchnet.layers import (
    GRU,
    LSTM,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    ConvPool2D,
    Dense,
    Dropout,
    Embedding,
    GlobalAvgPool2D,
    GroupNorm,
    Layer,
    LayerNorm,
    MaxPool2D,
    Residual,
    Tanh,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, MulticlassHinge, SoftmaxCrossEntropy
from scratchnet.ops import naive as slow
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
    dh, dw = (int(d) for d in rng.integers(1, 4, 2)) if rng.integers(0, 3) == 0 else (1, 1)  # a third dilated
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    # both im2col layouts: K-major below KMAJOR_MAX_CHANNELS input channels, row-major from there
    C = int(rng.choice([1, KMAJOR_MAX_CHANNELS - 1, KMAJOR_MAX_CHANNELS, KMAJOR_MAX_CHANNELS + 1, 3]))
    Co = int(rng.integers(1, 4 if small else 9))
    lo_h, lo_w = (2 * sh, 2 * sw) if fused else (1, 1)  # a fused pool needs a conv output of 2x2 or more
    H = int(rng.integers(max(1, span_h - 2 * ph) + lo_h - 1, (7 if small else 13) + span_h - kh + lo_h))
    W = int(rng.integers(max(1, span_w - 2 * pw) + lo_w - 1, (7 if small else 13) + span_w - kw + lo_w))
    if fused:  # the conv's output must hold a 2x2 window
        H = max(H, 2 * sh + span_h - 2 * ph)
        W = max(W, 2 * sw + span_w - 2 * pw)
    bias = bool(rng.integers(0, 2))
    conv = Conv2D(C, Co, (kh, kw), (sh, sw), (ph, pw), bias=bias, dilation=(dh, dw), rng=rng)
    layer = ConvPool2D.from_conv(conv) if fused else conv
    x = _nchw(rng, C, H, W, N=2 if small else None)
    if fused and small:
        x = distinct_values(x.shape, rng) + rng.standard_normal(x.shape) * 1e-3

    def ref(x, W, b=None):
        y = F().conv2d(x, W, b, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
        return F().max_pool2d(y, 2) if fused else y

    return Sample(layer.astype(np.float64), x, ref)


def winograd_sample(rng: np.random.Generator, check: str, fused: bool) -> Sample:
    """A 3x3, stride-1 convolution with enough input channels for the Winograd path
    (``scratchnet.ops.winograd``), any padding, with or without bias: fused with its pool (odd and
    even sizes) or alone (an even output, which the path needs)."""
    from scratchnet.ops.winograd import WINOGRAD_MIN_CHANNELS

    small = check == "gradcheck"
    p = int(rng.integers(0, 3))
    C, Co = WINOGRAD_MIN_CHANNELS + int(rng.integers(0, 2)), int(rng.integers(1, 3 if small else 9))
    H, W = (max(int(v), 4 - 2 * p) for v in rng.integers(1, 7 if small else 12, 2))  # output 2x2 or more
    if not fused:
        H, W = H + H % 2, W + W % 2  # H + 2p - 2 even
    conv = Conv2D(C, Co, 3, 1, p, bias=bool(rng.integers(0, 2)), rng=rng)
    x = _nchw(rng, C, H, W, N=1 if small else None)
    if small and fused:
        x = distinct_values(x.shape, rng) + rng.standard_normal(x.shape) * 1e-3

    def ref(x, W, b=None):
        y = F().conv2d(x, W, b, padding=p)
        return F().max_pool2d(y, 2) if fused else y

    return Sample((ConvPool2D.from_conv(conv) if fused else conv).astype(np.float64), x, ref)


def conv_reference(s: Sample, dout: np.ndarray) -> tuple:
    layer, p = s.layer, s.layer.params
    y = slow.conv2d_naive(s.x, p["W"], p.get("b"), layer.stride, layer.padding, layer.dilation)
    dx, dw, db = slow.conv2d_backward_naive(dout, s.x, p["W"], layer.stride, layer.padding, layer.dilation)
    return y, dx, {"W": dw, "b": db}


def convpool_reference(s: Sample, dout: np.ndarray) -> tuple:
    layer, p = s.layer, s.layer.params
    y = slow.convpool2d_naive(s.x, p["W"], p.get("b"), layer.stride, layer.padding, layer.dilation)
    dx, dw, db = slow.convpool2d_backward_naive(dout, s.x, p["W"], p.get("b"), layer.stride, layer.padding,
                                                layer.dilation)  # fmt: skip
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
    checks compare and finite-difference its gradient like any weight's: a block with the layer
    as its child (parameters ``inner.Wx``, ..., and its own ``h0``, ``c0``)."""

    def __init__(self, inner: Any, N: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.inner = inner
        self.names = ("h0", "c0") if isinstance(inner, LSTM) else ("h0",)
        for name in self.names:
            self.params[name] = rng.standard_normal((N, inner.hidden_size))

    def __repr__(self) -> str:
        return f"{self.inner!r} with initial state"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.inner.forward(x, tuple(self.params[n] for n in self.names))

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
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
        for k in ("b", "bx", "bh"):
            if k in layer.params:
                layer.params[k] = rng.standard_normal(layer.params[k].shape) * 0.5
        if with_state:
            layer = WithState(layer, N, rng)

        def ref(x, Wx, Wh, b=None, h0=None, c0=None, bx=None, bh=None):
            import torch

            module = {LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}.get(Kind, torch.nn.RNN)(D, H, batch_first=True)
            b_ih, b_hh = (bx, bh) if Kind is GRU else (b, torch.zeros_like(b))
            weights = {"weight_ih_l0": Wx.T, "weight_hh_l0": Wh.T, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
            state = None if h0 is None else (h0[None], c0[None]) if Kind is LSTM else h0[None]
            out, _ = torch.func.functional_call(module.to(x.dtype), weights, (x, state))
            return out if return_sequences else out[:, -1]

        def ref_named(x, **p):  # a WithState block names the layer's parameters "inner.Wx", ...
            return ref(x, **{k.removeprefix("inner."): v for k, v in p.items()})

        return Sample(layer, rng.standard_normal((N, T, D)), ref_named)

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


def hinge_sample(rng: np.random.Generator, check: str) -> Sample:
    """The multiclass hinge: margins drawn so that none sits within a difference step of 0."""
    big = check == "parity"
    N, C = int(rng.integers(1, 30 if big else 6)), int(rng.integers(2, 10 if big else 6))
    margin = float(rng.choice([1.0, 0.5, 2.0]))
    y = rng.integers(0, C, N)
    scores = distinct_values((N, C), rng, spacing=0.37) + 0.01  # margins s_j - s_y + m never ~ 0

    def ref(s):
        import torch

        return F().multi_margin_loss(s, torch.tensor(y), margin=margin) * C  # torch divides by C

    return Sample(MulticlassHinge(margin), scores, ref, targets=y)


# --- the layers of issue 16: normalisations, Conv1D, global pooling, residual blocks --------------
def global_avgpool_sample(rng: np.random.Generator, check: str) -> Sample:
    N, C, H, W = (int(v) for v in rng.integers(1, 6, 4))
    return Sample(GlobalAvgPool2D(), _nchw(rng, C, H, W, N), lambda x: x.mean(dim=(2, 3)))


def batchnorm1d_sample(training: bool) -> Callable[[np.random.Generator, str], Sample]:
    def sample(rng: np.random.Generator, check: str) -> Sample:
        # 3 or more values per feature: with 2, the input gradient is O(eps) (see docs/batchnorm.md)
        N, F_ = int(rng.integers(3, 9)), int(rng.integers(1, 7))
        shape = (N, F_) if rng.integers(0, 2) else (N, F_, int(rng.integers(1, 5)))
        bn = BatchNorm1D(F_, momentum=float(rng.uniform(0.05, 0.5))).astype(np.float64)
        bn.params["gamma"], bn.params["beta"] = rng.uniform(0.5, 2, F_), rng.standard_normal(F_)
        rm, rv = rng.standard_normal(F_), rng.uniform(0.5, 2, F_)
        bn.buffers["running_mean"], bn.buffers["running_var"] = rm.copy(), rv.copy()
        bn.train(training)
        stats: dict[str, Any] = {}

        def ref(x, gamma, beta):
            import torch

            stats["mean"], stats["var"] = (torch.tensor(v.astype(x.detach().numpy().dtype)) for v in (rm, rv))
            return F().batch_norm(x, stats["mean"], stats["var"], gamma, beta, training=training,
                                  momentum=bn.momentum, eps=bn.eps)  # fmt: skip

        def after(layer: BatchNorm1D) -> dict[str, float]:
            return {"running_mean": rel_err(layer.buffers["running_mean"], stats["mean"].numpy()),
                    "running_var": rel_err(layer.buffers["running_var"], stats["var"].numpy())}  # fmt: skip

        return Sample(bn, rng.standard_normal(shape) * 2 + 0.5, ref, after=after, float32_tol_scale=4.0)

    return sample


def layernorm_sample(rng: np.random.Generator, check: str) -> Sample:
    if check == "layout":
        shape = tuple(int(d) for d in rng.integers(1, 6, 4))
    else:
        shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(2, 5))))
    k = int(rng.integers(1, len(shape)))  # normalise over the last k axes
    trailing = shape[-k:]
    if np.prod(trailing) < 3:  # 1 or 2 values normalise to constants: a gradient that is O(eps)
        shape, trailing = (*shape[:-1], 3), (*trailing[:-1], 3)
    ln = LayerNorm(trailing, eps=float(rng.choice([1e-5, 1e-3]))).astype(np.float64)
    ln.params["gamma"], ln.params["beta"] = rng.uniform(0.5, 2, trailing), rng.standard_normal(trailing)
    x = rng.standard_normal(shape) * 2 + 0.5
    if len(shape) == 4 and rng.integers(0, 2):
        x = channels_last(x)
    return Sample(ln, x, lambda t, gamma, beta: F().layer_norm(t, trailing, gamma, beta, ln.eps),
                  float32_tol_scale=4.0)  # fmt: skip


def groupnorm_sample(rng: np.random.Generator, check: str) -> Sample:
    G, per = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    N, H, W = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
    if per * H * W < 3:  # 1 or 2 values per group normalise to constants: an O(eps) gradient
        H = 3
    gn = GroupNorm(G, G * per).astype(np.float64)
    gn.params["gamma"], gn.params["beta"] = rng.uniform(0.5, 2, G * per), rng.standard_normal(G * per)
    x = _nchw(rng, G * per, H, W, N) * 2 + 0.5
    return Sample(gn, x, lambda t, gamma, beta: F().group_norm(t, G, gamma, beta, gn.eps),
                  float32_tol_scale=4.0)  # fmt: skip


def conv1d_sample(rng: np.random.Generator, check: str) -> Sample:
    small = check == "gradcheck"
    k, s = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    p, d = int(rng.integers(0, 3)), int(rng.integers(1, 4))
    C, Co = int(rng.choice([1, 3, 8, 9])), int(rng.integers(1, 4 if small else 9))
    span = d * (k - 1) + 1
    L = int(rng.integers(max(1, span - 2 * p), (9 if small else 20) + span))
    layer = Conv1D(C, Co, k, s, p, d, bias=bool(rng.integers(0, 2)), rng=rng).astype(np.float64)
    x = rng.standard_normal((2 if small else int(rng.integers(1, 4)), C, L))
    return Sample(layer, x, lambda t, W, b=None: F().conv1d(t, W, b, stride=s, padding=p, dilation=d))


def conv1d_reference(s: Sample, dout: np.ndarray) -> tuple:
    """The loop twin of a 2-D convolution on the sequences seen as ``(N, C, 1, L)`` images."""
    layer, p = s.layer, s.layer.params
    x4, w4 = s.x[:, :, None, :], p["W"][:, :, None, :]
    st, pad, dil = (1, layer.stride), (0, layer.padding), (1, layer.dilation)
    y = slow.conv2d_naive(x4, w4, p.get("b"), st, pad, dil)[:, :, 0]
    dx, dw, db = slow.conv2d_backward_naive(dout[:, :, None, :], x4, w4, st, pad, dil)
    return y, dx[:, :, 0], {"W": dw[:, :, 0], "b": db}


def residual_sample(rng: np.random.Generator, check: str) -> Sample:
    """``x + block(x)`` with a dense block on vectors or a conv block on images; PyTorch computes
    the same sum with the block's own parameters (named like the model's: ``"block.0.W"``, ...)."""
    if check == "layout" or rng.integers(0, 2):
        C, H, W = int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(2, 7))
        block = sn.Sequential(Conv2D(C, C, 3, padding=1, rng=rng), Tanh(), Conv2D(C, C, 1, bias=False, rng=rng))
        x = _nchw(rng, C, H, W, int(rng.integers(1, 4)))

        def ref(t, **p):
            h = F().conv2d(t, p["block.0.W"], p["block.0.b"], padding=1).tanh()
            return t + F().conv2d(h, p["block.2.W"])
    else:
        D = int(rng.integers(1, 8))
        block = sn.Sequential(Dense(D, D, rng=rng), Tanh(), Dense(D, D, rng=rng))
        x = rng.standard_normal((int(rng.integers(1, 6)), D))

        def ref(t, **p):
            return t + F().linear(F().linear(t, p["block.0.W"].T, p["block.0.b"]).tanh(), p["block.2.W"].T,
                                  p["block.2.b"])

    return Sample(Residual(block.astype(np.float64)), x, ref)
