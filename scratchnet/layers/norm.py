"""Normalisation layers: ``BatchNorm2D``, ``BatchNorm1D``, ``LayerNorm``, ``GroupNorm`` (math in
:mod:`scratchnet.ops.norm`)."""

from __future__ import annotations

import numpy as np

from ..ops.norm import (
    batchnorm2d_backward,
    batchnorm2d_forward,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .base import Layer, shape_error


class _Affine(Layer):
    """A normalisation's learnt per-feature scale ``gamma`` (ones) and shift ``beta`` (zeros)."""

    def __init__(self, shape: tuple[int, ...], eps: float, dtype: np.dtype | type) -> None:
        super().__init__()
        self.eps = float(eps)
        self.params["gamma"] = np.ones(shape, dtype=dtype)
        self.params["beta"] = np.zeros(shape, dtype=dtype)


class BatchNorm2D(_Affine):
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
        super().__init__((int(num_features),), eps, dtype)
        self.num_features, self.momentum = int(num_features), float(momentum)
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
        return self._normalise(x)

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        """The op on an ``(N, C, H, W)`` input (statistics per channel), running stats updated."""
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


class BatchNorm1D(BatchNorm2D):
    r"""Batch normalisation of features: input ``(N, F)`` (or ``(N, F, L)``, statistics then over
    :math:`N` and :math:`L`, as PyTorch's ``BatchNorm1d``), for dense networks.

    The same statistics, running averages and backward pass as :class:`BatchNorm2D`, whose op it
    runs on the input seen as ``(N, F, L, 1)`` images (an exact reshape: the per-feature sums are
    over :math:`M = NL` values). Parameters ``gamma``, ``beta`` and buffers ``running_mean``,
    ``running_var``, all of shape ``(num_features,)``.
    """

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) not in (2, 3) or shape[1] != self.num_features:
            raise shape_error(self, f"(N, {self.num_features}) or (N, {self.num_features}, L)", shape)
        return tuple(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        self._shape = x.shape
        return self._normalise(x.reshape(x.shape[0], self.num_features, -1, 1)).reshape(x.shape)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        self._saved()
        dx = super().backward(dout.reshape(dout.shape[0], self.num_features, -1, 1), need_dx=need_dx)
        return None if dx is None else dx.reshape(self._shape)


class LayerNorm(_Affine):
    r"""Layer normalisation over the trailing ``normalized_shape`` of each sample (PyTorch's
    ``LayerNorm``): :math:`\hat x = (x - \mu)/\sqrt{\sigma^2 + \epsilon}` with :math:`\mu,
    \sigma^2` over those :math:`M` values, :math:`y = \gamma\odot\hat x + \beta`.

    Backward: :math:`\partial L/\partial\beta = \sum g`, :math:`\partial L/\partial\gamma = \sum
    g\odot\hat x` (over the leading positions), :math:`\partial L/\partial x = \sigma^{-1}(\hat g
    - \overline{\hat g} - \hat x\,\overline{\hat g\hat x})`, :math:`\hat g = \gamma g`. Parameters
    ``gamma`` (ones) and ``beta`` (zeros) of shape ``normalized_shape``. No running statistics:
    training and evaluation compute the same.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, *,
                 dtype: np.dtype | type = np.float32) -> None:  # fmt: skip
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        shape = tuple(int(d) for d in shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}")
        super().__init__(shape, eps, dtype)
        self.normalized_shape = shape

    def extra_repr(self) -> str:
        return str(self.normalized_shape[0] if len(self.normalized_shape) == 1 else self.normalized_shape)

    def check_input(self, shape: tuple) -> tuple:
        k = len(self.normalized_shape)
        if len(shape) < k + 1 or tuple(shape[-k:]) != self.normalized_shape:
            trailing = ", ".join(str(d) for d in self.normalized_shape)
            raise shape_error(self, f"(N, ..., {trailing})", shape)
        return tuple(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        y, self._cache = layernorm_forward(x, self.params["gamma"], self.params["beta"], self.eps)
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dgamma, dbeta = layernorm_backward(dout, self._saved())
        self._set_grad("gamma", dgamma.reshape(self.normalized_shape))
        self._set_grad("beta", dbeta.reshape(self.normalized_shape))
        return dx if need_dx else None


class GroupNorm(_Affine):
    r"""Group normalisation of ``(N, C, H, W)`` (PyTorch's ``GroupNorm``): the channels fall into
    ``num_groups`` groups; each sample's group is normalised over its :math:`(C/G)HW` values, then
    :math:`y = \gamma_c\hat x + \beta_c` per channel. Independent of the batch (works with batch
    size 1, same in training and evaluation); ``num_groups=1`` normalises each sample over all of
    it, ``num_groups=C`` is instance normalisation.

    Backward as :class:`LayerNorm`'s within each group; ``gamma``, ``beta`` of shape ``(C,)``.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, *,
                 dtype: np.dtype | type = np.float32) -> None:  # fmt: skip
        if int(num_groups) < 1 or int(num_channels) % int(num_groups):
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be a multiple of num_groups "
                             f"({num_groups})")  # fmt: skip
        super().__init__((int(num_channels),), eps, dtype)
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}"

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 4 or shape[1] != self.num_channels:
            raise shape_error(self, f"(N, {self.num_channels}, H, W)", shape)
        return tuple(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        y, self._cache = groupnorm_forward(x, self.params["gamma"], self.params["beta"], self.num_groups,
                                           self.eps)  # fmt: skip
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dgamma, dbeta = groupnorm_backward(dout, self._saved())
        self._set_grad("gamma", dgamma)
        self._set_grad("beta", dbeta)
        return dx if need_dx else None
