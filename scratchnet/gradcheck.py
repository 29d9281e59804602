r"""Finite-difference gradient checking (central differences, float64).

For a layer or model :math:`f` and a scalar objective :math:`L` (a loss, or
:math:`L = \sum_i f(x)_i\, r_i` with a fixed random :math:`r` when no loss is given), every entry
:math:`\theta_k` of the input and of every parameter is perturbed in turn:

.. math::
    \frac{\partial L}{\partial \theta_k} \approx \frac{L(\theta + h e_k) - L(\theta - h e_k)}{2h},

with truncation error :math:`O(h^2)` and round-off :math:`O(\epsilon_{mach} |L| / h)`; in float64
with the default :math:`h = 10^{-5}` both stay near :math:`10^{-9}` relative for smooth layers.
The report gives, per tensor, the relative error

.. math::
    \text{err} = \frac{\max_k |a_k - n_k|}{\max(\max_k |a_k|, \max_k |n_k|)}

between analytic :math:`a` and numeric :math:`n` gradients (a norm-wise relative error: it does
not blow up on single entries that are exactly zero). A tensor whose *whole* gradient is zero
(e.g. a conv bias right before batch norm) has only round-off :math:`n` and thus a relative error
near 1: judge it by the absolute error, which the report also gives.

**Kinks.** ReLU, max-pooling and hinge losses are not differentiable everywhere: when a perturbation
:math:`\pm h` carries a pre-activation across zero, the central difference is off by half the change
of slope, although the backward pass is right. Each entry whose difference misses the analytic
gradient by more than :math:`10^{-7}` of the tensor's scale is measured again with :math:`h/10`,
then :math:`h/100` (a kink at distance :math:`d` is crossed only when :math:`d < h`), and the
measurement nearest the analytic value is kept: a wrong backward pass is off at every step, a
crossed kink only at the larger ones. An entry still missed is judged by its one-sided differences
:math:`D^+ = (L(\theta + h e_k) - L(\theta)) / h` and :math:`D^-`: if they differ and the analytic
value lies between them, the objective has a kink at :math:`\theta` itself (a tie of a max-pool
window, a ReLU input of exactly 0), where any value between the one-sided derivatives is a valid
subgradient. Such entries are counted in the report (``kinks``) and left out of its errors; every
other entry is compared. A wrong backward pass of a smooth function has :math:`D^+ \approx D^-` and
so is never taken for a kink.

Layers with random state (dropout) are replayed with the same random state at every evaluation;
buffers (batch-norm running statistics), the parameter arrays and their dtypes are restored
afterwards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .layers.base import Layer
from .losses import Loss
from .model import Sequential


@dataclass
class GradCheckReport:
    """Relative error per checked tensor (``"input"`` and parameter names such as ``"0.W"``)."""

    errors: dict[str, float] = field(default_factory=dict)
    abs_errors: dict[str, float] = field(default_factory=dict)  # max |analytic - numeric|
    checked: dict[str, int] = field(default_factory=dict)  # entries compared per tensor
    kinks: dict[str, int] = field(default_factory=dict)  # entries at a kink, left out of the errors

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_error <= tol

    def __str__(self) -> str:
        w = max((len(k) for k in self.errors), default=5)
        kinks = any(self.kinks.values())  # the column only when some entry sits at a kink
        head = f"{'tensor'.ljust(w)}  {'entries':>7}  rel. error  abs. error"
        lines = [head + ("  at kinks" if kinks else "")]
        lines += [
            f"{k.ljust(w)}  {self.checked[k]:>7}  {v:10.3e}  {self.abs_errors[k]:10.3e}"
            + (f"  {self.kinks.get(k, 0):>8}" if kinks else "")
            for k, v in self.errors.items()
        ]
        return "\n".join(lines)


def central_differences(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6,
                        entries: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    r"""The derivative of the scalar ``f()`` with respect to each entry of the array ``x`` that
    ``f`` reads, :math:`(f(x + h e_k) - f(x - h e_k)) / 2h`: each entry changed in place and
    restored. ``entries``: flat indices (C order of the logical shape) to do, all by default;
    the result has their shape (``x``'s shape when all are done)."""
    idx = np.arange(x.size) if entries is None else np.asarray(entries)
    plus, minus = _perturbed(f, x, eps, idx)
    numeric = (plus - minus) / (2 * eps)
    return numeric.reshape(x.shape) if entries is None else numeric


def _perturbed(f: Callable[[], float], x: np.ndarray, eps: float,
               idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``f()`` with each entry ``k`` of ``idx`` of ``x`` moved by ``+eps``, and by ``-eps`` (restored)."""
    plus, minus = np.empty(idx.size), np.empty(idx.size)
    for j, k in enumerate(idx):
        at = np.unravel_index(k, x.shape)  # perturbed in place: what f reads
        orig = x[at]
        x[at] = orig + eps
        plus[j] = f()
        x[at] = orig - eps
        minus[j] = f()
        x[at] = orig
    return plus, minus


_SCREEN = 1e-7  # an entry missing the analytic value by more than this (times the tensor's scale): again
_RETRY = (10, 100)  # ... with the step divided by these


def _settle_kinks(f: Callable[[], float], f0: float, x: np.ndarray, eps: float, idx: np.ndarray,
                  analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:  # fmt: skip
    """Measure again, with smaller steps, the entries whose central difference misses ``analytic``
    (``numeric`` updated in place: the measurement nearest to it); returns the mask of entries at a
    kink of the objective itself: still missed, one-sided differences apart, analytic between them."""
    tol = _SCREEN * max(np.max(np.abs(analytic), initial=0.0), np.max(np.abs(numeric), initial=0.0))
    todo = np.flatnonzero(np.abs(analytic - numeric) > tol)
    kink = np.zeros(idx.size, dtype=bool)
    for div in _RETRY:
        if todo.size == 0:
            return kink
        h = eps / div
        plus, minus = _perturbed(f, x, h, idx[todo])
        again = (plus - minus) / (2 * h)
        nearer = np.abs(analytic[todo] - again) < np.abs(analytic[todo] - numeric[todo])
        numeric[todo[nearer]] = again[nearer]  # a wrong gradient is off at every step; a kink, at some
        agree = np.abs(analytic[todo] - again) <= tol
        todo, plus, minus = todo[~agree], plus[~agree], minus[~agree]
    forward, backward = (plus - f0) / h, (f0 - minus) / h
    lo, hi = np.minimum(forward, backward), np.maximum(forward, backward)
    a = analytic[todo]
    kink[todo] = (hi - lo > 2 * tol) & (a >= lo - tol) & (a <= hi + tol)
    return kink


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """Norm-wise relative error ``max|a-n| / max(max|a|, max|n|)`` (0 if both are all zero)."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(n), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - n)) / scale)


def gradcheck(
    module: Layer | Sequential,
    x: np.ndarray | tuple[np.ndarray, ...],
    *,
    loss: Loss | None = None,
    targets: np.ndarray | None = None,
    dout: np.ndarray | None = None,
    eps: float = 1e-5,
    check_input: bool = True,
    max_entries: int | None = None,
    seed: int = 0,
) -> GradCheckReport:
    """Compare ``module``'s backward pass with central finite differences, in float64.

    Args:
        module: a layer or a :class:`~scratchnet.Sequential`.
        x: input batch (cast to float64; the caller's array is not modified), or a tuple of
            them for a model of several inputs (a graph; checked as ``"input.0"``, ...).
        loss, targets: scalar objective ``loss.forward(module(x), targets)``; if omitted, the
            objective is ``sum(module(x) * dout)`` with ``dout`` given or drawn from
            ``N(0, 1)`` with ``seed`` (summed over the outputs of a model of several outputs,
            ``dout`` then a tuple).
        eps: the finite-difference step ``h``.
        check_input: also check the gradient w.r.t. ``x``.
        max_entries: check at most this many randomly chosen entries per tensor (all if None).
    Returns:
        A :class:`GradCheckReport`; ``str(report)`` is a table, ``report.max_error`` the worst.
    """
    rng = np.random.default_rng(seed)
    layers = list(module.modules())
    with _restored(layers) as rng_states:
        module.astype(np.float64)  # float64 copies of every parameter and buffer, tied ones still tied
        several = isinstance(x, tuple)
        xs = x if several else (x,)
        integer_input = np.issubdtype(np.asarray(xs[0]).dtype, np.integer)  # ids (an Embedding): no gradient
        x64 = tuple(np.array(a) if integer_input else np.array(a, dtype=np.float64) for a in xs)
        check_input = check_input and not integer_input
        objective, g = _objective(module, layers, rng_states, x64, loss, targets, dout, rng)
        dx = module.backward(g)
        names = [f"input.{i}" for i in range(len(xs))] if several else ["input"]
        analytic = dict(zip(names, dx if several else (dx,), strict=True)) if check_input else {}
        analytic.update({p.name: np.array(p.grad, dtype=np.float64) for p in module.parameters()})
        tensors = dict(zip(names, x64, strict=True)) if check_input else {}
        tensors.update({p.name: p.value for p in module.parameters()})
        f0 = objective()  # at the unperturbed point: the one-sided differences at kinks
        report = GradCheckReport()
        for name, arr in tensors.items():
            idx = np.arange(arr.size)  # entries in C order of the logical shape, whatever the layout
            if max_entries is not None and arr.size > max_entries:
                idx = rng.choice(arr.size, size=max_entries, replace=False)
            numeric = central_differences(objective, arr, eps, idx)
            a = np.asarray(analytic[name], dtype=np.float64).reshape(-1)[idx]
            smooth = ~_settle_kinks(objective, f0, arr, eps, idx, a, numeric)
            report.errors[name] = relative_error(a[smooth], numeric[smooth])
            report.abs_errors[name] = float(np.max(np.abs(a - numeric)[smooth], initial=0.0))
            report.checked[name] = int(smooth.sum())
            report.kinks[name] = int(idx.size - smooth.sum())
        return report


@contextmanager
def _restored(layers: list[Layer]) -> Iterator[list[tuple[Layer, dict]]]:
    """Every layer's parameters, buffers and random state as they were, whatever happens inside;
    yields the random states (each evaluation of the objective starts from them)."""
    saved = [(m, dict(m.params), copy.deepcopy(m.buffers)) for m in layers]
    rng_states = [(m, copy.deepcopy(m.rng.bit_generator.state)) for m in layers if m.rng is not None]
    try:
        yield rng_states
    finally:
        for m, params, buffers in saved:
            m.params.clear()
            m.params.update(params)
            m.buffers.clear()
            m.buffers.update(buffers)
            m.grads.clear()
        for m, state in rng_states:
            m.rng.bit_generator.state = state


def _objective(module: Layer | Sequential, layers: list[Layer], rng_states: list, x64: tuple[np.ndarray, ...],
               loss: Loss | None, targets: np.ndarray | None, dout: np.ndarray | tuple | None,
               rng: np.random.Generator) -> tuple[Callable[[], float], object]:  # fmt: skip
    """The scalar objective as a function of the current parameters and inputs (each evaluation
    from the same buffers and random states: dropout's mask, batch norm's running averages), run
    once; returns it and the upstream gradient of that run's output."""
    buffers64 = [copy.deepcopy(m.buffers) for m in layers]
    douts: tuple = ()
    if loss is None:
        out = module.forward(*x64)
        shapes = [o.shape for o in (out if isinstance(out, tuple) else (out,))]
        if dout is None:
            douts = tuple(rng.standard_normal(sh) for sh in shapes)
        else:
            douts = tuple(np.asarray(d, np.float64) for d in (dout if isinstance(dout, tuple) else (dout,)))

    def objective() -> float:
        for m, state in rng_states:
            m.rng.bit_generator.state = copy.deepcopy(state)
        for m, b in zip(layers, buffers64, strict=True):
            m.buffers.update(copy.deepcopy(b))
        out = module.forward(*x64)
        if loss is not None:
            return loss.forward(out, targets)
        outs = out if isinstance(out, tuple) else (out,)
        return float(sum(np.sum(o * d) for o, d in zip(outs, douts, strict=True)))

    objective()
    return objective, loss.backward() if loss is not None else (douts if len(douts) > 1 else douts[0])
