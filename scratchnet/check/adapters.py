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
from dataclasses import dataclass
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


@dataclass(frozen=True, kw_only=True)
class Convention:
    """How a submission for one op is found and called.

    Fields (given by keyword):

    * ``names``: the names the courses give the forward function (a loss's one function), the
      first the template's; the checker takes the first one a submission defines, and the
      backward function's names are these with ``_forward`` -> ``_backward``.
    * ``functional``: the adapter of the functional convention.
    * ``layer``: the adapter of the layer convention, if the op can be handed in as a class.
    """

    names: tuple[str, ...]
    functional: Adapter
    layer: Adapter | None = None


CONVENTIONS: dict[str, Convention] = {
    "conv2d": Convention(names=("conv_forward_naive", "conv_forward", "conv2d_forward", "conv_forward_fast"),
                         functional=f_conv2d, layer=l_conv2d),
    "maxpool2d": Convention(names=("max_pool_forward_naive", "max_pool_forward", "maxpool_forward",
                                   "max_pool_forward_fast"), functional=f_pool, layer=l_pool),
    "avgpool2d": Convention(names=("avg_pool_forward_naive", "avg_pool_forward", "avgpool_forward"),
                            functional=f_pool, layer=l_pool),
    "relu": Convention(names=("relu_forward",), functional=f_unary, layer=l_unary),
    "sigmoid": Convention(names=("sigmoid_forward",), functional=f_unary, layer=l_unary),
    "tanh": Convention(names=("tanh_forward",), functional=f_unary, layer=l_unary),
    "dense": Convention(names=("affine_forward", "dense_forward", "linear_forward"), functional=f_dense,
                        layer=l_dense),
    "softmax-ce": Convention(names=("softmax_loss", "softmax_cross_entropy_loss", "cross_entropy_loss"),
                             functional=f_loss, layer=l_loss),
    "hinge": Convention(names=("svm_loss", "hinge_loss", "multiclass_hinge_loss"), functional=f_loss,
                        layer=l_loss),
    "bce": Convention(names=("bce_loss", "binary_cross_entropy_loss", "sigmoid_cross_entropy_loss"),
                      functional=f_loss, layer=l_loss),
    "mse": Convention(names=("mse_loss", "mean_squared_error_loss", "l2_loss"), functional=f_loss,
                      layer=l_loss),
    "dropout": Convention(names=("dropout_forward",), functional=f_dropout, layer=l_dropout),
    "batchnorm": Convention(names=("batchnorm_forward", "batch_norm_forward"), functional=f_batchnorm,
                            layer=l_batchnorm),
    "rnn-step": Convention(names=("rnn_step_forward",), functional=f_rnn_step),
    "rnn": Convention(names=("rnn_forward",), functional=f_rnn),
    "lstm-step": Convention(names=("lstm_step_forward",), functional=f_lstm_step),
    "lstm": Convention(names=("lstm_forward",), functional=f_rnn),
    "embedding": Convention(names=("word_embedding_forward", "embedding_forward"), functional=f_embedding,
                            layer=l_embedding),
}  # fmt: skip


def backward_names(op: str) -> tuple[str, ...]:
    """``conv_forward_naive`` -> ``conv_backward_naive`` and so on; the losses have none."""
    return tuple(n.replace("_forward", "_backward") for n in CONVENTIONS[op].names if "_forward" in n)


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
    fwd_names = (forward,) if forward else CONVENTIONS[op].names
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
    return {op for op in CONVENTIONS if backward_names(op)}


def _not_found(what: str, names: tuple[str, ...], namespace: dict[str, Any]) -> str:
    own = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_")
                 and getattr(v, "__module__", None) == namespace.get("__name__"))  # fmt: skip
    return (
        f"no {what} named {' or '.join(names)}; the file defines: {', '.join(own) or 'no function'}. "
        "Name yours so, or give its name with --forward NAME / --backward NAME"
    )
