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
    [a^i, a^f, a^g, a^o] = x_t W_x + h_{t-1} W_h + b,

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
    \delta a^g = \delta g \odot (1 - g^2),

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

from .record import OpRecord
from .workspace import Workspace, scratch


class RecurrentCache(NamedTuple):
    """What the RNN's BPTT needs: time-major arrays ``(T, N, ...)``. The arrays live in the
    layer's workspace when one is given (overwritten by its next forward pass)."""

    xs: np.ndarray  # (T, N, D)
    hs: np.ndarray  # (T + 1, N, H), index 0 the initial state
    Wx: np.ndarray
    Wh: np.ndarray


class LSTMCache(NamedTuple):
    """What the LSTM's BPTT needs, feature-major with gates in the order ``[i, f, o, g]``. Step
    ``t``'s stack :math:`[x_t; h_{t-1}; 1]` is column ``t`` of ``xh``, so that the weight gradient
    (3) is one GEMM over all ``T N`` columns, and ``h_t`` lives in column ``t + 1``. The arrays
    live in the layer's workspace when one is given (overwritten by its next forward pass)."""

    xh: np.ndarray  # (D + H + 1, T + 1, N)
    cs: np.ndarray  # (T + 1, H, N) cell states, index 0 the initial one
    gates: np.ndarray  # (T, 4H, N) the activated gates
    tanh_c: np.ndarray  # (T, H, N)
    W: np.ndarray  # (D + H + 1, 4H): the stack [W_x; W_h; b^T], columns [i, f, o, g]


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
    """Tanh RNN over a sequence. Returns all hidden states ``(N, T, H)`` and the cache.

    Equation (1) of ``docs/recurrent.md``.
    """
    N, T, _ = x.shape
    H = Wh.shape[0]
    xs, a = _project_inputs(x, Wx, b, ws)
    hs = scratch(ws, "hs", (T + 1, N, H), a.dtype)
    hs[0] = h0
    for t in range(T):
        np.matmul(hs[t], Wh, out=hs[t + 1])
        hs[t + 1] += a[t]
        np.tanh(hs[t + 1], out=hs[t + 1])
    return hs[1:].transpose(1, 0, 2), RecurrentCache(xs, hs, Wx, Wh)


# [i, f, o, g] from PyTorch's [i, f, g, o]: the three sigmoid gates are then one contiguous block,
# activated by one call per step; entry k is the PyTorch block that internal block k comes from
_IFOG = (0, 1, 3, 2)


def _stack_weights(Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, dt: np.dtype, ws: Workspace | None
                   ) -> np.ndarray:  # fmt: skip
    """``[W_x; W_h; b^T]`` ``(D + H + 1, 4H)`` with the gate columns in the order ``[i, f, o, g]``."""
    D, H = Wx.shape[0], Wh.shape[0]
    W = scratch(ws, "W", (D + H + 1, 4 * H), dt)
    for k, s in enumerate(_IFOG):
        to, of = slice(k * H, (k + 1) * H), slice(s * H, (s + 1) * H)
        W[:D, to], W[D : D + H, to], W[D + H, to] = Wx[:, of], Wh[:, of], b[of]
    return W


