"""``Conv2D`` and the fused ``ConvPool2D``: stateful wrappers around :mod:`scratchnet.ops.conv` and
:mod:`scratchnet.ops.convpool`."""

from __future__ import annotations

import numpy as np

from ..ops._util import pair
from ..ops.conv import conv2d_backward, conv2d_forward, dilated
from ..ops.convpool import convpool2d_backward, convpool2d_forward
from ..shapes import LayerShape, conv1d_shape, conv2d_shape
from .base import Layer, Shape, shape_error
from .init import he_normal, make_rng


def same_padding(layer: Layer, kernel: tuple[int, ...], stride: tuple[int, ...],
                 dilation: tuple[int, ...]) -> tuple[int, ...]:  # fmt: skip
    """The padding that keeps the size, ``dilation*(k-1)/2`` per axis (``padding="same"``): only
    for stride 1 and kernels of odd span (an even one would need more on one side)."""
    spans = [dilated(k, d) - 1 for k, d in zip(kernel, dilation, strict=True)]
    if any(s != 1 for s in stride) or any(span % 2 for span in spans):
        raise ValueError(f"{type(layer).__name__}: padding='same' needs stride 1 and an odd kernel "
                         f"(kernel {kernel}, stride {stride}, dilation {dilation})")  # fmt: skip
    return tuple(span // 2 for span in spans)


class Conv2D(Layer):
    r"""2-D convolution (cross-correlation, zero padding), NCHW.

    Forward: :math:`y_{n,o,i,j} = b_o + \sum_{c,u,v} W_{o,c,u,v}\,\tilde x_{n,c,s_h i+d_h u,s_w j+d_w v}`
    (:math:`\tilde x` zero-padded, :math:`d` the dilation, 1 by default), computed as
    ``W.reshape(C_out, -1) @ im2col(x)``.

    Backward, with the whole batch's receptive fields as the rows of :math:`X`
    (:math:`M = N H_{out} W_{out}` rows) and :math:`G = \partial L/\partial Y` as an
    :math:`M \times C_{out}` matrix: :math:`\partial L/\partial b = G^\top \mathbf 1`,
    :math:`\partial L/\partial W = G^\top X`, :math:`\partial L/\partial x =
    \operatorname{col2im}(G W)`. See :mod:`scratchnet.ops.conv` and ``docs/conv.md``.

    Parameters: ``W`` of shape ``(C_out, C_in, kH, kW)`` (He-normal init), ``b`` of shape
    ``(C_out,)`` (zeros). Input ``(N, C_in, H, W)``, output ``(N, C_out, H_out, W_out)`` with
    ``H_out = (H + 2*pad - dilation*(kH - 1) - 1)//stride + 1``. ``padding="same"`` (stride 1, odd
    kernel) pads ``dilation*(k - 1)/2`` on each side, so that ``H_out = H``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        *,
        dilation: int | tuple[int, int] = 1,
        dtype: np.dtype | type = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        self.padding = same_padding(self, self.kernel_size, self.stride, self.dilation) if padding == "same" \
            else pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0 or min(self.dilation) < 1:
            raise ValueError(f"{self!r}: kernel, stride and dilation must be >= 1 and padding >= 0")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"{self!r}: channel counts must be >= 1")
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        gen = make_rng(rng)
        self.params["W"] = he_normal((self.out_channels, self.in_channels, kh, kw), fan_in, gen, dtype)
        if bias:
            self.params["b"] = np.zeros(self.out_channels, dtype=dtype)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1, 1):
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if "b" not in self.params:
            s += ", bias=False"
        return s

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise shape_error(self, f"(N, {self.in_channels}, H, W)", shape)
        N, _, H, W = shape
        try:  # the kernel must fit the padded input: checked once, by the shape arithmetic
            return (N, *self._shape((self.in_channels, H, W)).output_shape)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None

    def _shape(self, image_shape: tuple[int, int, int]) -> LayerShape:
        """The shape arithmetic of :func:`scratchnet.shapes.conv2d_shape` for one image."""
        return conv2d_shape(image_shape, self.out_channels, self.kernel_size, self.stride, self.padding,
                            bias="b" in self.params, dilation=self.dilation)  # fmt: skip

    def macs(self, input_shape: Shape) -> int:
        Conv2D.check_input(self, ("N", *input_shape))
        return self._shape(tuple(input_shape)).multiplications  # the convolution's own output

    _forward_op = staticmethod(conv2d_forward)  # (x, W, b, stride, padding, ws, dilation) -> (y, cache)
    _backward_op = staticmethod(conv2d_backward)  # (dout, cache, need_dx, ws) -> (dx, dW, db)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        W, b = self.params["W"], self.params.get("b")
        y, self._cache = self._forward_op(x, W, b, self.stride, self.padding, self.workspace, self.dilation)
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dw, db = self._backward_op(dout, self._saved(), need_dx, self.workspace, need_dw=self.trainable)
        if dw is not None:
            self._set_grad("W", dw)
        if db is not None:
            self._set_grad("b", db)
        return dx


class ConvPool2D(Conv2D):
    r"""``Conv2D`` followed by ``MaxPool2D(2)``, computed in one fused pass.

    Forward: :math:`z_{n,o,i,j} = \max_{a,b\in\{0,1\}} y_{n,o,2i+a,2j+b}` with :math:`y` the
    convolution of :class:`Conv2D`; output ``(N, C_out, H_out // 2, W_out // 2)``. Backward: the
    pooled gradient goes to each window's first maximum (PyTorch's rule), then through the
    convolution's backward pass. See :mod:`scratchnet.ops.convpool`.

    Same parameters as :class:`Conv2D`. :func:`scratchnet.fuse` builds one from a ``Conv2D`` and
    the ``MaxPool2D(2)`` after it (:meth:`from_conv` shares the conv's parameter arrays).
    """

    _forward_op = staticmethod(convpool2d_forward)
    _backward_op = staticmethod(convpool2d_backward)

    @classmethod
    def from_conv(cls, conv: Conv2D) -> ConvPool2D:
        """A fused layer computing ``MaxPool2D(2)(conv(x))`` that shares ``conv``'s ``params``
        and ``grads`` dictionaries (an update through either is seen by both)."""
        fused = cls.__new__(cls)
        Layer.__init__(fused)
        fused.in_channels, fused.out_channels = conv.in_channels, conv.out_channels
        fused.kernel_size, fused.stride, fused.padding = conv.kernel_size, conv.stride, conv.padding
        fused.dilation = conv.dilation
        fused.params, fused.grads, fused.training = conv.params, conv.grads, conv.training
        fused.trainable = conv.trainable
        return fused

    def extra_repr(self) -> str:
        return super().extra_repr() + ", pool=2"

    def fused_description(self) -> str:
        """What a user wrote: ``ConvPool2D(...) (the fused Conv2D(...) + MaxPool2D(2))``."""
        return f"{self!r} (the fused Conv2D({Conv2D.extra_repr(self)}) + MaxPool2D(2))"

    def check_input(self, shape: tuple) -> tuple:
        try:
            return self._check_fused_input(shape)
        except ValueError as e:  # name the layers the user wrote, not only the fused one
            raise ValueError(str(e).replace(repr(self), self.fused_description(), 1)) from None

    def _check_fused_input(self, shape: tuple) -> tuple:
        N, C, Ho, Wo = super().check_input(shape)
        if (isinstance(Ho, int) and Ho < 2) or (isinstance(Wo, int) and Wo < 2):
            raise ValueError(f"{self!r}: convolution output {Ho}x{Wo} is too small for a 2x2 max-pool")
        return (N, C, Ho // 2, Wo // 2)


class Conv1D(Layer):
    r"""1-D convolution (cross-correlation) of sequences ``(N, C_in, L)``, PyTorch's ``Conv1d``.

    Forward: :math:`y_{n,o,i} = b_o + \sum_{c,u} W_{o,c,u}\,\tilde x_{n,c,\,s i + d u}`
    (:math:`\tilde x` zero-padded by ``padding`` at both ends), output length
    :math:`L_{out} = \lfloor (L + 2p - d(k-1) - 1)/s\rfloor + 1`. It *is* the 2-D convolution of
    the sequences seen as ``(N, C_in, 1, L)`` images with a ``1 x k`` kernel, so it runs the same
    im2col + one GEMM ops (:mod:`scratchnet.ops.conv`) and has the same backward pass:
    :math:`\partial L/\partial W = G^\top X`, :math:`\partial L/\partial x = \operatorname{col2im}(GW)`.

    Parameters ``W`` ``(C_out, C_in, k)`` (He-normal), ``b`` ``(C_out,)`` (zeros).
    ``padding="same"`` as :class:`Conv2D`'s.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | str = 0, dilation: int = 1, bias: bool = True, *,
                 dtype: np.dtype | type = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.dilation = int(kernel_size), int(stride), int(dilation)
        self.padding = same_padding(self, (self.kernel_size,), (self.stride,), (self.dilation,))[0] \
            if padding == "same" else int(padding)
        if min(self.kernel_size, self.stride, self.dilation) < 1 or self.padding < 0:
            raise ValueError(f"{self!r}: kernel, stride and dilation must be >= 1 and padding >= 0")
        fan_in = self.in_channels * self.kernel_size
        self.params["W"] = he_normal((self.out_channels, self.in_channels, self.kernel_size), fan_in,
                                     make_rng(rng), dtype)  # fmt: skip
        if bias:
            self.params["b"] = np.zeros(self.out_channels, dtype=dtype)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + (", bias=False" if "b" not in self.params else "")

    def _shape(self, seq_shape: tuple[int, int]) -> LayerShape:
        return conv1d_shape(seq_shape, self.out_channels, self.kernel_size, self.stride, self.padding,
                            dilation=self.dilation, bias="b" in self.params)  # fmt: skip

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 3 or shape[1] != self.in_channels:
            raise shape_error(self, f"(N, {self.in_channels}, L)", shape)
        span = dilated(self.kernel_size, self.dilation)
        if isinstance(shape[2], int) and span > shape[2] + 2 * self.padding:
            raise ValueError(f"{self!r}: kernel spanning {span} is longer than the padded input "
                             f"{shape[2] + 2 * self.padding} (input {shape[2]}, "
                             f"padding {self.padding})")  # fmt: skip
        return (shape[0], *self._shape(tuple(shape[1:])).output_shape)

    def macs(self, input_shape: Shape) -> int:
        self.check_input(("N", *input_shape))
        return self._shape(tuple(input_shape)).multiplications

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        W, b = self.params["W"], self.params.get("b")
        y, self._cache = conv2d_forward(x[:, :, None, :], W[:, :, None, :], b, (1, self.stride),
                                        (0, self.padding), self.workspace, (1, self.dilation))  # fmt: skip
        return y[:, :, 0, :]

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dw, db = conv2d_backward(dout[:, :, None, :], self._saved(), need_dx, self.workspace)
        self._set_grad("W", dw[:, :, 0, :])
        if db is not None:
            self._set_grad("b", db)
        return None if dx is None else dx[:, :, 0, :]
