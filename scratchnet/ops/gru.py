r"""The gated recurrent unit (GRU) over a whole sequence, with backpropagation through time.

Shapes as for the LSTM (:mod:`scratchnet.ops.recurrent`): input :math:`x \in \mathbb R^{N\times
T\times D}`, hidden size :math:`H`, weights for right-multiplication with the gate blocks in
PyTorch's order ``[r, z, n]``: :math:`W_x \in \mathbb R^{D\times 3H}`, :math:`W_h \in \mathbb
R^{H\times 3H}`, and two biases :math:`b_x, b_h \in \mathbb R^{3H}` (the reset gate multiplies
the recurrent part of the candidate *with* its bias, so the two biases are not interchangeable).

Forward, step :math:`t` (:math:`p = x_t W_x + b_x`, :math:`q = h_{t-1} W_h + b_h`, each split into
its ``r``, ``z``, ``n`` blocks):

.. math::
    r = \sigma(p_r + q_r),\quad z = \sigma(p_z + q_z),\quad n = \tanh(p_n + r\odot q_n),

    h_t = (1 - z)\odot n + z\odot h_{t-1}.

Backward, step :math:`t` from :math:`T` down to 1, with :math:`\delta h_t` the gradient reaching
:math:`h_t` (from the output at :math:`t` and from step :math:`t+1`):

.. math::
    \delta n = \delta h_t\odot(1 - z),\quad \delta z = \delta h_t\odot(h_{t-1} - n),\quad
    \delta a_n = \delta n\odot(1 - n^2),

    \delta q_n = \delta a_n\odot r,\quad \delta r = \delta a_n\odot q_n,\quad
    \delta a_r = \delta r\odot r(1-r),\quad \delta a_z = \delta z\odot z(1-z),

    \delta p = [\delta a_r, \delta a_z, \delta a_n],\quad \delta q = [\delta a_r, \delta a_z,
    \delta q_n],\quad \delta h_{t-1} = \delta h_t\odot z + \delta q\,W_h^\top.

Summed over time: :math:`\partial L/\partial W_x = \sum_t x_t^\top\delta p_t`, :math:`\partial
L/\partial b_x = \sum_t \mathbf 1^\top\delta p_t`, :math:`\partial L/\partial W_h = \sum_t
h_{t-1}^\top\delta q_t`, :math:`\partial L/\partial b_h = \sum_t\mathbf 1^\top\delta q_t`,
:math:`\partial L/\partial x_t = \delta p_t W_x^\top`.

Vectorisation: the input projection of all steps is one GEMM, the recurrence one GEMM per step
(forward and backward), the weight gradients and the input gradient one GEMM each over all
steps. Derivation: ``docs/recurrent.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .record import OpRecord
from .recurrent import _project_inputs, _upstream
from .workspace import Workspace, scratch


class GRUCache(NamedTuple):
    """What BPTT needs; time-major arrays, in the layer's workspace when one is given."""

    xs: np.ndarray  # (T, N, D)
    hs: np.ndarray  # (T + 1, N, H): h_0 .. h_T
    gates: np.ndarray  # (T, N, 3H): r, z, n after their activations
    q_n: np.ndarray  # (T, N, H): h_{t-1} W_hn + b_hn, what the reset gate multiplies
    Wx: np.ndarray
    Wh: np.ndarray


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    """``sigmoid`` in place, as ``(1 + tanh(a/2)) / 2`` (no overflow for any ``a``)."""
    a *= 0.5
    np.tanh(a, out=a)
    a += 1
    a *= 0.5
    return a


def gru_forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, bx: np.ndarray, bh: np.ndarray,
                ws: Workspace | None = None) -> tuple[np.ndarray, GRUCache]:  # fmt: skip
    """GRU over a sequence. Returns all hidden states ``(N, T, H)`` and the cache.

    Equation (10) of ``docs/recurrent.md``.
    """
    N, T, _ = x.shape
    H = Wh.shape[0]
    xs, p = _project_inputs(x, Wx, bx, ws)  # (T, N, 3H)
    dt = p.dtype
    hs = scratch(ws, "hs", (T + 1, N, H), dt)
    gates = scratch(ws, "gates", (T, N, 3 * H), dt)
    q_n = scratch(ws, "q_n", (T, N, H), dt)
    q = scratch(ws, "q", (N, 3 * H), dt)
    hs[0] = h0
    for t in range(T):
        np.matmul(hs[t], Wh, out=q)
        q += bh
        rz = np.add(p[t, :, : 2 * H], q[:, : 2 * H], out=gates[t, :, : 2 * H])
        _sigmoid_(rz)
        r, z = rz[:, :H], rz[:, H:]
        np.copyto(q_n[t], q[:, 2 * H :])
        n = np.multiply(r, q_n[t], out=gates[t, :, 2 * H :])
        n += p[t, :, 2 * H :]
        np.tanh(n, out=n)
        h = np.subtract(hs[t], n, out=hs[t + 1])  # h_t = n + z (h_{t-1} - n)
        h *= z
        h += n
    return hs[1:].transpose(1, 0, 2), GRUCache(xs, hs, gates, q_n, Wx, Wh)


def gru_backward(
    dhs: np.ndarray | None, dhT: np.ndarray | None, cache: GRUCache, ws: Workspace | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BPTT of :func:`gru_forward` (``dhs``: gradient of every output ``(N, T, H)`` or ``None``;
    ``dhT``: of the last hidden state ``(N, H)`` or ``None``). Returns
    ``(dx, dh0, dWx, dWh, dbx, dbh)``.

    Equations (11)–(15) of ``docs/recurrent.md``.
    """
    xs, hs, gates, q_n, Wx, Wh = cache
    T, N, H = q_n.shape
    dt = hs.dtype
    dp = scratch(ws, "dp", (T, N, 3 * H), dt)
    dq = scratch(ws, "dq", (T, N, 3 * H), dt)
    dh = np.zeros((N, H), dt) if dhT is None else dhT.astype(dt)
    for t in range(T - 1, -1, -1):
        dh = _upstream(dhs, t, dh)
        r, z, n = gates[t, :, :H], gates[t, :, H : 2 * H], gates[t, :, 2 * H :]
        dan = np.multiply(dh * (1 - z), 1 - n * n, out=dp[t, :, 2 * H :])
        np.multiply(dan, r, out=dq[t, :, 2 * H :])
        np.multiply(dan * q_n[t], r * (1 - r), out=dp[t, :, :H])
        np.multiply(dh * (hs[t] - n), z * (1 - z), out=dp[t, :, H : 2 * H])
        dq[t, :, : 2 * H] = dp[t, :, : 2 * H]
        dh = dh * z + dq[t] @ Wh.T
    flat_p, flat_q = dp.reshape(T * N, -1), dq.reshape(T * N, -1)
    dWx = xs.reshape(T * N, -1).T @ flat_p
    dWh = hs[:T].reshape(T * N, H).T @ flat_q
    dx = (flat_p @ Wx.T).reshape(T, N, -1).transpose(1, 0, 2)
    return dx, dh, dWx, dWh, flat_p.sum(axis=0), flat_q.sum(axis=0)


RECORDS = (
    OpRecord(name="gru", forward=gru_forward, backward=gru_backward, layers=("GRU",), family="recurrent",
             docs="recurrent.md", topic="GRU"),
)  # fmt: skip
