"""``BatchNorm2D``: a stateful wrapper around :mod:`scratchnet.ops.norm`."""

from __future__ import annotations

import numpy as np

from ..ops.norm import batchnorm2d_backward, batchnorm2d_forward
from .base import Layer, shape_error


class BatchNorm2D(Layer):
    r"""Batch normalisation per channel of an NCHW input.

    Training: :math:`y = \gamma\,(x-\mu_B)/\sqrt{\sigma_B^2+\epsilon} + \beta` with the batch
    statistics over :math:`(N, H, W)`; running statistics are updated with ``momentum`` (unbiased
    variance, as PyTorch). Eval: the running statistics replace the batch ones.

    Backward (training): :math:`\partial L/\partial x = \frac{\gamma}{M\sqrt{\sigma_B^2+\epsilon}}
    (M g - \sum g - \hat x \sum g\hat x)`; see :mod:`scratchnet.ops.norm` and
    ``docs/batchnorm.md``.

    Parameters ``gamma`` (ones) and ``beta`` (zeros), buffers ``running_mean`` (zeros) and
    ``running_var`` (ones), all of shape ``(num_features,)``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        *,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps, self.momentum = float(eps), float(momentum)
        self.params["gamma"] = np.ones(self.num_features, dtype=dtype)
        self.params["beta"] = np.zeros(self.num_features, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(self.num_features, dtype=dtype)
        self.buffers["running_var"] = np.ones(self.num_features, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}"

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 4 or shape[1] != self.num_features:
            raise shape_error(self, f"(N, {self.num_features}, H, W)", shape)
        return tuple(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            raise ValueError(f"{self!r}: training mode needs more than one value per channel")
        y, self._cache, rm, rv = batchnorm2d_forward(
            x,
            self.params["gamma"],
            self.params["beta"],
            self.buffers["running_mean"],
            self.buffers["running_var"],
            self.training,
            self.momentum,
            self.eps,
            self.workspace,
        )
        if self.training:
            self.buffers["running_mean"] = rm.astype(self.buffers["running_mean"].dtype, copy=False)
            self.buffers["running_var"] = rv.astype(self.buffers["running_var"].dtype, copy=False)
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dgamma, dbeta = batchnorm2d_backward(dout, self._saved(), self.workspace)
        self._set_grad("gamma", dgamma)
        self._set_grad("beta", dbeta)
        return dx if need_dx else None
