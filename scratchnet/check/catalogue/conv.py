"""The 2-D convolution: cases (strides, paddings, a ramp that shows every mistake), expected results from
the library's ``Conv2D``, and the catalogue of mistakes (computed by switches of the textbook loops)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import layers
from ...ops.naive import conv2d_backward_naive, conv2d_naive
from ..spec import Arrays, Mistake, OpSpec, with_dout


def _conv_layer(case: dict[str, Any]) -> layers.Conv2D:
    F_, C, kh, kw = case["w"].shape
    conv = layers.Conv2D(C, F_, (kh, kw), case["stride"], case["pad"]).astype(np.float64)
    conv.params["W"], conv.params["b"] = case["w"].copy(), case["b"].copy()
    return conv


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


def conv_expected(case: dict[str, Any]) -> Arrays:
    conv = _conv_layer(case)
    out = conv.forward(case["x"])
    dx = conv.backward(with_dout(case, out.shape))
    return {"out": out, "dx": dx, "dw": conv.grads["W"], "db": conv.grads["b"]}


def _conv_backward(c: dict[str, Any], **mistake: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The textbook convolution backward pass on a case, with one mistake switched on."""
    return conv2d_backward_naive(c["dout"], c["x"], c["w"], c["stride"], c["pad"], **mistake)


def _flipped(c):
    """A true convolution, out = corr(x, flip(w)), and its own gradients (a 1x1 kernel is its
    own flip)."""
    if c["w"].shape[2:] == (1, 1):
        return {}
    out = conv2d_naive(c["x"], c["w"], c["b"], c["stride"], c["pad"], flip=True)
    dx, dw, _ = _conv_backward(c, flip=True)
    return {"out": out, "dx": dx, "dw": dw}


def _padded_dx(c):
    return {"dx": _conv_backward(c, keep_padding=True)[0]} if c["pad"] else {}


def _no_stride(c):
    if c["stride"] == 1:
        return {}
    dx, dw, _ = _conv_backward(c, backward_stride=1)
    return {"dx": dx, "dw": dw}


def _dw_transposed(c):
    if c["w"].shape[2] == 1:
        return {}
    e = conv_expected(c)
    return {"dw": e["dw"].transpose(0, 1, 3, 2)}


def _dw_first_image(c):
    one = dict(c, x=c["x"][:1], dout=c["dout"][:1])
    return {"dw": conv_expected(one)["dw"]} if len(c["x"]) > 1 else {}


def _dw_mean(c):
    return {"dw": conv_expected(c)["dw"] / len(c["x"])} if len(c["x"]) > 1 else {}


def _db_not_summed(c):
    return {"db": c["dout"][0].sum(axis=(1, 2))} if len(c["x"]) > 1 else {}


def _db_mean(c):
    return {"db": c["dout"].sum(axis=(0, 2, 3)) / len(c["x"])} if len(c["x"]) > 1 else {}


CONV_MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "flipped kernel",
        "your {key} is that of a convolution with the flipped kernel "
        "(w[:, :, ::-1, ::-1], a true convolution); the layer computes a cross-correlation: do not "
        "flip w",
        _flipped,
    ),
    Mistake(
        "padding left in dx",
        "your dx still has the zero padding around it: return the centre, "
        "dx_padded[:, :, pad:pad+H, pad:pad+W]",
        _padded_dx,
    ),
    Mistake(
        "stride ignored in backward",
        "your backward pass slides the windows by 1 instead of the "
        "stride: the window of output (i, j) starts at (i*stride, j*stride)",
        _no_stride,
    ),
    Mistake(
        "dW kernel axes transposed",
        "your dW equals the true one with its two kernel axes swapped "
        "(dW[f, c, j, i] where dW[f, c, i, j] was due)",
        _dw_transposed,
    ),
    Mistake(
        "dW from the first image only",
        "your dW comes from the first image only: sum the contributions of every image of the batch",
        _dw_first_image,
    ),
    Mistake(
        "dW averaged over the batch",
        "your dW is the true one divided by the batch size N: the "
        "gradient sums over the images (the loss already carries any 1/N)",
        _dw_mean,
    ),
    Mistake(
        "db not summed over the batch",
        "your db comes from the first image only: sum dout over the batch and every output position",
        _db_not_summed,
    ),
    Mistake(
        "db averaged over the batch", "your db is divided by N: db = dout.sum(axis=(0, 2, 3))", _db_mean
    ),
)


SPECS = (
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
        mistakes=CONV_MISTAKES,
    ),
)  # fmt: skip
