"""The ops a student can check: for each, its cases, the expected results (computed by the
library's proven layers, in float64), how a functional-style submission is called, and the
classic wrong answers it is compared with.

The functional convention is the courses' (CS231n's assignments): ``out, cache = op_forward(...)``
and ``grads = op_backward(dout, cache)``, NCHW images, parameter dicts such as ``{"stride": 1,
"pad": 1}`` or ``{"pool_height": 2, "pool_width": 2, "stride": 2}``, LSTM gates ordered
``[i, f, o, g]`` with ``Wx`` of shape ``(D, 4H)``; losses return ``(loss, dx)`` in one call. The
layer convention is scratchnet's (``Layer(...)`` with ``forward(x)``, ``backward(dout)``,
``params``/``grads``): see :mod:`scratchnet.check.adapters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import layers
from ..losses import MSE, BinaryCrossEntropy, MulticlassHinge, SoftmaxCrossEntropy
from ..ops import recurrent as rec
from ..ops.activations import sigmoid
from ..ops.naive import conv2d_backward_naive, conv2d_naive, pool2d_backward_naive
from .adapters import CONVENTIONS, backward_names

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Mistake:
    """A classic wrong answer: ``compute(case)`` gives the arrays a submission making it would
    return (some of the result keys); ``says`` is the sentence shown when one matches."""

    name: str
    says: str
    compute: Callable[[dict[str, Any]], Arrays]


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    """One checkable op. ``results`` are the checks, in the order the calls return them: the first
    ``forward_results`` come from the forward call, the rest from the backward call. The names of
    its functions are its convention's (:data:`scratchnet.check.adapters.CONVENTIONS`: the first
    of the names the courses use) unless given (an op of a course's own)."""

    name: str
    about: str
    results: tuple[str, ...]  # result keys, the forward output first
    cases: Callable[[np.random.Generator], list[dict[str, Any]]]
    expected: Callable[[dict[str, Any]], Arrays]
    signature: str  # for the template: the call and its shapes
    equations: str
    doc: str
    layer: str | None = None  # the scratchnet class of the layer convention
    mistakes: tuple[Mistake, ...] = field(default=())
    forward_results: int = 1
    # the absolute tolerance of a check when it is not the default's (case, result key) -> atol
    tolerance: Callable[[dict[str, Any], str], float | None] = lambda case, key: None
    # reads what the expected results depend on off the submission's own results (dropout's mask)
    observe: Callable[[dict[str, Any], Arrays], None] | None = None
    # an op of a course's own is called as this op of the table is (its adapters): e.g. "relu" for
    # any elementwise op with ``out, cache = f(x)`` and ``dx = g(dout, cache)``
    convention: str | None = None
    forward: str = ""  # the template's function names (default: the convention's first)
    backward: str | None = ""

    def __post_init__(self) -> None:
        if self.forward == "":
            object.__setattr__(self, "forward", CONVENTIONS[self.convention or self.name].names[0])
        if self.backward == "":
            names = backward_names(self.convention or self.name)
            object.__setattr__(self, "backward", names[0] if names else None)


def _conv_layer(case: dict[str, Any]) -> layers.Conv2D:
    F_, C, kh, kw = case["w"].shape
    conv = layers.Conv2D(C, F_, (kh, kw), case["stride"], case["pad"]).astype(np.float64)
    conv.params["W"], conv.params["b"] = case["w"].copy(), case["b"].copy()
    return conv


# --- convolution ---------------------------------------------------------------------------------
def conv_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    shapes = [(2, 3, 7, 7, 4, 3, 1, 1), (2, 2, 8, 6, 3, 3, 2, 1), (1, 3, 9, 9, 3, 5, 2, 2),
              (3, 1, 6, 5, 2, 2, 1, 0), (2, 4, 7, 8, 4, 3, 3, 0), (2, 3, 5, 5, 3, 1, 1, 0)]  # fmt: skip
    for k, (N, C, H, W, F_, kk, s, p) in enumerate(shapes):
        x = rng.standard_normal((N, C, H, W))
        if k == 0:  # the exact 6x5-image style: a ramp makes every mistake visible
            x = np.arange(x.size, dtype=float).reshape(x.shape) % 7 - 3
        out.append({"x": x, "w": rng.standard_normal((F_, C, kk, kk)), "b": rng.standard_normal(F_),
                    "stride": s, "pad": p, "dout_seed": 100 + k})  # fmt: skip
    return out


def _with_dout(case: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """The upstream gradient of a case, drawn once for its output shape."""
    if "dout" not in case:
        case["dout"] = np.random.default_rng(case["dout_seed"]).standard_normal(shape)
    return case["dout"]


def conv_expected(case: dict[str, Any]) -> Arrays:
    conv = _conv_layer(case)
    out = conv.forward(case["x"])
    dx = conv.backward(_with_dout(case, out.shape))
    return {"out": out, "dx": dx, "dw": conv.grads["W"], "db": conv.grads["b"]}


def _conv_backward(c: dict[str, Any], **mistake: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The textbook convolution backward pass on a case, with one mistake switched on."""
    return conv2d_backward_naive(c["dout"], c["x"], c["w"], c["stride"], c["pad"], **mistake)


def _conv_mistakes() -> tuple[Mistake, ...]:
    def flipped(c):
        """A true convolution, out = corr(x, flip(w)), and its own gradients (a 1x1 kernel is its
        own flip)."""
        if c["w"].shape[2:] == (1, 1):
            return {}
        out = conv2d_naive(c["x"], c["w"], c["b"], c["stride"], c["pad"], flip=True)
        dx, dw, _ = _conv_backward(c, flip=True)
        return {"out": out, "dx": dx, "dw": dw}

    def padded_dx(c):
        return {"dx": _conv_backward(c, keep_padding=True)[0]} if c["pad"] else {}

    def no_stride(c):
        if c["stride"] == 1:
            return {}
        dx, dw, _ = _conv_backward(c, backward_stride=1)
        return {"dx": dx, "dw": dw}

    def dw_transposed(c):
        if c["w"].shape[2] == 1:
            return {}
        e = conv_expected(c)
        return {"dw": e["dw"].transpose(0, 1, 3, 2)}

    def dw_first_image(c):
        one = dict(c, x=c["x"][:1], dout=c["dout"][:1])
        return {"dw": conv_expected(one)["dw"]} if len(c["x"]) > 1 else {}

    def dw_mean(c):
        return {"dw": conv_expected(c)["dw"] / len(c["x"])} if len(c["x"]) > 1 else {}

    def db_not_summed(c):
        return {"db": c["dout"][0].sum(axis=(1, 2))} if len(c["x"]) > 1 else {}

    def db_mean(c):
        return {"db": c["dout"].sum(axis=(0, 2, 3)) / len(c["x"])} if len(c["x"]) > 1 else {}

    return (
        Mistake(
            "flipped kernel",
            "your {key} is that of a convolution with the flipped kernel "
            "(w[:, :, ::-1, ::-1], a true convolution); the layer computes a cross-correlation: do not "
            "flip w",
            flipped,
        ),
        Mistake(
            "padding left in dx",
            "your dx still has the zero padding around it: return the centre, "
            "dx_padded[:, :, pad:pad+H, pad:pad+W]",
            padded_dx,
        ),
        Mistake(
            "stride ignored in backward",
            "your backward pass slides the windows by 1 instead of the "
            "stride: the window of output (i, j) starts at (i*stride, j*stride)",
            no_stride,
        ),
        Mistake(
            "dW kernel axes transposed",
            "your dW equals the true one with its two kernel axes swapped "
            "(dW[f, c, j, i] where dW[f, c, i, j] was due)",
            dw_transposed,
        ),
        Mistake(
            "dW from the first image only",
            "your dW comes from the first image only: sum the contributions of every image of the batch",
            dw_first_image,
        ),
        Mistake(
            "dW averaged over the batch",
            "your dW is the true one divided by the batch size N: the "
            "gradient sums over the images (the loss already carries any 1/N)",
            dw_mean,
        ),
        Mistake(
            "db not summed over the batch",
            "your db comes from the first image only: sum dout over the batch and every output position",
            db_not_summed,
        ),
        Mistake(
            "db averaged over the batch", "your db is divided by N: db = dout.sum(axis=(0, 2, 3))", db_mean
        ),
    )


# --- pooling --------------------------------------------------------------------------------------
def pool_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for k, (N, C, H, W, ph, pw, s) in enumerate([(2, 3, 8, 8, 2, 2, 2), (1, 2, 7, 9, 3, 3, 2),
                                                 (2, 2, 6, 6, 2, 3, 1), (3, 1, 5, 7, 2, 2, 3)]):  # fmt: skip
        x = rng.standard_normal((N, C, H, W))
        out.append({"x": x, "ph": ph, "pw": pw, "stride": s, "dout_seed": 200 + k})
    ties = np.zeros((2, 2, 6, 6))  # zeros after a ReLU: whole windows of equal values
    ties[:, :, ::3, ::2] = 1.0
    out.append({"x": ties, "ph": 2, "pw": 2, "stride": 2, "dout_seed": 299, "ties": True})
    return out


def _pool_layer(case: dict[str, Any], kind: type) -> Any:
    return kind((case["ph"], case["pw"]), case["stride"])


def pool_expected(kind: type) -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        pool = _pool_layer(case, kind)
        out = pool.forward(case["x"])
        return {"out": out, "dx": pool.backward(_with_dout(case, out.shape))}

    return expected


def _pool_backward(c: dict[str, Any], mode: str, **mistake: Any) -> Arrays:
    """The textbook pooling backward pass on a case, with one mistake switched on."""
    return {"dx": pool2d_backward_naive(c["dout"], c["x"], (c["ph"], c["pw"]), c["stride"], mode, **mistake)}


def _maxpool_mistakes() -> tuple[Mistake, ...]:
    def spread(c, share):
        return _pool_backward(c, "avg", divide=share)

    def every_tie(c):
        return _pool_backward(c, "max", every_tie=True) if c.get("ties") else {}  # random inputs have no ties

    def no_stride(c):
        return _pool_backward(c, "max", backward_stride=1) if c["stride"] != 1 else {}

    return (
        Mistake(
            "gradient spread over the window",
            "your dx shares each window's gradient equally among its "
            "elements (that is average pooling's backward): max pooling sends it all to the maximum",
            lambda c: spread(c, True),
        ),
        Mistake(
            "gradient copied to the whole window",
            "your dx gives every element of a window the window's whole gradient: only the maximum gets it",
            lambda c: spread(c, False),
        ),
        Mistake(
            "gradient to every tie",
            "where several elements tie for a window's maximum your dx gives the "
            "gradient to each of them: it goes to exactly one (the first in row-major order, as "
            "PyTorch does), or the gradient is counted several times",
            every_tie,
        ),
        Mistake(
            "stride ignored in backward",
            "your backward pass takes windows at steps of 1 instead of the stride",
            no_stride,
        ),
    )


def _avgpool_mistakes() -> tuple[Mistake, ...]:
    def not_divided(c):
        return _pool_backward(c, "avg", divide=False)

    return (
        Mistake(
            "gradient not divided by the window size",
            "your dx gives every element the window's "
            "whole gradient: each gets dout / (pool_height * pool_width)",
            not_divided,
        ),
    )


# --- element-wise ------------------------------------------------------------------------------
def elementwise_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    shapes = [(4, 5), (2, 3, 4, 4), (7,), (3, 1, 6)]
    return [{"x": rng.standard_normal(s) * 2, "dout_seed": 300 + k} for k, s in enumerate(shapes)]


def activation_expected(kind: type) -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        layer = kind()
        out = layer.forward(case["x"])
        return {"out": out, "dx": layer.backward(_with_dout(case, out.shape))}

    return expected


def _missing_upstream(derivative: Callable[[np.ndarray], np.ndarray]) -> Mistake:
    return Mistake(
        "upstream gradient missing",
        "your dx is the local derivative alone: multiply it by dout (the chain rule)",
        lambda c: {"dx": derivative(c["x"])},
    )


# --- dense -----------------------------------------------------------------------------------------
def dense_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for k, (xs, M) in enumerate([((4, 6), 3), ((3, 2, 4), 5), ((1, 7), 2), ((5, 3, 2, 2), 4)]):
        D = int(np.prod(xs[1:]))
        out.append({"x": rng.standard_normal(xs), "w": rng.standard_normal((D, M)), "b": rng.standard_normal(M),
                    "dout_seed": 400 + k})  # fmt: skip
    return out


def dense_expected(case: dict[str, Any]) -> Arrays:
    x = case["x"]
    layer = layers.Dense(*case["w"].shape).astype(np.float64)
    layer.params["W"], layer.params["b"] = case["w"].copy(), case["b"].copy()
    out = layer.forward(x.reshape(len(x), -1))
    dx = layer.backward(_with_dout(case, out.shape)).reshape(x.shape)
    return {"out": out, "dx": dx, "dw": layer.grads["W"], "db": layer.grads["b"]}


def _dense_mistakes() -> tuple[Mistake, ...]:
    return (
        Mistake(
            "dW transposed",
            "your dW is (dout^T x), the transpose of the true dW = x^T dout (shape (D, M), like W)",
            lambda c: {"dw": dense_expected(c)["dw"].T},
        ),
        Mistake(
            "db not summed over the batch",
            "your db is the first row of dout: db = dout.sum(axis=0)",
            lambda c: {"db": c["dout"][0]} if len(c["x"]) > 1 else {},
        ),
        Mistake(
            "db averaged over the batch",
            "your db is divided by N: db = dout.sum(axis=0)",
            lambda c: {"db": c["dout"].mean(axis=0)} if len(c["x"]) > 1 else {},
        ),
        Mistake(
            "dx not reshaped",
            "your dx has the flattened shape (N, D): reshape it to x's shape",
            lambda c: {"dx": dense_expected(c)["dx"].reshape(len(c["x"]), -1)} if c["x"].ndim > 2 else {},
        ),
    )


# --- losses ----------------------------------------------------------------------------------------
def softmax_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.standard_normal((N, C)) * scale, "y": rng.integers(0, C, N)}
            for N, C, scale in [(5, 4, 1.0), (8, 10, 3.0), (1, 3, 1.0), (6, 5, 50.0)]]  # fmt: skip


def loss_expected(make: Callable[[], Any], target: str = "y") -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        loss = make()
        return {"loss": np.asarray(loss.forward(case["x"], case[target])), "dx": loss.backward()}

    return expected


def binary_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.standard_normal(s) * 2, "y": rng.integers(0, 2, s).astype(float)}
            for s in [(6,), (4, 3), (1,), (5, 2)]]  # fmt: skip


def regression_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.standard_normal(s), "y": rng.standard_normal(s)} for s in [(6,), (4, 3), (2, 5, 2)]]


def _times(key: str, factor: Callable[[dict[str, Any]], float], base: Callable) -> Callable:
    """The mistake of a result off by ``factor(case)`` (none where the factor is 1: N = 1)."""
    return lambda c: {key: base(c)[key] * factor(c)} if factor(c) != 1 else {}


# --- dropout ---------------------------------------------------------------------------------------
def dropout_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Large inputs (so the kept fraction can be measured) without zeros (so the mask can be read
    off the output); ``p`` is the probability of *keeping* a unit, as in the courses'
    ``dropout_param``. The mask is the submission's own, fixed by the seed it is given."""
    out = []
    for k, (shape, p) in enumerate([((200, 50), 0.5), ((100, 80), 0.8), ((300, 30), 0.3)]):
        x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
        out.append({"x": x, "p": p, "seed": k, "dout": rng.standard_normal(shape)})
    return out


def dropout_observe(case: dict[str, Any], got: Arrays) -> None:
    """The mask, read off the submission's training output (``x`` has no zeros); when there is no
    usable output, the mask of the courses' draw ``np.random.seed(seed); rand(*x.shape) < p``."""
    out = got.get("out")
    if out is not None and np.shape(out) == case["x"].shape:
        case["mask"] = np.asarray(out) != 0
    else:
        case["mask"] = np.random.RandomState(case["seed"]).rand(*case["x"].shape) < case["p"]


def dropout_expected(case: dict[str, Any]) -> Arrays:
    x, m, p = case["x"], case["mask"], case["p"]
    return {"out": x * m / p, "kept": np.asarray(p), "test": x, "dx": case["dout"] * m / p}


def dropout_tolerance(case: dict[str, Any], key: str) -> float | None:
    """The kept fraction of n Bernoulli(p) draws has standard deviation sqrt(p (1 - p) / n): five of
    them is a bound a correct mask passes but for one time in ~3.5 million."""
    p, n = case["p"], case["x"].size
    return 5 * np.sqrt(p * (1 - p) / n) if key == "kept" else None


def _dropout_mistakes() -> tuple[Mistake, ...]:
    return (
        Mistake(
            "p read as the drop probability",
            "your forward keeps a fraction 1 - p of the units: in "
            "this convention p is the probability of keeping one (mask = rand(*x.shape) < p)",
            lambda c: {"kept": np.asarray(1 - c["p"])} if c["p"] != 0.5 else {},
        ),
        Mistake(
            "kept units not rescaled",
            "your training output is x * mask: inverted dropout divides by "
            "p (out = x * mask / p) so that the test pass needs no change",
            lambda c: {"out": c["x"] * c["mask"]},
        ),
        Mistake(
            "test output rescaled",
            "your test-mode output is scaled: with inverted dropout the test pass is the identity, out = x",
            lambda c: {"test": c["x"] * c["p"]},
        ),
        Mistake(
            "mask applied at test time",
            "your test-mode output drops units: at test time out = x",
            lambda c: {"test": c["x"] * c["mask"] / c["p"]},
        ),
        Mistake(
            "backward not rescaled",
            "your dx is dout * mask: divide by p as the forward pass does",
            lambda c: {"dx": c["dout"] * c["mask"]},
        ),
        Mistake(
            "backward without the mask",
            "your dx is dout / p for every unit: the dropped units get no gradient (dx = dout * mask / p)",
            lambda c: {"dx": c["dout"] / c["p"]},
        ),
    )


# --- multiclass hinge ------------------------------------------------------------------------------
def _hinge_counted_correct(c):
    """The correct class left in the sum: each row adds max(0, margin) = 1 to the loss."""
    return {"loss": np.asarray(HINGE(c)["loss"] + 1.0)}


# --- batch norm ----------------------------------------------------------------------------------
def batchnorm_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for k, (N, D) in enumerate([(8, 5), (4, 3), (16, 2), (5, 7)]):
        out.append({"x": rng.standard_normal((N, D)) * 3 + 1, "gamma": rng.uniform(0.5, 2, D),
                    "beta": rng.standard_normal(D), "eps": 1e-5, "dout_seed": 600 + k})  # fmt: skip
    return out


def batchnorm_expected(case: dict[str, Any]) -> Arrays:
    bn = layers.BatchNorm1D(case["x"].shape[1], eps=case["eps"]).astype(np.float64)
    bn.params["gamma"], bn.params["beta"] = case["gamma"].copy(), case["beta"].copy()
    out = bn.forward(case["x"])
    dx = bn.backward(_with_dout(case, out.shape))
    return {"out": out, "dx": dx, "dgamma": bn.grads["gamma"], "dbeta": bn.grads["beta"]}


def _batchnorm_mistakes() -> tuple[Mistake, ...]:
    def constant_stats(c):
        std = np.sqrt(c["x"].var(axis=0) + c["eps"])
        return {"dx": c["dout"] * c["gamma"] / std}

    def unbiased(c):
        x = c["x"]
        xhat = (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + c["eps"])
        return {"out": c["gamma"] * xhat + c["beta"]}

    def no_mean_term(c):
        x, g = c["x"], c["dout"] * c["gamma"]
        std = np.sqrt(x.var(0) + c["eps"])
        xhat = (x - x.mean(0)) / std
        return {"dx": (g - xhat * (g * xhat).mean(0)) / std}

    def no_var_term(c):
        x, g = c["x"], c["dout"] * c["gamma"]
        std = np.sqrt(x.var(0) + c["eps"])
        return {"dx": (g - g.mean(0)) / std}

    return (
        Mistake(
            "batch statistics treated as constants",
            "your dx is dout * gamma / sqrt(var + eps): it "
            "leaves out that the mean and the variance depend on x (both terms are missing)",
            constant_stats,
        ),
        Mistake(
            "the mean's term missing",
            "your dx lacks the term of the mean's dependence on x: subtract the mean of gamma * dout",
            no_mean_term,
        ),
        Mistake(
            "the variance's term missing",
            "your dx lacks the term of the variance's dependence on x: "
            "subtract xhat * mean(gamma * dout * xhat)",
            no_var_term,
        ),
        Mistake(
            "unbiased variance in the forward pass",
            "you normalise with the unbiased variance (divided "
            "by N - 1); batch norm normalises with the batch's own variance (divided by N)",
            unbiased,
        ),
    )


# --- recurrent -------------------------------------------------------------------------------------
IFOG_TO_IFGO = np.r_[0:2, 3, 2]  # the courses' gate blocks [i, f, o, g] -> scratchnet's [i, f, g, o]


def _blocks(a: np.ndarray, H: int, order: np.ndarray) -> np.ndarray:
    """The 4 gate blocks of the last axis of ``a`` (each ``H`` wide) in ``order``."""
    return np.concatenate([a[..., k * H : (k + 1) * H] for k in order], axis=-1)


def recurrent_cases(cell: str, steps: bool) -> Callable[[np.random.Generator], list[dict[str, Any]]]:
    """The courses' sequence LSTM starts its cell at zero (``lstm_forward(x, h0, Wx, Wh, b)``): its
    cases carry ``c0 = 0``; the step's ``prev_c`` is random."""
    G = 4 if cell == "lstm" else 1

    def cases(rng: np.random.Generator) -> list[dict[str, Any]]:
        out = []
        for k, (N, T, D, H) in enumerate([(3, 4, 5, 4), (2, 1, 3, 2), (4, 3, 2, 5)]):
            T = 1 if steps else T
            c = {"x": rng.standard_normal((N, D) if steps else (N, T, D)), "h0": rng.standard_normal((N, H)),
                 "Wx": rng.standard_normal((D, G * H)) * 0.5, "Wh": rng.standard_normal((H, G * H)) * 0.5,
                 "b": rng.standard_normal(G * H) * 0.5, "dout_seed": 700 + k}  # fmt: skip
            if cell == "lstm":
                c["c0"] = rng.standard_normal((N, H)) if steps else np.zeros((N, H))
            out.append(c)
        return out

    return cases


def rnn_expected(steps: bool) -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        x = case["x"][:, None] if steps else case["x"]  # a step is a sequence of length 1
        hs, cache = rec.rnn_forward(x, case["h0"], case["Wx"], case["Wh"], case["b"])
        dh = _with_dout(case, hs[:, 0].shape if steps else hs.shape)
        dx, dh0, dWx, dWh, db = rec.rnn_backward(None if steps else dh, dh if steps else None, cache)
        out = {"out": hs[:, 0] if steps else hs, "dx": dx[:, 0] if steps else dx, "dh0": dh0, "dWx": dWx,
               "dWh": dWh, "db": db}  # fmt: skip
        return out

    return expected


def lstm_expected(steps: bool, order: np.ndarray = IFOG_TO_IFGO) -> Callable[[dict[str, Any]], Arrays]:
    """The courses' LSTM (gates [i, f, o, g]) through scratchnet's ([i, f, g, o]): the weights'
    gate blocks are reordered in, the gradients' back."""

    def expected(case: dict[str, Any]) -> Arrays:
        H = case["h0"].shape[1]
        Wx, Wh, b = (_blocks(case[k], H, order) for k in ("Wx", "Wh", "b"))
        x = case["x"][:, None] if steps else case["x"]
        hs, cT, cache = rec.lstm_forward(x, case["h0"], case["c0"], Wx, Wh, b)
        if steps:
            if "dc_seed" not in case:
                case["dc"] = np.random.default_rng(case["dout_seed"] + 1).standard_normal(cT.shape)
                case["dc_seed"] = True
            dh = _with_dout(case, hs[:, 0].shape)
            dx, dh0, dc0, dWx, dWh, db = rec.lstm_backward(None, dh, case["dc"], cache)
        else:
            dh = _with_dout(case, hs.shape)
            dx, dh0, dc0, dWx, dWh, db = rec.lstm_backward(dh, None, None, cache)
        back = np.argsort(order)
        out = {"out": hs[:, 0] if steps else hs}
        if steps:
            out["c"] = cT
        out.update({"dx": dx[:, 0] if steps else dx, "dh0": dh0})
        if steps:
            out["dc0"] = dc0
        out.update({"dWx": _blocks(dWx, H, back), "dWh": _blocks(dWh, H, back), "db": _blocks(db, H, back)})
        return out

    return expected


def _gate_order(steps: bool) -> Mistake:
    wrong = lstm_expected(steps, order=np.arange(4))  # the submission reads [i, f, o, g] as [i, f, g, o]
    return Mistake(
        "wrong gate order",
        "your LSTM reads the gate blocks in the order [i, f, g, o] "
        "(PyTorch's); the courses' convention, and this check's, is [i, f, o, g]: a[:, :H] is i, "
        "a[:, H:2H] f, a[:, 2H:3H] o, a[:, 3H:] g",
        lambda c: {"out": wrong(c)["out"]},
    )


def _truncated_bptt(cell: str) -> Mistake:
    """The gradient from the next step not added to dh (each step backpropagates only its own output)."""

    def compute(c):
        H, N, T = c["h0"].shape[1], c["x"].shape[0], c["x"].shape[1]
        if T == 1:
            return {}
        dh = c["dout"]
        dx = np.zeros_like(c["x"])
        for t in range(T):  # every step alone, from its own output's gradient only
            sub = dict(c, x=c["x"][:, : t + 1])
            sub.pop("dout")
            sub["dout"] = np.zeros((N, t + 1, H))
            sub["dout"][:, t] = dh[:, t]
            e = (lstm_expected(False) if cell == "lstm" else rnn_expected(False))(sub)
            dx[:, t] = e["dx"][:, t]
        return {"dx": dx}

    return Mistake(
        "the next step's gradient not carried back",
        "your dx at step t only sees the gradient of "
        "the output at t: dh_t must also receive dh_{t+1} through the recurrence (dprev_h of step "
        "t + 1 added to the upstream gradient of step t)",
        compute,
    )


# --- embedding -------------------------------------------------------------------------------------
def embedding_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"x": rng.integers(0, V, shape), "W": rng.standard_normal((V, D)), "dout_seed": 800 + k}
            for k, (shape, V, D) in enumerate([((3, 4), 5, 3), ((2, 6), 3, 2), ((1, 5), 10, 4)])]  # fmt: skip


def embedding_expected(case: dict[str, Any]) -> Arrays:
    emb = layers.Embedding(*case["W"].shape).astype(np.float64)
    emb.params["E"] = case["W"].copy()
    out = emb.forward(case["x"])
    emb.backward(_with_dout(case, out.shape))
    return {"out": out, "dW": emb.grads["E"]}


def _embedding_overwrite(c):
    dW = np.zeros_like(c["W"])
    dW[c["x"].reshape(-1)] = c["dout"].reshape(-1, c["W"].shape[1])
    return {"dW": dW}


# --- the table -------------------------------------------------------------------------------------
def _sig_input(c):
    return {"dx": c["dout"] * c["x"] * (1 - c["x"])}


def _tanh_input(c):
    return {"dx": c["dout"] * (1 - c["x"] ** 2)}


SOFTMAX = loss_expected(SoftmaxCrossEntropy)
BCE = loss_expected(BinaryCrossEntropy)
MSE_ = loss_expected(MSE)
HINGE = loss_expected(MulticlassHinge)

OPS: dict[str, OpSpec] = {spec.name: spec for spec in (
    OpSpec(
        name="conv2d",
        about="2-D convolution (cross-correlation) with stride and zero padding",
        results=("out", "dx", "dw", "db"),
        cases=conv_cases,
        expected=conv_expected,
        signature="out, cache = conv_forward_naive(x, w, b, conv_param)   # x (N, C, H, W), w (F, C, HH, "
                  "WW), b (F,),\n"
                  "#   conv_param = {'stride': s, 'pad': p}; out (N, F, H', W'), H' = 1 + (H + 2p - HH) // s\n"
                  "dx, dw, db = conv_backward_naive(dout, cache)        # the shapes of x, w, b",
        equations="out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xpad[n, c, s*i + u, s*j + v]\n"
                  "dw[f, c, u, v] = sum_{n, i, j} dout[n, f, i, j] * xpad[n, c, s*i + u, s*j + v]\n"
                  "db[f] = sum_{n, i, j} dout[n, f, i, j]\n"
                  "dxpad[n, c, s*i + u, s*j + v] += dout[n, f, i, j] * w[f, c, u, v]; dx = dxpad without "
                  "its padding",
        doc="docs/conv.md",
        layer="Conv2D",
        mistakes=_conv_mistakes(),
    ),
    OpSpec(
        name="maxpool2d",
        about="max pooling, any window and stride (ties: the first maximum)",
        results=("out", "dx"),
        cases=pool_cases,
        expected=pool_expected(layers.MaxPool2D),
        signature="out, cache = max_pool_forward_naive(x, pool_param)    # x (N, C, H, W),\n"
                  "#   pool_param = {'pool_height': ph, 'pool_width': pw, 'stride': s}\n"
                  "dx = max_pool_backward_naive(dout, cache)",
        equations="out[n, c, i, j] = max over the window x[n, c, s*i : s*i + ph, s*j : s*j + pw]\n"
                  "dx: each dout[n, c, i, j] goes to its window's maximum (the first one, row-major, on ties)",
        doc="docs/pooling.md",
        layer="MaxPool2D",
        mistakes=_maxpool_mistakes(),
    ),
    OpSpec(
        name="avgpool2d",
        about="average pooling, any window and stride",
        results=("out", "dx"),
        cases=pool_cases,
        expected=pool_expected(layers.AvgPool2D),
        signature="out, cache = avg_pool_forward_naive(x, pool_param)    # as max_pool_forward_naive\n"
                  "dx = avg_pool_backward_naive(dout, cache)",
        equations="out[n, c, i, j] = mean of the window; dx: each element of a window gets dout / (ph * pw)",
        doc="docs/pooling.md",
        layer="AvgPool2D",
        mistakes=_avgpool_mistakes(),
    ),
    OpSpec(
        name="relu",
        about="ReLU",
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.ReLU),
        signature="out, cache = relu_forward(x)\ndx = relu_backward(dout, cache)",
        equations="out = max(x, 0); dx = dout * (x > 0)",
        doc="docs/activations.md",
        layer="ReLU",
        mistakes=(_missing_upstream(lambda x: (x > 0).astype(float)),),
    ),
    OpSpec(
        name="sigmoid",
        about="the logistic sigmoid",
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.Sigmoid),
        signature="out, cache = sigmoid_forward(x)\ndx = sigmoid_backward(dout, cache)",
        equations="out = 1 / (1 + exp(-x)); dx = dout * out * (1 - out)",
        doc="docs/activations.md",
        layer="Sigmoid",
        mistakes=(Mistake("derivative taken on the input", "your dx is dout * x * (1 - x): the derivative is "
                 "sigma(x) * (1 - sigma(x)), on the output, not on the input", _sig_input),
                 _missing_upstream(lambda x: sigmoid(x) * (1 - sigmoid(x)))),
    ),
    OpSpec(
        name="tanh",
        about="tanh",
        results=("out", "dx"),
        cases=elementwise_cases,
        expected=activation_expected(layers.Tanh),
        signature="out, cache = tanh_forward(x)\ndx = tanh_backward(dout, cache)",
        equations="out = tanh(x); dx = dout * (1 - out**2)",
        doc="docs/activations.md",
        layer="Tanh",
        mistakes=(Mistake("derivative taken on the input", "your dx is dout * (1 - x**2): the derivative is "
                 "1 - tanh(x)**2, on the output", _tanh_input),
                 _missing_upstream(lambda x: 1 - np.tanh(x) ** 2)),
    ),
    OpSpec(
        name="dense",
        about="affine (fully connected) layer on x reshaped to (N, D)",
        results=("out", "dx", "dw", "db"),
        cases=dense_cases,
        expected=dense_expected,
        signature="out, cache = affine_forward(x, w, b)    # x (N, d1, ..., dk), w (D, M) with D = "
                  "d1*...*dk, b (M,)\n"
                  "dx, dw, db = affine_backward(dout, cache)",
        equations="out = x.reshape(N, D) @ w + b; dx = (dout @ w.T).reshape(x.shape); dw = x.reshape(N, "
                  "D).T @ dout; "
                  "db = dout.sum(axis=0)",
        doc="docs/activations.md",
        layer="Dense",
        mistakes=_dense_mistakes(),
    ),
    OpSpec(
        name="softmax-ce",
        about="softmax cross-entropy, mean over the batch",
        results=("loss", "dx"),
        cases=softmax_cases,
        expected=SOFTMAX,
        signature="loss, dx = softmax_loss(x, y)    # x (N, C) scores, y (N,) integer labels",
        equations="p = softmax(x) (subtract each row's max first); loss = -mean(log p[n, y[n]]); "
                  "dx = (p - onehot(y)) / N",
        doc="docs/losses.md",
        layer="SoftmaxCrossEntropy",
        mistakes=(Mistake("gradient not divided by N", "your dx is N times too large: the loss is a mean "
                                                       "over the "
                 "batch, so dx = (p - onehot(y)) / N", _times("dx", lambda c: len(c["x"]), SOFTMAX)),
                 Mistake("loss summed, not averaged", "your loss is the sum over the batch: the mean is "
                                                      "expected",
                 _times("loss", lambda c: len(c["x"]), SOFTMAX))),
        forward_results=2,
    ),
    OpSpec(
        name="bce",
        about="binary cross-entropy on logits (sigmoid inside), mean over all elements",
        results=("loss", "dx"),
        cases=binary_cases,
        expected=BCE,
        signature="loss, dx = bce_loss(x, y)    # x logits of any shape, y targets in [0, 1] of the same shape",
        equations="loss = mean(max(x, 0) - x*y + log(1 + exp(-|x|))); dx = (sigmoid(x) - y) / x.size",
        doc="docs/losses.md",
        layer="BinaryCrossEntropy",
        mistakes=(Mistake("gradient not divided by the number of elements", "your dx is x.size times too "
                                                                            "large: "
                 "dx = (sigmoid(x) - y) / x.size", _times("dx", lambda c: c["x"].size, BCE)),
                 Mistake("sigmoid left out of the gradient", "your dx is (x - y) / x.size: the logits go "
                                                             "through "
                 "the sigmoid, dx = (sigmoid(x) - y) / x.size",
                 lambda c: {"dx": (c["x"] - c["y"]) / c["x"].size})),
        forward_results=2,
    ),
    OpSpec(
        name="mse",
        about="mean squared error over all elements",
        results=("loss", "dx"),
        cases=regression_cases,
        expected=MSE_,
        signature="loss, dx = mse_loss(x, y)    # x predictions, y targets, same shape",
        equations="loss = mean((x - y)**2); dx = 2 * (x - y) / x.size",
        doc="docs/losses.md",
        layer="MSE",
        mistakes=(Mistake("gradient not divided by the number of elements", "your dx is x.size times too "
                                                                            "large: "
                 "dx = 2 (x - y) / x.size", _times("dx", lambda c: c["x"].size, MSE_)),
                 Mistake("factor 2 missing", "your dx is half the gradient: d/dx (x - y)**2 = 2 (x - y) "
                                             "(if your "
                 "course's loss has a 1/2 in front, it is the loss that should have it)",
                 _times("dx", lambda c: 0.5, MSE_))),
        forward_results=2,
    ),
    OpSpec(
        name="hinge",
        about="the multiclass SVM (hinge) loss, margin 1, mean over the batch",
        results=("loss", "dx"),
        cases=softmax_cases,
        expected=HINGE,
        signature="loss, dx = svm_loss(x, y)    # x (N, C) scores, y (N,) integer labels",
        equations="margins = max(0, x - x[n, y[n]] + 1) for j != y[n]; loss = margins.sum() / N; "
                  "dx[n, j] = (margin > 0) / N, dx[n, y[n]] = -(number of positive margins) / N",
        doc="docs/losses.md",
        layer="MulticlassHinge",
        mistakes=(Mistake("gradient not divided by N", "your dx is N times too large: the loss is a mean "
                                                       "over the batch",
                 _times("dx", lambda c: len(c["x"]), HINGE)),
                 Mistake("loss summed, not averaged", "your loss is the sum over the batch: the mean is "
                                                      "expected",
                 _times("loss", lambda c: len(c["x"]), HINGE)),
                 Mistake("the correct class counted", "your loss is 1 higher: the sum runs over j != y[n] (the "
                 "correct class's own margin is always 1)", _hinge_counted_correct)),
        forward_results=2,
    ),
    OpSpec(
        name="dropout",
        about="inverted dropout, p the probability of keeping a unit",
        results=("out", "kept", "test", "dx"),
        cases=dropout_cases,
        expected=dropout_expected,
        signature="out, cache = dropout_forward(x, dropout_param)\n"
                  "#   dropout_param = {'p': keep, 'mode': 'train' or 'test', 'seed': s}\n"
                  "dx = dropout_backward(dout, cache)",
        equations="train: mask = rand(*x.shape) < p; out = x * mask / p; dx = dout * mask / p. test: out = x\n"
                  "checked: out against the mask read off your output, the kept fraction, the test pass, dx",
        doc="docs/activations.md",
        layer="Dropout",
        mistakes=_dropout_mistakes(),
        forward_results=3,
        tolerance=dropout_tolerance,
        observe=dropout_observe,
    ),
    OpSpec(
        name="batchnorm",
        about="batch normalisation of (N, D) features, training mode",
        results=("out", "dx", "dgamma", "dbeta"),
        cases=batchnorm_cases,
        expected=batchnorm_expected,
        signature="out, cache = batchnorm_forward(x, gamma, beta, bn_param)    # x (N, D), gamma, beta (D,),\n"
                  "#   bn_param = {'mode': 'train', 'eps': eps, 'momentum': 0.9}\n"
                  "dx, dgamma, dbeta = batchnorm_backward(dout, cache)",
        equations="xhat = (x - mean) / sqrt(var + eps) (mean, var over the batch, var divided by N)\n"
                  "out = gamma * xhat + beta\n"
                  "dx = gamma / (N sqrt(var + eps)) * (N dout - dout.sum(0) - xhat * (dout*xhat).sum(0))",
        doc="docs/batchnorm.md",
        layer="BatchNorm1D",
        mistakes=_batchnorm_mistakes(),
    ),
    OpSpec(
        name="rnn-step",
        about="one step of a tanh RNN",
        results=("out", "dx", "dh0", "dWx", "dWh", "db"),
        cases=recurrent_cases("rnn", True),
        expected=rnn_expected(True),
        signature="next_h, cache = rnn_step_forward(x, prev_h, Wx, Wh, b)\n"
                  "#   x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,); next_h (N, H)\n"
                  "dx, dprev_h, dWx, dWh, db = rnn_step_backward(dnext_h, cache)",
        equations="next_h = tanh(x @ Wx + prev_h @ Wh + b); da = dnext_h * (1 - next_h**2); dx = da @ Wx.T; "
                  "dprev_h = da @ Wh.T; dWx = x.T @ da; dWh = prev_h.T @ da; db = da.sum(0)",
        doc="docs/recurrent.md",
    ),
    OpSpec(
        name="rnn",
        about="a tanh RNN over a sequence, backpropagation through time",
        results=("out", "dx", "dh0", "dWx", "dWh", "db"),
        cases=recurrent_cases("rnn", False),
        expected=rnn_expected(False),
        signature="h, cache = rnn_forward(x, h0, Wx, Wh, b)    # x (N, T, D), h0 (N, H); h (N, T, H)\n"
                  "dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)    # dh (N, T, H): the gradient of "
                  "every output",
        equations="the step's equations for t = 1..T; backward from t = T down, dh_t = dh[:, t] + dprev_h "
                  "of step t+1",
        doc="docs/recurrent.md",
        mistakes=(_truncated_bptt("rnn"),),
    ),
    OpSpec(
        name="lstm-step",
        about="one LSTM step, gates [i, f, o, g]",
        results=("out", "c", "dx", "dh0", "dc0", "dWx", "dWh", "db"),
        cases=recurrent_cases("lstm", True),
        expected=lstm_expected(True),
        signature="next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)\n"
                  "#   x (N, D), prev_h and prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)\n"
                  "dx, dprev_h, dprev_c, dWx, dWh, db = lstm_step_backward(dnext_h, dnext_c, cache)",
        equations="a = x @ Wx + prev_h @ Wh + b, blocks [i, f, o, g]; i, f, o = sigmoid; g = tanh;\n"
                  "next_c = f * prev_c + i * g; next_h = o * tanh(next_c)",
        doc="docs/recurrent.md",
        mistakes=(_gate_order(True),),
        forward_results=2,
    ),
    OpSpec(
        name="lstm",
        about="an LSTM over a sequence, the cell starting at zero, backpropagation through time",
        results=("out", "dx", "dh0", "dWx", "dWh", "db"),
        cases=recurrent_cases("lstm", False),
        expected=lstm_expected(False),
        signature="h, cache = lstm_forward(x, h0, Wx, Wh, b)    # x (N, T, D), h0 (N, H); the cell starts "
                  "at zero\n"
                  "dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)",
        equations="the step's equations for t = 1..T; backward from t = T down, carrying dh and dc to "
                  "step t - 1",
        doc="docs/recurrent.md",
        mistakes=(_gate_order(False), _truncated_bptt("lstm")),
    ),
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
)}  # fmt: skip
