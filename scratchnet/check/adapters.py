"""How a submission is called: the two conventions mapped onto the checker's cases.

Each adapter is a generator: it calls the forward function (or ``layer.forward``) on copies of a
case's inputs (a :class:`Given` case hands out a fresh copy at every read) and yields the forward
results, then calls the backward and yields its results. The runner checks what was yielded
before a crash, so a forward pass that works is graded even when the backward pass crashes.

**Functional convention** (the courses'): ``out, cache = op_forward(...)``, then
``grads = op_backward(dout, cache)``; the losses are one call, ``loss, dx = op_loss(x, y)``. See
each op's ``signature`` in :mod:`scratchnet.check.ops` (``scratchnet check OP --template``).

**Layer convention** (scratchnet's): the class is built with scratchnet's constructor arguments
(``Conv2D(in_channels, out_channels, kernel_size, stride, padding)``, ``MaxPool2D(kernel_size,
stride)``, ``Dense(in_features, out_features)``, ``BatchNorm1D(num_features, eps=)``,
``Dropout(p_drop, rng=seed)``, ``Embedding(vocab, dim)``, the activations and losses without
arguments); its parameters are then set through ``layer.params`` (keys ``W``, ``b``, ``gamma``,
``beta``, ``E``), ``forward(x)`` is called in training mode, ``backward(dout)`` returns dx, and the
parameter gradients are read from ``layer.grads``. The losses' classes have ``forward(x, y)``
returning the loss and ``backward()`` returning dx.

This module imports NumPy only: it runs inside the submission's process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Results = dict[str, Any]
Adapter = Callable[..., Iterator[Results]]


class Given(dict):
    """A case as the adapters read it: every array read hands out a fresh copy, so that a
    submission that writes into its inputs harms no other call, and every copy handed out is
    kept (``handed``) to tell afterwards which inputs the submission changed in place."""

    def __init__(self, case: dict[str, Any]) -> None:
        super().__init__(case)
        self.handed: list[tuple[str, np.ndarray]] = []

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, np.ndarray):
            value = value.copy()
            self.handed.append((key, value))
        return value

    def changed(self) -> list[str]:
        """The inputs a copy of which no longer equals the case's (each name once)."""
        names = []
        for key, copy in self.handed:
            original = dict.__getitem__(self, key)
            nan = copy.dtype.kind in "fc"
            same = copy.shape == original.shape and np.array_equal(copy, original, equal_nan=nan)
            if not same and key not in names:
                names.append(key)
        return names


def _pool_param(c: dict[str, Any]) -> dict[str, int]:
    return {"pool_height": c["ph"], "pool_width": c["pw"], "stride": c["stride"]}


# --- the functional convention ---------------------------------------------------------------------
def f_conv2d(fwd, bwd, c):
    out, cache = fwd(c["x"], c["w"], c["b"], {"stride": c["stride"], "pad": c["pad"]})
    yield {"out": out}
    dx, dw, db = bwd(c["dout"], cache)
    yield {"dx": dx, "dw": dw, "db": db}


def f_pool(fwd, bwd, c):
    out, cache = fwd(c["x"], _pool_param(c))
    yield {"out": out}
    yield {"dx": bwd(c["dout"], cache)}


def f_unary(fwd, bwd, c):
    out, cache = fwd(c["x"])
    yield {"out": out}
    yield {"dx": bwd(c["dout"], cache)}


def f_dense(fwd, bwd, c):
    out, cache = fwd(c["x"], c["w"], c["b"])
    yield {"out": out}
    dx, dw, db = bwd(c["dout"], cache)
    yield {"dx": dx, "dw": dw, "db": db}


def f_loss(fwd, bwd, c):
    loss, dx = fwd(c["x"], c["y"])
    yield {"loss": loss, "dx": dx}


def f_dropout(fwd, bwd, c):
    param = {"p": c["p"], "mode": "train", "seed": c["seed"]}
    out, cache = fwd(c["x"], dict(param))
    test, _ = fwd(c["x"], dict(param, mode="test"))
    yield {"out": out, "kept": np.mean(np.asarray(out) != 0), "test": test}
    yield {"dx": bwd(c["dout"], cache)}


