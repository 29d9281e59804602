"""``Conv2D``: a stateful wrapper around :mod:`scratchnet.ops.conv`."""

from __future__ import annotations

import numpy as np

from ..ops._util import conv_output_size, pair
from ..ops.conv import conv2d_backward, conv2d_forward
from .base import Layer, Shape, he_normal, make_rng, shape_error


class Conv2D(Layer):
    r"""2-D convolution (cross-correlation, zero padding), NCHW.

    Forward: :math:`y_{n,o,i,j} = b_o + \sum_{c,u,v} W_{o,c,u,v}\,\tilde x_{n,c,s_h i+u,s_w j+v}`
    (:math:`\tilde x` zero-padded), computed as ``W.reshape(C_out, -1) @ im2col(x)``.

    Backward (:math:`G = \partial L/\partial y`, per image as matrices):
    :math:`\partial L/\partial b = \sum G`, :math:`\partial L/\partial W = \sum_n G_n
    X^{col\top}_n`, :math:`\partial L/\partial x = \operatorname{col2im}(W^\top G)`.
    See :mod:`scratchnet.ops.conv` and ``docs/conv.md``.

    Parameters: ``W`` of shape ``(C_out, C_in, kH, kW)`` (He-normal init), ``b`` of shape
    ``(C_out,)`` (zeros). Input ``(N, C_in, H, W)``, output ``(N, C_out, H_out, W_out)`` with
    ``H_out = (H + 2*pad - kH)//stride + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        *,
        dtype: np.dtype | type = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.padding = pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{self!r}: kernel and stride must be >= 1 and padding >= 0")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"{self!r}: channel counts must be >= 1")
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        gen = make_rng(rng)
        self.params["W"] = he_normal((self.out_channels, self.in_channels, kh, kw), fan_in, gen, dtype)
        if bias:
            self.params["b"] = np.zeros(self.out_channels, dtype=dtype)
        self._workspace: dict[str, np.ndarray] = {}  # im2col scratch buffers reused across steps

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1, 1):
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if "b" not in self.params:
            s += ", bias=False"
        return s

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise shape_error(self, f"(N, {self.in_channels}, H, W)", shape)
        N, _, H, W = shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh > H + 2 * ph or kw > W + 2 * pw:
            raise ValueError(
                f"{self!r}: kernel {kh}x{kw} is larger than the padded input "
                f"{H + 2 * ph}x{W + 2 * pw} (input {H}x{W}, padding {ph},{pw})"
            )
        return (
            N,
            self.out_channels,
            conv_output_size(H, kh, sh, ph),
            conv_output_size(W, kw, sw, pw),
        )

    def macs(self, input_shape: Shape) -> int:
        _, Ho, Wo = self.output_shape(input_shape)
        kh, kw = self.kernel_size
        return self.out_channels * Ho * Wo * self.in_channels * kh * kw

    def forward(self, x: np.ndarray, *, maxpool2x2: bool = False) -> np.ndarray:
        """``y = conv(x)``; with ``maxpool2x2=True``, ``MaxPool2D(2)(conv(x))`` computed in one
        fused pass (what ``Sequential`` uses for a conv followed by a 2x2 max-pool)."""
        _, _, Ho, Wo = self.check_input(x.shape)
        if maxpool2x2 and (Ho < 2 or Wo < 2):
            raise ValueError(f"{self!r}: output {Ho}x{Wo} is too small for a 2x2 max-pool")
        y, self._cache = conv2d_forward(
            x, self.params["W"], self.params.get("b"), self.stride, self.padding, self._workspace, maxpool2x2
        )
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dw, db = conv2d_backward(dout, self._saved(), need_dx=need_dx)
        self._set_grad("W", dw)
        if db is not None:
            self._set_grad("b", db)
        return dx
