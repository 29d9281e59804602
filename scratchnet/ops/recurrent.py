r"""Recurrent layers over a whole sequence: a tanh RNN and an LSTM, with backpropagation through time.

Shapes: input :math:`x \in \mathbb R^{N\times T\times D}` (batch, time, features), hidden size
:math:`H`, initial state :math:`h_0` (and :math:`c_0`) of shape :math:`(N, H)`. Weights are stored
for right-multiplication, gate blocks in PyTorch's order (i, f, g, o):
:math:`W_x \in \mathbb R^{D\times 4H}`, :math:`W_h \in \mathbb R^{H\times 4H}`, :math:`b \in \mathbb
R^{4H}` (the RNN: :math:`D\times H`, :math:`H\times H`, :math:`H`).

**RNN**: :math:`a_t = x_t W_x + h_{t-1} W_h + b`, :math:`h_t = \tanh a_t`.
Backward, with :math:`\delta h_t = \partial L/\partial h_t` (from the output at :math:`t` plus
from step :math:`t+1`): :math:`\delta a_t = \delta h_t \odot (1 - h_t^2)`,
:math:`\delta h_{t-1} \mathrel{+}= \delta a_t W_h^\top`.

**LSTM** (gate by gate; :math:`\sigma` the logistic function):

.. math::
    [a^i, a^f, a^g, a^o] = x_t W_x + h_{t-1} W_h + b,\quad
    i = \sigma(a^i),\ f = \sigma(a^f),\ g = \tanh(a^g),\ o = \sigma(a^o),

    c_t = f \odot c_{t-1} + i \odot g,\qquad h_t = o \odot \tanh(c_t).

Backward, step :math:`t` from :math:`T` down to 1, with :math:`\delta h_t` as above and
:math:`\delta c_t` carried from step :math:`t+1` (:math:`\delta c_T` given):

.. math::
    \delta o = \delta h_t \odot \tanh c_t,\quad
    \delta c_t \mathrel{+}= \delta h_t \odot o \odot (1 - \tanh^2 c_t),

    \delta i = \delta c_t \odot g,\quad \delta g = \delta c_t \odot i,\quad
    \delta f = \delta c_t \odot c_{t-1},\quad \delta c_{t-1} = \delta c_t \odot f,

    \delta a^{i,f,o} = \delta\{i,f,o\} \odot \sigma(1-\sigma),\quad
    \delta a^g = \delta g \odot (1 - g^2),\quad
    \delta h_{t-1} \mathrel{+}= \delta a_t W_h^\top .

Then, summed over time: :math:`\partial L/\partial W_h = \sum_t h_{t-1}^\top \delta a_t`,
:math:`\partial L/\partial W_x = \sum_t x_t^\top \delta a_t`, :math:`\partial L/\partial b = \sum_t
\mathbf 1^\top \delta a_t`, :math:`\partial L/\partial x_t = \delta a_t W_x^\top`.

Vectorisation: the input projection of all time steps is **one** GEMM (:math:`(TN\times D)(D\times
4H)`), the recurrence one GEMM per step; the four gates are one matrix, activated with a single
``tanh`` call (:math:`\sigma(a) = \tfrac12 + \tfrac12\tanh(a/2)`, which never overflows); the weight
gradients are one GEMM each over all steps at the end. Time-major arrays ``(T, N, ...)`` keep each
step's slice contiguous. Derivation and the vanishing/exploding gradient discussion:
``docs/recurrent.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .workspace import Workspace, scratch


class RecurrentCache(NamedTuple):
    """What BPTT needs. ``hs``/``cs`` hold the states ``0..T`` (index 0 is the initial state);
    ``gates`` the activated ``[i, f, g, o]`` (LSTM) or nothing (RNN); all time-major. The arrays
    live in the layer's workspace when one is given (overwritten by its next forward pass)."""

    xs: np.ndarray  # (T, N, D)
    hs: np.ndarray  # (T + 1, N, H)
    cs: np.ndarray | None  # (T + 1, N, H), LSTM only
    gates: np.ndarray | None  # (T, N, 4H), LSTM only
    tanh_c: np.ndarray | None  # (T, N, H), LSTM only
    Wx: np.ndarray
    Wh: np.ndarray