def f_batchnorm(fwd, bwd, c):
    out, cache = fwd(
        c["x"], c["gamma"], c["beta"], {"mode": "train", "eps": c["eps"], "momentum": 0.9}
    )
    yield {"out": out}
    dx, dgamma, dbeta = bwd(c["dout"], cache)
    yield {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def f_rnn_step(fwd, bwd, c):
    out, cache = fwd(c["x"], c["h0"], c["Wx"], c["Wh"], c["b"])
    yield {"out": out}
    dx, dh0, dWx, dWh, db = bwd(c["dout"], cache)
    yield {"dx": dx, "dh0": dh0, "dWx": dWx, "dWh": dWh, "db": db}


def f_rnn(fwd, bwd, c):
    out, cache = fwd(c["x"], c["h0"], c["Wx"], c["Wh"], c["b"])
    yield {"out": out}
    dx, dh0, dWx, dWh, db = bwd(c["dout"], cache)
    yield {"dx": dx, "dh0": dh0, "dWx": dWx, "dWh": dWh, "db": db}


def f_lstm_step(fwd, bwd, c):
    h, cell, cache = fwd(c["x"], c["h0"], c["c0"], c["Wx"], c["Wh"], c["b"])
    yield {"out": h, "c": cell}
    dx, dh0, dc0, dWx, dWh, db = bwd(c["dout"], c["dc"], cache)
    yield {"dx": dx, "dh0": dh0, "dc0": dc0, "dWx": dWx, "dWh": dWh, "db": db}


def f_embedding(fwd, bwd, c):
    out, cache = fwd(c["x"], c["W"])
    yield {"out": out}
    yield {"dW": bwd(c["dout"], cache)}


FUNCTIONAL: dict[str, Adapter] = {
    "conv2d": f_conv2d, "maxpool2d": f_pool, "avgpool2d": f_pool, "relu": f_unary, "sigmoid": f_unary,
    "tanh": f_unary, "dense": f_dense, "softmax-ce": f_loss, "hinge": f_loss, "bce": f_loss, "mse": f_loss,
    "dropout": f_dropout, "batchnorm": f_batchnorm, "rnn-step": f_rnn_step, "rnn": f_rnn,
    "lstm-step": f_lstm_step, "lstm": f_rnn, "embedding": f_embedding,
}  # fmt: skip


# --- the layer convention --------------------------------------------------------------------------
def _set_params(layer: Any, values: dict[str, np.ndarray]) -> Any:
    """float64 parameters in ``layer.params`` (scratchnet's layers cast themselves first)."""
    if hasattr(layer, "astype"):
        layer = layer.astype(np.float64) or layer
    for k, v in values.items():
        layer.params[k] = v.copy()
    return layer


def _grads(layer: Any, names: dict[str, str]) -> Results:
    return {key: layer.grads[name] for key, name in names.items()}


def l_conv2d(cls, c):
    F_, C, kh, kw = c["w"].shape
    layer = _set_params(cls(C, F_, (kh, kw), c["stride"], c["pad"]), {"W": c["w"], "b": c["b"]})
    yield {"out": layer.forward(c["x"])}
    yield {"dx": layer.backward(c["dout"]), **_grads(layer, {"dw": "W", "db": "b"})}


def l_pool(cls, c):
    layer = cls((c["ph"], c["pw"]), c["stride"])
    yield {"out": layer.forward(c["x"])}
    yield {"dx": layer.backward(c["dout"])}


def l_unary(cls, c):
    layer = cls()
    yield {"out": layer.forward(c["x"])}
    yield {"dx": layer.backward(c["dout"])}


def l_dense(cls, c):
    x = c["x"].reshape(len(c["x"]), -1)
    layer = _set_params(cls(*c["w"].shape), {"W": c["w"], "b": c["b"]})
    yield {"out": layer.forward(x)}
    dx = np.asarray(layer.backward(c["dout"]))
    yield {
        "dx": dx.reshape(c["x"].shape) if dx.shape == x.shape else dx,
        **_grads(layer, {"dw": "W", "db": "b"}),
    }


def l_loss(cls, c):
    loss = cls()
    value = loss.forward(c["x"], c["y"])
    yield {"loss": value, "dx": loss.backward()}


def _dropout_layer(cls, c):
    try:
        return cls(1 - c["p"], rng=c["seed"])
    except TypeError:  # a layer of one's own without an ``rng`` argument
        return cls(1 - c["p"])


def l_dropout(cls, c):
    layer, test_layer = _dropout_layer(cls, c), _dropout_layer(cls, c)
    out = layer.forward(c["x"])
    if hasattr(test_layer, "eval"):
        test_layer.eval()
    else:
        test_layer.training = False
    yield {"out": out, "kept": np.mean(np.asarray(out) != 0), "test": test_layer.forward(c["x"])}
    yield {"dx": layer.backward(c["dout"])}


def l_batchnorm(cls, c):
    layer = _set_params(cls(c["x"].shape[1], eps=c["eps"]), {"gamma": c["gamma"], "beta": c["beta"]})
    yield {"out": layer.forward(c["x"])}
    yield {"dx": layer.backward(c["dout"]), **_grads(layer, {"dgamma": "gamma", "dbeta": "beta"})}


def l_embedding(cls, c):
    layer = _set_params(cls(*c["W"].shape), {"E": c["W"]})
    yield {"out": layer.forward(c["x"])}
    layer.backward(c["dout"])
    yield _grads(layer, {"dW": "E"})


LAYER: dict[str, Adapter] = {
    "conv2d": l_conv2d, "maxpool2d": l_pool, "avgpool2d": l_pool, "relu": l_unary, "sigmoid": l_unary,
    "tanh": l_unary, "dense": l_dense, "softmax-ce": l_loss, "hinge": l_loss, "bce": l_loss, "mse": l_loss,
    "dropout": l_dropout, "batchnorm": l_batchnorm, "embedding": l_embedding,
}  # fmt: skip

# the names the courses give the functions, the first the template's; the checker takes the
# first one a submission defines
FORWARD_NAMES: dict[str, tuple[str, ...]] = {
    "conv2d": ("conv_forward_naive", "conv_forward", "conv2d_forward", "conv_forward_fast"),
    "maxpool2d": ("max_pool_forward_naive", "max_pool_forward", "maxpool_forward", "max_pool_forward_fast"),
    "avgpool2d": ("avg_pool_forward_naive", "avg_pool_forward", "avgpool_forward"),
    "relu": ("relu_forward",), "sigmoid": ("sigmoid_forward",), "tanh": ("tanh_forward",),
    "dense": ("affine_forward", "dense_forward", "linear_forward"),
    "softmax-ce": ("softmax_loss", "softmax_cross_entropy_loss", "cross_entropy_loss"),
    "hinge": ("svm_loss", "hinge_loss", "multiclass_hinge_loss"),
    "bce": ("bce_loss", "binary_cross_entropy_loss", "sigmoid_cross_entropy_loss"),
    "mse": ("mse_loss", "mean_squared_error_loss", "l2_loss"),
    "dropout": ("dropout_forward",), "batchnorm": ("batchnorm_forward", "batch_norm_forward"),
    "rnn-step": ("rnn_step_forward",), "rnn": ("rnn_forward",), "lstm-step": ("lstm_step_forward",),
    "lstm": ("lstm_forward",), "embedding": ("word_embedding_forward", "embedding_forward"),
}  # fmt: skip


def backward_names(op: str) -> tuple[str, ...]:
    """``conv_forward_naive`` -> ``conv_backward_naive`` and so on; the losses have none."""
    return tuple(n.replace("_forward", "_backward") for n in FORWARD_NAMES[op] if "_forward" in n)


Found = tuple[Callable, Callable | None, tuple[str, str | None]]


class Missing(LookupError):
    """A function the submission does not define: its checks say "not found"."""


def _missing(message: str) -> Callable[..., Any]:
    def stands_in(*args: Any, **kwargs: Any) -> Any:
        raise Missing(message)

    return stands_in


def find_functional(namespace: dict[str, Any], op: str, forward: str | None = None,
                    backward: str | None = None, partial: bool = False) -> Found:  # fmt: skip
    """The forward and backward functions of ``namespace`` (a module's ``vars``) for ``op``:
    the names given, else the courses' usual names. Raises ``LookupError`` saying what was
    looked for and what the namespace has; with ``partial``, a missing backward function is
    replaced by one that raises :class:`Missing` (the forward is still graded)."""
    needs_backward = op in backward_names_ops()
    fwd_names = (forward,) if forward else FORWARD_NAMES[op]
    fname = next((n for n in fwd_names if callable(namespace.get(n))), None)
    if fname is None:
        raise LookupError(_not_found("forward function", fwd_names, namespace))
    if not needs_backward:
        return namespace[fname], None, (fname, None)
    if backward:
        bwd_names: tuple[str, ...] = (backward,)
    else:  # the twin of the forward found first, then any usual name
        twin = fname.replace("_forward", "_backward")
        bwd_names = (twin, *[n for n in backward_names(op) if n != twin])
    bname = next((n for n in bwd_names if callable(namespace.get(n))), None)
    if bname is None and partial:
        return namespace[fname], _missing(_not_found("backward function", bwd_names, namespace)), (fname, None)
    if bname is None:
        raise LookupError(_not_found("backward function", bwd_names, namespace))
    return namespace[fname], namespace[bname], (fname, bname)


def backward_names_ops() -> set[str]:
    """The ops whose functional convention has a backward function (all but the losses)."""
    return {op for op in FORWARD_NAMES if backward_names(op)}


def _not_found(what: str, names: tuple[str, ...], namespace: dict[str, Any]) -> str:
    own = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_")
                 and getattr(v, "__module__", None) == namespace.get("__name__"))  # fmt: skip
    return (
        f"no {what} named {' or '.join(names)}; the file defines: {', '.join(own) or 'no function'}. "
        "Name yours so, or give its name with --forward NAME / --backward NAME"
    )
