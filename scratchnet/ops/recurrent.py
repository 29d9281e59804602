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
    """What BPTT needs. ``hs``/``cs`` hold the states ``0..T`` (index 0 is the initial state);
    ``gates`` the activated gates (LSTM) or nothing (RNN). RNN arrays are time-major
    ``(T, N, ...)``; LSTM arrays feature-major ``(T, ..., N)`` with gates ``[i, f, o, g]`` and
    ``Wx``/``Wh`` permuted to match. The arrays live in the layer's workspace when one is given
    (overwritten by its next forward pass)."""

    xs: np.ndarray  # RNN (T, N, D); LSTM the stacks [x_t; h_{t-1}; 1], (T + 1, D + H + 1, N)
    hs: np.ndarray  # RNN (T + 1, N, H); LSTM (T + 1, H, N), a view into xs
    cs: np.ndarray | None  # LSTM only
    gates: np.ndarray | None  # LSTM only, (T, 4H, N)
    tanh_c: np.ndarray | None  # LSTM only, (T, H, N)
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
    return hs[1:].transpose(1, 0, 2), RecurrentCache(xs, hs, None, None, None, Wx, Wh)


def _ifog(H: int) -> np.ndarray:
    """Column order ``[i, f, o, g]`` from PyTorch's ``[i, f, g, o]``: the three sigmoid gates are
    then one contiguous block, activated by one call per step."""
    return np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]


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
    ``(N, H)`` and the cache.

    Internally the arrays are feature-major, ``(T, features, N)``, gates in the order
    ``[i, f, o, g]``: every gate of a step is then a contiguous ``(H, N)`` block (element-wise
    passes over contiguous memory run about four times faster than over column blocks), the
    recurrent product is :math:`W_h^\\top h_{t-1}` and the three sigmoid gates are one block. The sigmoid
    uses :math:`\\sigma(a) = \\tfrac12 + \\tfrac12\\tanh(a/2)`, with the halving folded into a copy of
    their weights, so one ``tanh`` call activates all four gates.

    Equations (4) and (5) of ``docs/recurrent.md``.
    """
    N, T, D = x.shape
    H = Wh.shape[0]
    order = _ifog(H)
    Wx, Wh, b = Wx[:, order], Wh[:, order], b[order]  # unscaled, [i, f, o, g]: what BPTT needs
    half = np.ones(4 * H, dtype=Wx.dtype)
    half[: 3 * H] = 0.5
    dt = np.result_type(x, Wx)
    # one GEMM per step: [W_x; W_h; b]^T (4H, D+H+1) times the column stack [x_t; h_{t-1}; 1]
    W_all = np.ascontiguousarray(np.concatenate([Wx, Wh, b[None]]).T * half[:, None])
    xh = scratch(ws, "xh", (T + 1, D + H + 1, N), dt)
    np.copyto(xh[:T, :D], x.transpose(1, 2, 0))
    xh[:, D + H] = 1
    hs = xh[:, D : D + H]  # h_t lives in step t+1's stack; (T + 1, H, N) view
    hs[0] = h0.T
    gates = scratch(ws, "gates", (T, 4 * H, N), dt)
    cs = scratch(ws, "cs", (T + 1, H, N), dt)
    tanh_c = scratch(ws, "tanh_c", (T, H, N), dt)
    ig = scratch(ws, "ig", (H, N), dt)
    cs[0] = c0.T
    for t in range(T):
        a = np.matmul(W_all, xh[t], out=gates[t])
        np.tanh(a, out=a)
        sig = a[: 3 * H]
        sig *= 0.5
        sig += 0.5
        i, f, o, g = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
        c = np.multiply(f, cs[t], out=cs[t + 1])
        c += np.multiply(i, g, out=ig)
        np.tanh(c, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=hs[t + 1])
    return hs[1:].transpose(2, 0, 1), cs[T].T, RecurrentCache(xh, hs, cs, gates, tanh_c, Wx, Wh)


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


# the largest (4H, D + H + 1) weight gradient the LSTM's backward pass accumulates step by step;
# above it, one GEMM after the loop (bench/bench_lstm.py on the 2-core EPYC: char-lstm's 4.7 MB
# backward 420 -> 260 ms; lstm-rows' 0.3 MB was 5% slower that way)
_ACCUMULATE_BYTES = 1 << 20


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
    cache: RecurrentCache,
    ws: Workspace | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BPTT of :func:`lstm_forward` (the equations in the module docstring), feature-major.

    Args:
        dhs: gradient w.r.t. every output ``(N, T, H)``, or ``None``.
        dhT, dcT: extra gradients w.r.t. the last hidden and cell states ``(N, H)``, or ``None``.
        need_dx: ``False``: no input gradient (``dx`` is ``None``; each step's GEMM then has
            ``H`` rows instead of ``D + H``: the first layer of a network needs none).
    Returns:
        ``(dx, dh0, dc0, dWx, dWh, db)``, weights in PyTorch's gate order ``[i, f, g, o]``.

    Equations (6)–(9) and (3) of ``docs/recurrent.md``.
    """
    xs, hs, cs, gates, tanh_c, Wx, Wh = cache
    T, H, N = tanh_c.shape
    F = xs.shape[1]  # D + H + 1: xs holds the forward pass's stacks [x_t; h_{t-1}; 1]
    D = F - H - 1
    dt = hs.dtype
    # (D + H, 4H): one GEMM per step gives dx_t and dh_{t-1} (only dh_{t-1}: Wh, (H, 4H))
    W_xh = np.concatenate([Wx, Wh]) if need_dx else np.ascontiguousarray(Wh)
    rows = D if need_dx else 0  # the rows of dx_t in the GEMM's result
    dxs = scratch(ws, "dxs", (T, D, N), dt) if need_dx else None
    # (3), sum_t da_t [x_t; h_{t-1}; 1]^T: while that (4H, F) sum fits in the CPU's cache it is
    # accumulated step by step (da_t still hot); a larger one is one GEMM over all T N columns after
    # the loop, from every step's da kept (T thin GEMMs adding T large matrices cost more)
    batched = 4 * H * F * np.dtype(dt).itemsize > _ACCUMULATE_BYTES
    das = scratch(ws, "das", (T if batched else 1, 4 * H, N), dt)  # pre-activation gradients, [i, f, o, g]
    dW = None if batched else np.zeros((4 * H, F), dt)
    dW_step = None if batched else scratch(ws, "dW_step", (4 * H, F), dt)
    tmp = scratch(ws, "tmp", (H, N), dt)
    tmp3 = scratch(ws, "tmp3", (3 * H, N), dt)
    upstream = None if dhs is None else np.ascontiguousarray(dhs.transpose(1, 2, 0), dtype=dt)  # (T, H, N)
    dh = np.zeros((H, N), dt) if dhT is None else np.array(dhT.T, dtype=dt)
    dc = np.zeros((H, N), dt) if dcT is None else np.array(dcT.T, dtype=dt)
    for t in range(T - 1, -1, -1):
        if upstream is not None:
            dh += upstream[t]
        d = _lstm_gate_gradients(dh, dc, gates[t], tanh_c[t], cs[t], das[t if batched else 0], tmp, tmp3)
        if not batched:
            dW += np.matmul(d, xs[t].T, out=dW_step)
        both = W_xh @ d  # (D + H, N): [dx_t; dh_{t-1}]
        if dxs is not None:
            dxs[t] = both[:D]
        dh = both[rows:]
    if batched:
        dW = np.tensordot(das, xs[:T], axes=([0, 2], [0, 2]))
    dWx, dWh, db = dW[:, :D].T, dW[:, D : D + H].T, dW[:, D + H]
    dx = None if dxs is None else np.ascontiguousarray(dxs.transpose(2, 0, 1))  # (N, T, D)
    back = np.argsort(_ifog(H))  # to PyTorch's order
    return dx, dh.T.copy(), dc.T.copy(), dWx[:, back], dWh[:, back], db[back]


RECORDS = (
    OpRecord(name="rnn", forward=rnn_forward, backward=rnn_backward, layers=("RNN",), family="recurrent",
             docs="recurrent.md", topic="tanh RNN (backpropagation through time)"),
    OpRecord(name="lstm", forward=lstm_forward, backward=lstm_backward, layers=("LSTM",), family="recurrent",
             docs="recurrent.md", topic="LSTM (vanishing and exploding gradients, clipping)"),
)  # fmt: skip