def _torch_order(dW: np.ndarray, D: int, H: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dWx, dWh, db)`` in PyTorch's gate order from the gradient of the stack of
    :func:`_stack_weights`."""
    out = np.empty_like(dW)
    for k, s in enumerate(_IFOG):
        out[:, s * H : (s + 1) * H] = dW[:, k * H : (k + 1) * H]
    return out[:D], out[D : D + H], out[D + H]


# from this many steps on, the forward pass copies its weights to the (4H, F) row-major operand: on
# char-lstm's shard (F = 577, 4H = 2048, N = 32) each step's GEMM then takes 0.14 ms less, and the
# transposing copy costs 4 ms; the generation of text (one step per call) skips it
_TRANSPOSE_FROM_STEPS = 32


def lstm_forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    ws: Workspace | None = None,
) -> tuple[np.ndarray, np.ndarray, LSTMCache]:
    r"""LSTM over a sequence. Returns all hidden states ``(N, T, H)``, the last cell state
    ``(N, H)`` and the cache.

    Internally the arrays are feature-major, gates in the order ``[i, f, o, g]`` (see
    :class:`LSTMCache`): every gate of a step is then a contiguous ``(H, N)`` block (element-wise
    passes over contiguous memory run about four times faster than over column blocks), each step
    is **one** GEMM, :math:`[W_x; W_h; b^\top]^\top [x_t; h_{t-1}; 1]`, and the three sigmoid gates
    are one block. The sigmoid uses :math:`\sigma(a) = \tfrac12 + \tfrac12\tanh(a/2)`, with the
    halving folded into that GEMM's copy of their weights, so one ``tanh`` call activates all four
    gates.

    Equations (4) and (5) of ``docs/recurrent.md``.
    """
    N, T, D = x.shape
    H = Wh.shape[0]
    dt = np.result_type(x, Wx)
    W = _stack_weights(Wx, Wh, b, dt, ws)  # unscaled: what BPTT needs
    half = np.ones(4 * H, dtype=dt)
    half[: 3 * H] = 0.5
    if T >= _TRANSPOSE_FROM_STEPS:  # (4H, F) row-major: each step's GEMM runs fastest
        W_all = np.multiply(W.T, half[:, None], out=scratch(ws, "W_all", (4 * H, D + H + 1), dt))
    else:  # a transposed view of (F, 4H): no transposing copy
        W_all = np.multiply(W, half, out=scratch(ws, "W_half", W.shape, dt)).T
    xh = scratch(ws, "xh", (D + H + 1, T + 1, N), dt)
    np.copyto(xh[:D, :T], x.transpose(2, 1, 0))
    xh[D + H] = 1
    hs = xh[D : D + H]  # h_t lives in step t+1's stack; (H, T + 1, N) view
    hs[:, 0] = h0.T
    gates = scratch(ws, "gates", (T, 4 * H, N), dt)
    cs = scratch(ws, "cs", (T + 1, H, N), dt)
    tanh_c = scratch(ws, "tanh_c", (T, H, N), dt)
    ig = scratch(ws, "ig", (H, N), dt)
    cs[0] = c0.T
    for t in range(T):
        a = np.matmul(W_all, xh[:, t], out=gates[t])
        np.tanh(a, out=a)
        sig = a[: 3 * H]
        sig *= 0.5
        sig += 0.5
        i, f, o, g = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
        c = np.multiply(f, cs[t], out=cs[t + 1])
        c += np.multiply(i, g, out=ig)
        np.tanh(c, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=hs[:, t + 1])
    return hs[:, 1:].transpose(2, 1, 0), cs[T].T, LSTMCache(xh, cs, gates, tanh_c, W)


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

    Equations (2) and (3) of ``docs/recurrent.md``.
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


def _lstm_gate_gradients(dh: np.ndarray, dc: np.ndarray, a: np.ndarray, tc: np.ndarray, c_prev: np.ndarray,
                         d: np.ndarray, tmp: np.ndarray, tmp3: np.ndarray) -> np.ndarray:  # fmt: skip
    r"""One step of :func:`lstm_backward`, feature-major: from ``dh`` and ``dc`` (which becomes
    :math:`\delta c_{t-1}`, in place) to the gradients of the step's pre-activations, written into
    ``d`` ``(4H, N)`` in the gate order ``[i, f, o, g]``; ``a`` holds the step's activated gates,
    ``tc`` its :math:`\tanh c_t`, ``c_prev`` :math:`c_{t-1}`; ``tmp``, ``tmp3`` are scratch.

    Equations (6)–(8) of ``docs/recurrent.md``.
    """
    H = dh.shape[0]
    i, f, o, g = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
    di, df, do, dg = d[:H], d[H : 2 * H], d[2 * H : 3 * H], d[3 * H :]
    np.multiply(dh, tc, out=do)  # (6): d o
    np.multiply(tc, tc, out=tmp)  # (6): d c += dh * o * (1 - tanh^2 c)
    np.subtract(1, tmp, out=tmp)
    tmp *= o
    tmp *= dh
    dc += tmp
    np.multiply(dc, g, out=di)  # (7)
    np.multiply(dc, i, out=dg)
    np.multiply(dc, c_prev, out=df)
    dc *= f  # now d c_{t-1}
    sig = a[: 3 * H]  # (8), the sigmoid gates i, f, o: d a = d s * s (1 - s)
    np.subtract(1, sig, out=tmp3)
    tmp3 *= sig
    d[: 3 * H] *= tmp3
    np.multiply(g, g, out=tmp)  # (8), the tanh gate: d a = d g * (1 - g^2)
    np.subtract(1, tmp, out=tmp)
    dg *= tmp
    return d


def lstm_backward(
    dhs: np.ndarray | None,
    dhT: np.ndarray | None,
    dcT: np.ndarray | None,
    cache: LSTMCache,
    ws: Workspace | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""BPTT of :func:`lstm_forward` (the equations in the module docstring), feature-major.

    Args:
        dhs: gradient w.r.t. every output ``(N, T, H)``, or ``None``.
        dhT, dcT: extra gradients w.r.t. the last hidden and cell states ``(N, H)``, or ``None``.
        need_dx: ``False``: no input gradient (``dx`` is ``None``: the first layer of a network
            needs none).
    Returns:
        ``(dx, dh0, dc0, dWx, dWh, db)``, weights in PyTorch's gate order ``[i, f, g, o]``.

    Per step one GEMM gives :math:`\delta h_{t-1} \mathrel{+}= W_h\,\delta a_t`; every step's
    :math:`\delta a_t` is kept, column ``t`` of ``(4H, T, N)``, and after the loop one GEMM each over
    all ``T N`` columns gives the weight gradient (3) and the input gradient
    :math:`\delta x_t = W_x\,\delta a_t` (in the loop, ``D`` more rows of every step's thin GEMM
    cost char-lstm's shard 17 ms; after it, 11).

    Equations (6)–(9) and (3) of ``docs/recurrent.md``.
    """
    xh, cs, gates, tanh_c, W = cache
    T, H, N = tanh_c.shape
    F = xh.shape[0]  # D + H + 1
    D, dt = F - H - 1, xh.dtype
    W_h = W[D : D + H]  # (H, 4H)
    dh = scratch(ws, "dh", (H, N), dt)
    dh[...] = 0 if dhT is None else dhT.T
    dc = np.zeros((H, N), dt) if dcT is None else np.array(dcT.T, dtype=dt)
    das = scratch(ws, "das", (4 * H, T, N), dt)  # every step's pre-activation gradients, [i, f, o, g]
    d = scratch(ws, "d", (4 * H, N), dt)  # this step's, contiguous
    tmp, tmp3 = scratch(ws, "tmp", (H, N), dt), scratch(ws, "tmp3", (3 * H, N), dt)
    for t in range(T - 1, -1, -1):
        if dhs is not None:
            dh += dhs[:, t].T
        _lstm_gate_gradients(dh, dc, gates[t], tanh_c[t], cs[t], d, tmp, tmp3)
        das[:, t] = d
        np.matmul(W_h, d, out=dh)
    flat = das.reshape(4 * H, T * N)
    # (3): sum_t [x_t; h_{t-1}; 1] da_t^T, one GEMM, (F, T N) x (T N, 4H)
    dW = scratch(ws, "dW", (F, 4 * H), dt)
    np.matmul(xh[:, :T].reshape(F, T * N), flat.T, out=dW)
    dWx, dWh, db = _torch_order(dW, D, H)
    dx = None if not need_dx else np.ascontiguousarray((W[:D] @ flat).reshape(D, T, N).transpose(2, 1, 0))
    return dx, dh.T.copy(), dc.T.copy(), dWx, dWh, db


RECORDS = (
    OpRecord(name="rnn", forward=rnn_forward, backward=rnn_backward, layers=("RNN",), family="recurrent",
             docs="recurrent.md", topic="tanh RNN (backpropagation through time)"),
    OpRecord(name="lstm", forward=lstm_forward, backward=lstm_backward, layers=("LSTM",), family="recurrent",
             docs="recurrent.md", topic="LSTM (vanishing and exploding gradients, clipping)"),
)  # fmt: skip
