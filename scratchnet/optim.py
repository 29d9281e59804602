r"""Optimizers. They read ``Parameter.value``/``Parameter.grad`` and update the values in place.

Update rules (PyTorch's, so the parity tests can compare step by step), for a parameter
:math:`w` with gradient :math:`g`, learning rate :math:`\eta`, weight decay :math:`\lambda`:

SGD (``momentum`` :math:`\mu`, buffer :math:`v`, which starts as the first :math:`g'`)

.. math::
    g' = g + \lambda w,\qquad v \leftarrow \mu v + g',\qquad
    w \leftarrow w - \eta\,(g' + \mu v \text{ if nesterov else } v)

(with :math:`\mu = 0`: :math:`w \leftarrow w - \eta g'`). Weight decay is thus the L2 penalty
:math:`\tfrac\lambda2\lVert w\rVert^2` added to the loss.

Adam (``betas`` :math:`\beta_1, \beta_2`, step :math:`t = 1, 2, \dots`)

.. math::
    g' = g + \lambda w,\quad m \leftarrow \beta_1 m + (1-\beta_1) g',\quad
    v \leftarrow \beta_2 v + (1-\beta_2) g'^2,

    w \leftarrow w - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v/(1-\beta_2^t)} + \epsilon}

AdamW (decoupled weight decay, Loshchilov & Hutter): :math:`g' = g` and, before the Adam step,
:math:`w \leftarrow (1 - \eta\lambda)\,w`.

RMSprop (``alpha`` :math:`\alpha`, running mean of squares :math:`s`, optional momentum
:math:`\mu` with buffer :math:`b`; PyTorch's non-centred form)

.. math::
    g' = g + \lambda w,\quad s \leftarrow \alpha s + (1-\alpha) g'^2,\quad
    u = \frac{g'}{\sqrt s + \epsilon},

    b \leftarrow \mu b + u,\quad
    w \leftarrow w - \eta\,(b \text{ if } \mu > 0 \text{ else } u)

Adagrad (sum of squares :math:`S`, starting at 0)

.. math::
    g' = g + \lambda w,\quad S \leftarrow S + g'^2,\quad
    w \leftarrow w - \eta\,\frac{g'}{\sqrt S + \epsilon}

Derivations and discussion: ``docs/optim.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .layers.base import Layer, Parameter
from .registry import Registry


class Optimizer:
    """Base class: holds parameter handles (``SGD(model, lr=0.1)`` takes a model's, or give
    ``model.parameters()`` or a subset of them), the learning rate ``lr`` and per-parameter state.
    Parameters of a frozen layer (:meth:`~scratchnet.layers.Layer.freeze`) are skipped."""

    #: names of the per-parameter state arrays (saved in checkpoints)
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Layer | Iterable[Parameter], lr: float, clip_norm: float | None = None) -> None:
        name = type(self).__name__
        self.params = list(params.parameters() if isinstance(params, Layer) else params)
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        wrong = next((p for p in self.params if not isinstance(p, Parameter)), None)
        if wrong is not None:
            raise TypeError(f"{name}: expected a model or its parameters() (Parameter handles), got an item "
                            f"of type {type(wrong).__name__}: pass {name}(model, ...) or "
                            f"{name}(model.parameters(), ...)")
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be >= 0, got {lr}")
        self.lr = float(lr)
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f"{type(self).__name__}: clip_norm must be > 0, got {clip_norm}")
        self.clip_norm = clip_norm
        self.last_grad_norm = float("nan")  # global gradient norm of the last step, before clipping
        self.t = 0  # number of steps taken
        self.state: dict[str, list[np.ndarray | None]] = {
            n: [None] * len(self.params) for n in self.state_names
        }
        self._works: dict[int, np.ndarray] = {}

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient (clipped first if asked)."""
        self.t += 1
        grads = [p.grad if p.trainable else None for p in self.params]  # a frozen layer's: none, unchanged
        scale = self._clip_scale([g for g in grads if g is not None])
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if g is not None:
                self._update(i, p.value, g if scale is None else g * np.asarray(scale, dtype=g.dtype))

    def _clip_scale(self, grads: list[np.ndarray]) -> float | None:
        r"""Clipping by global norm: with :math:`\lVert g\rVert_2` the norm of all gradients
        stacked, every gradient is multiplied by :math:`\tau / (\lVert g\rVert_2 + 10^{-6})` when
        that is below 1 (``torch.nn.utils.clip_grad_norm_``'s rule); ``None``: no change."""
        if self.clip_norm is None:
            return None
        self.last_grad_norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
        scale = self.clip_norm / (self.last_grad_norm + 1e-6)
        return scale if scale < 1.0 else None

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _state(self, name: str, i: int, w: np.ndarray) -> np.ndarray:
        """Parameter ``i``'s state array ``name``, created as zeros like ``w`` on first use."""
        a = self.state[name][i]
        if a is None:
            a = self.state[name][i] = np.zeros_like(w)
        return a

    def _work(self, i: int, w: np.ndarray) -> np.ndarray:
        """A work array like parameter ``i``, kept from step to step (not saved): an update then
        allocates nothing (each temporary of a 4.7 MB weight was a fresh, page-faulted array)."""
        a = self._works.get(i)
        if a is None or a.shape != w.shape or a.dtype != w.dtype:
            a = self._works[i] = np.empty_like(w)
        return a

    def zero_grad(self) -> None:
        """Forget all gradients (layers overwrite them in ``backward`` anyway)."""
        for p in self.params:
            p.layer.grads.pop(p.key, None)

    # --- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` of the optimizer state (``.npz``-friendly, no pickle)."""
        out: dict[str, np.ndarray] = {"t": np.asarray(self.t), "lr": np.asarray(self.lr)}
        for n, arrays in self.state.items():
            for p, a in zip(self.params, arrays, strict=True):
                if a is not None:
                    out[f"{n}.{p.name}"] = a
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        for n, arrays in self.state.items():
            for i, p in enumerate(self.params):
                a = state.get(f"{n}.{p.name}")
                if a is not None and a.shape != p.value.shape:
                    raise ValueError(
                        f"optimizer state {n}.{p.name} has shape {a.shape}, parameter has {p.value.shape}"
                    )
                arrays[i] = None if a is None else np.array(a, dtype=p.value.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Equations (1) and (2) of ``docs/optim.md``.
    """

    state_names = ("velocity",)

    def __init__(
        self,
        params: Layer | Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(params, lr, clip_norm)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = (
            float(momentum),
            nesterov,
            float(weight_decay),
        )

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + w * np.asarray(self.weight_decay, dtype=w.dtype)
        if self.momentum:
            v = self.state["velocity"][i]
            if v is None:
                v = self.state["velocity"][i] = np.array(g, dtype=w.dtype)
            else:
                v *= np.asarray(self.momentum, dtype=v.dtype)
                v += g
            g = g + v * np.asarray(self.momentum, dtype=v.dtype) if self.nesterov else v
        w -= np.asarray(self.lr, dtype=w.dtype) * g


class Adam(Optimizer):
    """Adam; ``decoupled=True`` (or :class:`AdamW`) applies weight decay AdamW-style.

    Equations (3)–(5) of ``docs/optim.md``.
    """

    state_names = ("m", "v")

    def __init__(
        self,
        params: Layer | Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(params, lr, clip_norm)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        self.eps, self.weight_decay, self.decoupled = float(eps), float(weight_decay), decoupled

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        dt = w.dtype
        if self.weight_decay:
            if self.decoupled:
                w *= np.asarray(1.0 - self.lr * self.weight_decay, dtype=dt)
            else:
                g = g + w * np.asarray(self.weight_decay, dtype=dt)
        m, v, tmp = self._state("m", i, w), self._state("v", i, w), self._work(i, w)
        m *= np.asarray(self.beta1, dtype=dt)  # m = beta1 m + (1 - beta1) g
        m += np.multiply(g, np.asarray(1 - self.beta1, dtype=dt), out=tmp)
        v *= np.asarray(self.beta2, dtype=dt)  # v = beta2 v + (1 - beta2) g^2
        v += np.multiply(np.multiply(g, g, out=tmp), np.asarray(1 - self.beta2, dtype=dt), out=tmp)
        bc1 = 1.0 - self.beta1**self.t
        bc2_sqrt = np.sqrt(1.0 - self.beta2**self.t)
        denom = np.sqrt(v, out=tmp)  # sqrt(v / bc2) + eps, as sqrt(v) / sqrt(bc2) + eps
        denom /= np.asarray(bc2_sqrt, dtype=dt)
        denom += np.asarray(self.eps, dtype=dt)
        step = np.divide(m, denom, out=tmp)
        step *= np.asarray(self.lr / bc1, dtype=dt)
        w -= step


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.01``, as PyTorch); the other
    arguments as :class:`Adam`'s.

    Equation (5) of ``docs/optim.md``.
    """

    def __init__(self, params: Layer | Iterable[Parameter], lr: float = 1e-3, weight_decay: float = 0.01,
                 **kwargs: object) -> None:  # fmt: skip
        super().__init__(params, lr, weight_decay=weight_decay, decoupled=True, **kwargs)  # type: ignore[arg-type]


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; PyTorch's update, non-centred), optional momentum and L2
    weight decay; see the module docstring.

    Equations (6) and (7) of ``docs/optim.md``.
    """

    state_names = ("square_avg", "momentum_buffer")

    def __init__(self, params: Layer | Iterable[Parameter], lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0,
                 clip_norm: float | None = None) -> None:  # fmt: skip
        super().__init__(params, lr, clip_norm)
        if not 0 <= alpha < 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1), got {alpha}")
        self.alpha, self.eps, self.momentum, self.weight_decay = float(alpha), float(eps), float(momentum), \
            float(weight_decay)  # fmt: skip

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        dt = w.dtype
        if self.weight_decay:
            g = g + w * np.asarray(self.weight_decay, dtype=dt)
        s = self._state("square_avg", i, w)
        s *= np.asarray(self.alpha, dtype=dt)
        s += np.asarray(1 - self.alpha, dtype=dt) * (g * g)
        step = g / (np.sqrt(s) + np.asarray(self.eps, dtype=dt))
        if self.momentum:
            b = self._state("momentum_buffer", i, w)
            b *= np.asarray(self.momentum, dtype=dt)
            b += step
            step = b
        w -= np.asarray(self.lr, dtype=dt) * step


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.; PyTorch's update with no learning-rate decay and a zero initial
    accumulator) with L2 weight decay; see the module docstring.

    Equation (8) of ``docs/optim.md``.
    """

    state_names = ("sum",)

    def __init__(self, params: Layer | Iterable[Parameter], lr: float = 0.01, eps: float = 1e-10,
                 weight_decay: float = 0.0, clip_norm: float | None = None) -> None:  # fmt: skip
        super().__init__(params, lr, clip_norm)
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        dt = w.dtype
        if self.weight_decay:
            g = g + w * np.asarray(self.weight_decay, dtype=dt)
        total = self._state("sum", i, w)
        total += g * g
        w -= np.asarray(self.lr, dtype=dt) * g / (np.sqrt(total) + np.asarray(self.eps, dtype=dt))


class Lookahead:
    r"""Lookahead (Zhang, Lucas, Hinton & Ba, 2019) around any optimizer: the inner optimizer moves
    the "fast" weights; every ``k`` steps the "slow" weights :math:`\phi` take a step ``alpha``
    toward them and the fast weights restart from there,

    .. math:: \phi \leftarrow \phi + \alpha\,(w - \phi),\qquad w \leftarrow \phi .

    That is an exponential moving average of the weights, sampled every ``k`` steps, that the
    training continues from (the form airbench uses). ``lr``, ``state_dict`` and the rest are the
    inner optimizer's, plus the slow weights."""

    def __init__(self, inner: Optimizer, alpha: float = 0.5, k: int = 5) -> None:
        if not 0 < alpha <= 1 or k < 1:
            raise ValueError(f"Lookahead: alpha must be in (0, 1] and k >= 1, got {alpha}, {k}")
        self.inner, self.alpha, self.k = inner, float(alpha), int(k)
        self.slow: list[np.ndarray] = [p.value.copy() for p in inner.params]

    def __getattr__(self, name: str) -> object:  # lr, params, t, clip_norm, ... of the inner one
        return getattr(self.__dict__["inner"], name)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "lr":
            self.inner.lr = value  # type: ignore[assignment]
        else:
            super().__setattr__(name, value)

    def step(self) -> None:
        self.inner.step()
        if self.inner.t % self.k == 0:
            a = self.alpha
            for p, slow in zip(self.inner.params, self.slow, strict=True):
                slow += np.asarray(a, dtype=slow.dtype) * (p.value - slow)
                np.copyto(p.value, slow)

    def zero_grad(self) -> None:
        self.inner.zero_grad()

    def state_dict(self) -> dict[str, np.ndarray]:
        out = self.inner.state_dict()
        out.update({f"slow.{p.name}": s for p, s in zip(self.inner.params, self.slow, strict=True)})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.inner.load_state_dict(state)
        for i, p in enumerate(self.inner.params):
            if f"slow.{p.name}" in state:
                self.slow[i] = np.array(state[f"slow.{p.name}"], dtype=p.value.dtype)

    def __repr__(self) -> str:
        return f"Lookahead({self.inner!r}, alpha={self.alpha}, k={self.k})"


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Lookahead", "Optimizer", "RMSprop"]


def _sgd(params: list[Parameter], lr: float, *, momentum: float = 0.9, nesterov: bool = True,
         weight_decay: float = 0.0, clip_norm: float | None = None) -> SGD:  # fmt: skip
    return SGD(params, lr, momentum=momentum, nesterov=nesterov and momentum > 0, weight_decay=weight_decay,
               clip_norm=clip_norm)  # fmt: skip


def _adam(params: list[Parameter], lr: float, *, weight_decay: float = 0.0, clip_norm: float | None = None,
          **_: object) -> Adam:  # fmt: skip
    return Adam(params, lr, weight_decay=weight_decay, clip_norm=clip_norm)


def _adamw(params: list[Parameter], lr: float, *, weight_decay: float = 0.0, clip_norm: float | None = None,
           **_: object) -> AdamW:  # fmt: skip
    return AdamW(params, lr, weight_decay=weight_decay, clip_norm=clip_norm)


def _rmsprop(params: list[Parameter], lr: float, *, weight_decay: float = 0.0, clip_norm: float | None = None,
             **_: object) -> RMSprop:  # fmt: skip
    """RMSprop from a training recipe: alpha 0.99 and no momentum (the recipe's ``momentum`` is
    SGD's)."""
    return RMSprop(params, lr, weight_decay=weight_decay, clip_norm=clip_norm)


def _adagrad(params: list[Parameter], lr: float, *, weight_decay: float = 0.0, clip_norm: float | None = None,
             **_: object) -> Adagrad:  # fmt: skip
    return Adagrad(params, lr, weight_decay=weight_decay, clip_norm=clip_norm)


#: name -> factory ``(params, lr, *, momentum, nesterov, weight_decay, clip_norm) -> Optimizer``
OPTIMIZERS: Registry[Callable[..., Optimizer]] = Registry("optimizer")
OPTIMIZERS.add("sgd", _sgd, "SGD with (Nesterov) momentum and L2 weight decay")
OPTIMIZERS.add("adam", _adam, "Adam with L2 weight decay added to the gradient")
OPTIMIZERS.add("adamw", _adamw, "Adam with decoupled weight decay (Loshchilov & Hutter)")
OPTIMIZERS.add("rmsprop", _rmsprop, "RMSprop (alpha 0.99, no momentum) with L2 weight decay")
OPTIMIZERS.add("adagrad", _adagrad, "Adagrad with L2 weight decay")
