r"""What happens around every call of a layer: the checks at the door, one cache per call, and
the parameter gradients summed over the calls.

Every subclass of :class:`~scratchnet.layers.Layer` has the ``forward`` and ``backward`` it defines
wrapped by :func:`wrap_forward` and :func:`wrap_backward` (in ``Layer.__init_subclass__``), so a
user's own block gets all of this by writing ``forward`` and ``backward``, and no layer repeats it.

**A pass.** A call of ``forward`` made while no other layer's ``forward`` runs in this thread (the
model's, a lone layer's) starts a *pass*: the caches of every layer below it are dropped. Inside
the pass a layer may be called any number of times (a layer used twice in a chain, the twin
encoder of a siamese network, a cell unrolled by hand); each call pushes its own record — the
cache, the output's shape and dtype, and the scratch memory of that call — and each ``backward``
pops the most recent one. So the backward calls must come in the reverse order of the forward
calls, which is the order in which the chain rule visits them anyway.

**Gradients add at a shared weight.** If :math:`W` is used by :math:`K` calls
:math:`y_k = f(x_k; W)`, the loss depends on :math:`W` through every :math:`y_k`, and the chain rule
(the multivariable one: a sum over the paths from :math:`W` to :math:`L`) gives

.. math::
    \frac{\partial L}{\partial W} = \sum_{k=1}^{K} \Big(\frac{\partial y_k}{\partial W}\Big)^{\!\top}
    \frac{\partial L}{\partial y_k} ,

each term being what one backward call computes from its own cache. The first backward call of a
layer in a backward pass *sets* its ``grads``; every later one *adds* to them
(:func:`wrap_backward`). A backward call made while no other layer's ``backward`` runs is a
backward pass: when it ends, a layer below it that took no part has its gradients dropped, so a
step's gradients are that step's. Derivation: ``docs/composition.md``.

**The door.** The input of ``forward`` (each array argument, for a layer of several inputs) must be a
NumPy array of real numbers: a complex, object or
text array is a ``TypeError`` naming the layer, and so is a list or a torch tensor (the message
says what to pass). A real array of another dtype is cast to the layer's (its parameters'; at a
model's outermost call, the model's), so a float32 model returns float32 for float64 or integer
input. The upstream gradient of ``backward`` must have the shape of the output of the call it
belongs to (``ValueError`` naming the layer and both shapes, instead of a silent broadcast) and
is cast to that output's dtype.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np

from ..ops.workspace import Workspace

_local = threading.local()  # per thread: forward/backward calls running, the call recorder


class Call(NamedTuple):
    """One forward call awaiting its backward call."""

    cache: object  # what the layer's forward left in ``self._cache``
    out: Any  # the output's ``Out`` (shape, dtype), a tuple of them for several outputs, or None
    workspace: Workspace  # the scratch memory this call used (the backward uses it too)


def _depth(kind: str) -> int:
    return getattr(_local, kind, 0)


def name_of(layer: Any) -> str:
    """A one-line name for messages: ``Dense(4, 4)``, ``Sequential``, ``MyBlock``."""
    text = repr(layer)
    return text if "\n" not in text else type(layer).__name__


def _check_ready(layer: Any) -> list[Call]:
    calls = layer.__dict__.get("_calls")
    if calls is None:
        raise RuntimeError(f"{type(layer).__name__}: Layer.__init__ was not called; "
                           f"call super().__init__() first in {type(layer).__name__}.__init__")  # fmt: skip
    return calls


# --- the door ------------------------------------------------------------------------------------
_REAL = "biuf"  # bool, signed and unsigned integers, floats


def _not_an_array(layer: Any, x: object, what: str) -> TypeError:
    kind = type(x)
    if kind.__module__.split(".")[0] == "torch":
        hint = "pass a NumPy array: tensor.detach().cpu().numpy()"
    else:
        hint = "pass a NumPy array, e.g. np.asarray(x, dtype=np.float32)"
    return TypeError(f"{name_of(layer)}: the {what} is a {kind.__module__}.{kind.__qualname__}"
                     .replace("builtins.", "") + f"; {hint}")  # fmt: skip


def _not_real(layer: Any, dtype: np.dtype, what: str) -> TypeError:
    return TypeError(f"{name_of(layer)}: the {what} has dtype {dtype}; expected real numbers "
                     "(floats, or integers/booleans, which are cast)")  # fmt: skip


def as_input(layer: Any, x: object, model_dtype: np.dtype | None = None) -> np.ndarray:
    """``x`` checked and cast at ``layer``'s door (see the module docstring).

    Target dtype: the layer's own parameters' dtype; for a layer without parameters of its own,
    ``model_dtype`` (the model's, at its outermost call), else the input's own float dtype
    (float32 and float64 pass, other reals become float32). A layer whose ``input_kind`` is
    ``"ids"`` casts nothing, and neither does a model whose first layer is one (an ``Embedding``
    wants its integer ids).
    """
    if isinstance(x, (np.generic, int, float)):  # a number: an array of shape ()
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise _not_an_array(layer, x, "input")
    kind = x.dtype.kind
    if kind not in _REAL:
        raise _not_real(layer, x.dtype, "input")
    if layer.input_kind == "ids":
        return x
    own = next(iter(layer.params.values()), None)
    target = own.dtype if own is not None else model_dtype
    if x.dtype == target or (target is None and kind == "f" and x.dtype.itemsize in (4, 8)):
        return x
    if kind != "f" and layer.has_children() and takes_ids(layer):
        return x  # ids for an Embedding at the front: not numbers to cast
    if target is None:
        target = np.dtype(np.float64 if kind == "f" and x.dtype.itemsize > 8 else np.float32)
    return x.astype(target)


def takes_ids(layer: Any) -> bool:
    """Whether ``layer``'s input is integer ids: its first leaf layer's is (an ``Embedding``)."""
    return next(m for m in layer.modules() if not m.has_children()).input_kind == "ids"


class Out(NamedTuple):
    """The shape and dtype of one output array: what its upstream gradient must match."""

    shape: tuple[int, ...]
    dtype: np.dtype


def _signature(y: object) -> Out | tuple[Out, ...] | None:
    """What the upstream gradient of ``y`` must look like: an ``Out`` per array."""
    if isinstance(y, np.ndarray):
        return Out(y.shape, y.dtype)
    if isinstance(y, (tuple, list)) and y and all(isinstance(a, np.ndarray) for a in y):
        return tuple(Out(a.shape, a.dtype) for a in y)
    return None


def as_upstream(layer: Any, dout: object, out: Out | tuple[Out, ...] | None) -> Any:
    """``dout`` checked against the output of the call it belongs to, and cast to its dtype."""
    if out is None:
        return dout
    if not isinstance(out, Out):  # several outputs: one gradient each
        if not isinstance(dout, (tuple, list)) or len(dout) != len(out):
            raise ValueError(f"{name_of(layer)}: expected {len(out)} upstream gradients, one per output")
        return tuple(as_upstream(layer, d, o) for d, o in zip(dout, out, strict=True))
    shape, dtype = out
    if isinstance(dout, (np.generic, int, float)):
        dout = np.asarray(dout)
    if not isinstance(dout, np.ndarray):
        raise _not_an_array(layer, dout, "upstream gradient")
    if dout.shape != shape:
        raise ValueError(f"{name_of(layer)}: the upstream gradient has shape {dout.shape}, but this call's "
                         f"output has shape {shape} (the gradient must have the output's shape)")  # fmt: skip
    if dout.dtype.kind not in _REAL:
        raise _not_real(layer, dout.dtype, "upstream gradient")
    return dout if dout.dtype == dtype or dtype.kind != "f" else dout.astype(dtype)


# --- forward ---------------------------------------------------------------------------------------
def begin_pass(root: Any) -> np.dtype | None:
    """Drop the caches of every layer below ``root`` (an outermost forward call starts a pass)
    and keep the list of those layers on ``root`` for the rest of the pass (its backward pass
    walks it instead of the tree); returns the model's dtype (its first parameter's), ``None``
    without parameters."""
    modules = list(root.modules())
    for m in modules:
        d = m.__dict__
        _check_ready(m).clear()
        d["_forwards"] = 0
        d.pop("_pass_modules", None)
    root.__dict__["_pass_modules"] = modules
    return first_dtype(modules)


def first_dtype(modules: Iterable[Any]) -> np.dtype | None:
    """The dtype of the first parameter of ``modules`` (a model's dtype), ``None`` without any."""
    return next((v.dtype for m in modules for v in m.params.values()), None)


_PER_CALL = frozenset({"_calls", "_cache", "_spare_workspaces", "_pass_modules"})  # never shared by a copy


def copy_layer(layer: Any, value: Callable[[str, Any], Any], memo: dict | None = None) -> Any:
    """A copy of ``layer`` with ``value(name, attribute)`` for each attribute, except the state of
    its calls (records, cache, scratch memory), which the copy starts without."""
    new = object.__new__(type(layer))
    if memo is not None:
        memo[id(layer)] = new
    for k, v in vars(layer).items():
        if k not in _PER_CALL:
            new.__dict__[k] = Workspace(v.reuse_outputs) if k == "workspace" else value(k, v)
    new.__dict__.update(_calls=[], _cache=None)
    return new


def pass_modules(layer: Any) -> list[Any]:
    """The layers below ``layer``: as its last outermost forward call found them, else walked."""
    return layer.__dict__.get("_pass_modules") or list(layer.modules())


def _workspace_for(layer: Any, index: int) -> Workspace:
    """The scratch memory of the ``index``-th call in this pass: the layer's own for the first,
    a spare one (kept for the next passes) for each further call, so no call overwrites what an
    earlier call's cache or output still holds."""
    if index == 0:
        return layer.workspace
    spares = layer.__dict__.setdefault("_spare_workspaces", [])
    while len(spares) < index:
        spares.append(Workspace(reuse_outputs=layer.workspace.reuse_outputs))
    return spares[index - 1]


def wrap_forward(raw: Callable) -> Callable:
    """``forward`` with the door, the pass and one record per call (see the module docstring)."""

    @functools.wraps(raw)
    def forward(self: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if d.get("_running"):  # super().forward() inside a subclass's forward
            return raw(self, x, *args, **kwargs)
        calls = _check_ready(self)
        depth = _depth("forward")
        model_dtype = begin_pass(self) if depth == 0 else None
        x = as_input(self, x, model_dtype)
        if args:  # a layer of several inputs (a merge, a graph): each array input at the door
            args = tuple(as_input(self, a, model_dtype) if isinstance(a, np.ndarray) else a for a in args)
        own = d["workspace"]
        ws = own if not calls else _workspace_for(self, len(calls))
        d["workspace"], d["_cache"], d["_running"] = ws, None, True
        _local.forward = depth + 1
        try:
            y = raw(self, x, *args, **kwargs)
        finally:
            _local.forward = depth
            d["_running"], d["workspace"] = False, own
        calls.append(Call(d["_cache"], _signature(y), ws))  # ``_cache`` keeps the last call's, to look at
        d["_forwards"] += 1
        recorder = getattr(_local, "recorder", None)
        if recorder is not None:
            recorder.append((depth, self, x.shape, y))
        return y

    forward._scratchnet_wrapped = True
    return forward


# --- backward ---------------------------------------------------------------------------------------
@contextmanager
def accumulate_gradients() -> Iterator[None]:
    """Inside, every backward pass *adds* its parameter gradients to the ones already there
    instead of replacing them: gradient accumulation over micro-batches (a batch too large for
    memory, or one optimizer step over several passes). Outside, the default: one backward pass,
    one set of gradients. Start from none (``optimizer.zero_grad()``) and weight each
    micro-batch's upstream gradient by its share of the batch (a mean loss over a micro-batch of
    ``m`` of ``B`` samples: times ``m / B``); the sum is then the whole batch's gradient, for a
    network without batch statistics (batch norm normalises each micro-batch on its own)."""
    previous = getattr(_local, "accumulating", False)
    _local.accumulating = True
    try:
        yield
    finally:
        _local.accumulating = previous


def begin_backward(root: Any) -> None:
    """An outermost backward call starts a backward pass: no layer below ``root`` has had a
    backward call in it yet."""
    for m in pass_modules(root):
        m.__dict__["_backwards"] = 0


def end_backward(root: Any) -> None:
    """After the outermost backward call: a layer below ``root`` that took no part in the pass
    has no gradient (its old one is not this step's), unless gradients are being accumulated."""
    if getattr(_local, "accumulating", False):
        return
    for m in pass_modules(root):
        if not m.__dict__["_backwards"]:
            m.grads.clear()


def _takes_need_dx(raw: Callable) -> bool:
    params = inspect.signature(raw).parameters
    return "need_dx" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _add_earlier(layer: Any, earlier: dict[str, np.ndarray]) -> None:
    """Parameter gradients of this call plus those of the calls before it in this pass."""
    for k, g in earlier.items():
        new = layer.grads.get(k)
        if new is None:
            layer.grads[k] = g
        elif np.may_share_memory(new, g):
            raise RuntimeError(f"{name_of(layer)}: backward() wrote gradient {k!r} over the previous call's; "
                               "a layer's gradients must be new arrays or per-call scratch")
        else:
            layer.grads[k] = g + new


def wrap_backward(raw: Callable) -> Callable:
    """``backward`` that pops its call's record, checks ``dout`` and sums gradients over calls.

    Equation (2) of ``docs/composition.md``.
    """
    takes_need_dx = _takes_need_dx(raw)

    def run(self: Any, dout: Any, args: tuple, need_dx: bool, kwargs: dict) -> Any:
        return raw(self, dout, *args, need_dx=need_dx, **kwargs) if takes_need_dx else raw(self, dout, *args)

    @functools.wraps(raw)
    def backward(self: Any, dout: Any, *args: Any, need_dx: bool = True, **kwargs: Any) -> Any:
        if self.__dict__.get("_running"):  # super().backward() inside a subclass's backward
            return run(self, dout, args, need_dx, kwargs)
        calls = _check_ready(self)
        if not calls:
            n = self._forwards
            raise RuntimeError(f"{name_of(self)}: backward() called before forward()" if not n else
                               f"{name_of(self)}: backward() called more times than forward() in this pass "
                               f"({n} forward call{'s' if n > 1 else ''}); a pass is one outermost forward "
                               "call: to use a layer several times, call it inside the forward of a block "
                               "(docs/composition.md)")
        depth = _depth("backward")
        if depth == 0:
            begin_backward(self)
        d = self.__dict__
        call = calls.pop()
        dout = as_upstream(self, dout, call.out)
        if d["_backwards"]:  # a later call of this pass: add to the earlier calls' gradients
            earlier = dict(self.grads)
        elif getattr(_local, "accumulating", False):  # add to the earlier passes' (copied: scratch
            earlier = {k: g.copy() for k, g in self.grads.items()}  # memory is reused per pass)
        else:
            earlier = None
        d["_backwards"] += 1
        own = d["workspace"]
        d["workspace"], d["_cache"], d["_running"] = call.workspace, call.cache, True
        _local.backward = depth + 1
        try:
            dx = run(self, dout, args, need_dx, kwargs)
        finally:
            _local.backward = depth
            d["_running"], d["workspace"] = False, own  # ``_cache`` keeps this call's, as after forward
        if not d.get("trainable", True):  # frozen: whatever the layer computed is not a gradient to use
            self.grads.clear()
        elif earlier:
            _add_earlier(self, earlier)
        if depth == 0:
            end_backward(self)
        return dx

    backward._scratchnet_wrapped = True
    return backward


# --- tracing (what a block of one's own does, for shapes, summaries and drawings) ----------------
@contextmanager
def recording() -> Iterator[list[tuple[int, Any, tuple, Any]]]:
    """Record every forward call in this thread as ``(depth, layer, input shape, output)``."""
    previous = getattr(_local, "recorder", None)
    log: list[tuple[int, Any, tuple, Any]] = []
    _local.recorder = log
    try:
        yield log
    finally:
        _local.recorder = previous


def trace(block: Any, shape: tuple) -> tuple[list[tuple[Any, tuple, Any]], tuple]:
    """Run ``block`` once in eval mode on zeros of the full ``shape`` (a symbolic batch axis
    ``"N"`` becomes 2) and return its direct children's calls ``(child, input shape, output)``
    and its output shape (with ``"N"`` put back). Every layer's state is restored afterwards."""
    n = shape[0] if isinstance(shape[0], (int, np.integer)) else 2
    modules = list(block.modules())
    saved = [(m, {**m.__dict__, "_calls": list(m._calls)}) for m in modules]  # "training" included
    dtype = np.int64 if takes_ids(block) else (first_dtype(modules) or np.float32)
    try:
        block.eval()
        depth = _depth("forward")
        with recording() as log:
            y = block.forward(np.zeros((n, *shape[1:]), dtype))
    finally:
        for m, state in saved:
            m.__dict__.clear()
            m.__dict__.update(state)
    children = [(layer, tuple(s), out) for d, layer, s, out in log if d == depth + 1]
    out_shape = y.shape if isinstance(y, np.ndarray) else tuple(a.shape for a in y)
    return children, (shape[0], *out_shape[1:]) if isinstance(y, np.ndarray) else out_shape
