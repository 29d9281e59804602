r"""Shape arithmetic of convolution and pooling layers: the classic exercises, one call each.

For a window of size :math:`k`, stride :math:`s` and zero padding :math:`p` over a length
:math:`n`, the number of window positions is :math:`\lfloor (n + 2p - k)/s \rfloor + 1`.
A convolution with :math:`C_{in}` input and :math:`C_{out}` output channels and a
:math:`k_H \times k_W` kernel then has

* :math:`C_{out} C_{in} k_H k_W` weights (+ :math:`C_{out}` biases),
* :math:`H_{out} W_{out} C_{out} \cdot C_{in} k_H k_W` multiplications per image (one product per
  weight per output position; the additions are one fewer per output, plus the bias).

Pooling has no parameters and no multiplications (max) or one per output (average's
:math:`1/k^2`, not counted as a "multiplication of the layer" here). Shapes are per image:
``(C, H, W)`` channels first, or ``(H, W, C)`` with ``channels_last=True``.

The receptive field of a stack (how many input pixels, per axis, one output pixel sees) follows
:math:`r_{l} = r_{l-1} + (k_l - 1)\,j_{l-1}`, :math:`j_l = j_{l-1} s_l` (:math:`j` the distance, in
input pixels, between neighbouring positions of layer :math:`l`; :math:`r_0 = j_0 = 1`).
Derivations and worked examples: ``docs/exercises.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .ops._util import conv_output_size, pair
from .ops.conv import dilated


@dataclass(frozen=True)
class LayerShape:
    """What one conv or pool layer does to an image's shape, with its cost."""

    kind: str  # "conv", "conv1d", "maxpool" or "avgpool"
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]  # in the same convention (channels first or last)
    params: int  # trainable parameters, biases included
    params_without_bias: int
    multiplications: int  # per image

    @property
    def output_size(self) -> int:
        """Number of scalars in the output of one image."""
        return math.prod(self.output_shape)


def _split(shape: tuple[int, int, int], channels_last: bool) -> tuple[int, int, int]:
    return (shape[2], shape[0], shape[1]) if channels_last else tuple(shape)  # type: ignore[return-value]


def _join(c: int, h: int, w: int, channels_last: bool) -> tuple[int, int, int]:
    return (h, w, c) if channels_last else (c, h, w)


def conv2d_shape(
    input_shape: tuple[int, int, int],
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    *,
    bias: bool = True,
    channels_last: bool = False,
    dilation: int | tuple[int, int] = 1,
) -> LayerShape:
    """Output shape, parameter count and multiplications of a convolution on one image; with
    ``dilation`` d the kernel's taps are d pixels apart, spanning ``d (k - 1) + 1``.

    Equations (1) and (9) of ``docs/conv.md``.
    """
    C, H, W = _split(input_shape, channels_last)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        pair(kernel_size, "kernel_size"),
        pair(stride, "stride"),
        pair(padding, "padding"),
        pair(dilation, "dilation"),
    )
    span_h, span_w = dilated(kh, dh), dilated(kw, dw)
    if span_h > H + 2 * ph or span_w > W + 2 * pw:
        spans = f" (dilated: {span_h}x{span_w})" if (dh, dw) != (1, 1) else ""
        raise ValueError(f"kernel {kh}x{kw}{spans} is larger than the padded input {H + 2 * ph}x{W + 2 * pw} "
                         f"(input {H}x{W}, padding {ph},{pw}): it does not fit")  # fmt: skip
    Ho, Wo = conv_output_size(H, span_h, sh, ph), conv_output_size(W, span_w, sw, pw)
    weights = out_channels * C * kh * kw
    return LayerShape("conv", tuple(input_shape), _join(out_channels, Ho, Wo, channels_last),
                      weights + (out_channels if bias else 0), weights, Ho * Wo * weights)  # fmt: skip


def conv1d_shape(
    input_shape: tuple[int, int],
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    *,
    dilation: int = 1,
    bias: bool = True,
) -> LayerShape:
    """:func:`conv2d_shape` for a sequence ``(C, L)``: output ``(C_out, L_out)`` with
    ``L_out = (L + 2p - d (k - 1) - 1) // s + 1``."""
    C, L = input_shape
    s = conv2d_shape((C, 1, L), out_channels, (1, kernel_size), (1, stride), (0, padding), bias=bias,
                     dilation=(1, dilation))  # fmt: skip
    return LayerShape("conv1d", tuple(input_shape), (out_channels, s.output_shape[2]), s.params,
                      s.params_without_bias, s.multiplications)  # fmt: skip


def pool2d_shape(
    input_shape: tuple[int, int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    *,
    mode: str = "max",
    channels_last: bool = False,
) -> LayerShape:
    """Output shape of a max or average pool (no padding; stride defaults to the kernel).

    Equation (1) of ``docs/pooling.md``.
    """
    C, H, W = _split(input_shape, channels_last)
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    Ho, Wo = conv_output_size(H, kh, sh, 0), conv_output_size(W, kw, sw, 0)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"pooling window {kh}x{kw} is larger than the input {H}x{W}")
    return LayerShape(f"{mode}pool", tuple(input_shape), _join(C, Ho, Wo, channels_last), 0, 0, 0)


def receptive_field(layers: Iterable[tuple[int | tuple[int, int], int | tuple[int, int]]]) -> tuple[int, int]:
    """Receptive field ``(rows, columns)`` of one output pixel of a stack of ``(kernel, stride)``
    windows (convolutions and pools alike; padding does not change it)."""
    r, j = [1, 1], [1, 1]
    for kernel, stride in layers:
        k, s = pair(kernel, "kernel"), pair(stride, "stride")
        for a in range(2):
            r[a] += (k[a] - 1) * j[a]
            j[a] *= s[a]
    return r[0], r[1]


def backprop_shapes(model, input_shape: tuple[int, ...]) -> str:
    """Forward and backward through ``model`` layer by layer, every tensor with its dimensions
    (one sample; ``N`` is the batch): what each layer receives and returns in both passes and
    the shape of each parameter gradient. The backward pass runs the table bottom to top."""
    rows = [("layer", "forward: x -> y", "backward: dL/dy -> dL/dx", "parameter gradients")]
    for r in model.summary_rows(tuple(input_shape))[0]:  # every layer call, in order
        if r.layer is None:
            continue
        shape, out = ("N", *r.input_shape), ("N", *r.shape)
        grads = ", ".join(f"dL/d{k} {tuple(v.shape)}" for k, v in r.layer.params.items()) or "-"
        fmt = "(" + ", ".join(str(d) for d in shape) + ")", "(" + ", ".join(str(d) for d in out) + ")"
        rows.append((type(r.layer).__name__, f"{fmt[0]} -> {fmt[1]}", f"{fmt[1]} -> {fmt[0]}", grads))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    return "\n".join("  ".join(r[c].ljust(widths[c]) for c in range(4)).rstrip() for r in rows)