def _project_inputs(
    x: np.ndarray, Wx: np.ndarray, b: np.ndarray, ws: Workspace | None
) -> tuple[np.ndarray, ...]:
    """Time-major input and ``x_t W_x + b`` for all steps at once (one GEMM)."""
    N, T, D = x.shape
    xs = scratch(ws, "xs", (T, N, D), x.dtype)
    np.copyto(xs, x.transpose(1, 0, 2))
    proj = scratch(ws, "proj", (T, N, Wx.shape[1]), np.result_type(x, Wx))
    np.matmul(xs.reshape(T * N, D), Wx, out=proj.reshape(T * N, -1))
    proj += b
    return xs, proj


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, ws: Workspace | None = None
) -> tuple[np.ndarray, RecurrentCache]:
    """Tanh RNN over a sequence. Returns all hidden states ``(N, T, H)`` and the cache."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    xs, a = _project_inputs(x, Wx, b, ws)
    hs = scratch(ws, "hs", (T + 1, N, H), a.dtype)
    hs[0] = h0
    for t in range(T):
        np.matmul(hs[t], Wh, out=hs[t + 1])
        hs[t + 1] += a[t]
        np.tanh(hs[t + 1], out=hs[t + 1])
    return hs[1:].transpose(1, 0, 2), RecurrentCache(xs, hs, None, None, None, Wx, Wh)


def _sigmoid_tanh_gates(a: np.ndarray, H: int) -> None:
    """In place: ``sigma`` on the i, f, o blocks of ``a`` (``(N, 4H)``), ``tanh`` on g."""
    a[:, : 2 * H] *= 0.5
    a[:, 3 * H :] *= 0.5
    np.tanh(a, out=a)
    for block in (a[:, : 2 * H], a[:, 3 * H :]):
        block *= 0.5
        block += 0.5


def lstm_forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    ws: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray, RecurrentCache]:
    """LSTM over a sequence. Returns all hidden states ``(N, T, H)``, the last cell state
    ``(N, H)`` and the cache."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    xs, gates = _project_inputs(x, Wx, b, ws)  # pre-activations, activated in place step by step
    hs = scratch(ws, "hs", (T + 1, N, H), gates.dtype)
    cs = scratch(ws, "cs", (T + 1, N, H), gates.dtype)
    tanh_c = scratch(ws, "tanh_c", (T, N, H), gates.dtype)
    recurrent = scratch(ws, "recurrent", (N, 4 * H), gates.dtype)
    hs[0], cs[0] = h0, c0
    for t in range(T):
        a = gates[t]
        a += np.matmul(hs[t], Wh, out=recurrent)
        _sigmoid_tanh_gates(a, H)
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = np.multiply(f, cs[t], out=cs[t + 1])
        c += i * g
        np.tanh(c, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=hs[t + 1])
    return hs[1:].transpose(1, 0, 2), cs[T], RecurrentCache(xs, hs, cs, gates, tanh_c, Wx, Wh)


def _weight_gradients(
    da: np.ndarray, cache: RecurrentCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dx, dWx, dWh, db`` from the pre-activation gradients of all steps (one GEMM each)."""
    T, N, G = da.shape
    flat = da.reshape(T * N, G)
    dWx = cache.xs.reshape(T * N, -1).T @ flat
    dWh = cache.hs[:T].reshape(T * N, -1).T @ flat
    dx = (flat @ cache.Wx.T).reshape(T, N, -1).transpose(1, 0, 2)
    return dx, dWx, dWh, flat.sum(axis=0)


def _upstream(dhs: np.ndarray | None, t: int, dh: np.ndarray) -> np.ndarray:
    """``dh`` plus the gradient reaching ``h_t`` from the output at step ``t``."""
    return dh if dhs is None else dh + dhs[:, t]


def rnn_backward(
    dhs: np.ndarray | None, dhT: np.ndarray | None, cache: RecurrentCache, ws: Workspace | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BPTT of :func:`rnn_forward`.

    Args:
        dhs: gradient w.r.t. every output ``(N, T, H)``, or ``None`` (only the last is used).
        dhT: extra gradient w.r.t. the last hidden state ``(N, H)``, or ``None``.
    Returns:
        ``(dx, dh0, dWx, dWh, db)``.
    """
    hs, Wh = cache.hs, cache.Wh
    T, N, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    da = scratch(ws, "da", (T, N, H), hs.dtype)
    dh = np.zeros((N, H), hs.dtype) if dhT is None else dhT.astype(hs.dtype)
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        np.multiply(_upstream(dhs, t, dh), 1 - h * h, out=da[t])
        dh = da[t] @ Wh.T
    dx, dWx, dWh, db = _weight_gradients(da, cache)
    return dx, dh, dWx, dWh, db


def lstm_backward(
    dhs: np.ndarray | None,
    dhT: np.ndarray | None,
    dcT: np.ndarray | None,
    cache: RecurrentCache,
    ws: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BPTT of :func:`lstm_forward` (the equations in the module docstring).

    Args:
        dhs: gradient w.r.t. every output ``(N, T, H)``, or ``None``.
        dhT, dcT: extra gradients w.r.t. the last hidden and cell states, or ``None``.
    Returns:
        ``(dx, dh0, dc0, dWx, dWh, db)``.
    """
    hs, cs, gates, tanh_c, Wh = cache.hs, cache.cs, cache.gates, cache.tanh_c, cache.Wh
    T, N, H = tanh_c.shape
    dt = hs.dtype
    da = scratch(ws, "da", (T, N, 4 * H), dt)
    dh = np.zeros((N, H), dt) if dhT is None else dhT.astype(dt)
    dc = np.zeros((N, H), dt) if dcT is None else dcT.astype(dt, copy=True)
    for t in range(T - 1, -1, -1):
        dh = _upstream(dhs, t, dh)
        i, f, g, o = (gates[t][:, k * H : (k + 1) * H] for k in range(4))
        di, df, dg, do = (da[t][:, k * H : (k + 1) * H] for k in range(4))
        tc = tanh_c[t]
        np.multiply(dh, tc, out=do)  # d o
        dc += dh * o * (1 - tc * tc)
        np.multiply(dc, g, out=di)
        np.multiply(dc, i, out=dg)
        np.multiply(dc, cs[t], out=df)
        dc *= f  # now d c_{t-1}
        for d_gate, s in ((di, i), (df, f), (do, o)):
            d_gate *= s * (1 - s)
        dg *= 1 - g * g
        dh = da[t] @ Wh.T
    dx, dWx, dWh, db = _weight_gradients(da, cache)
    return dx, dh, dc, dWx, dWh, db
