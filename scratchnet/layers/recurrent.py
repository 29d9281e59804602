"""``RNN``, ``LSTM``, ``GRU`` and ``Embedding``: the layers of sequence models (math in
:mod:`scratchnet.ops.recurrent` and :mod:`scratchnet.ops.gru`)."""

from __future__ import annotations

import numpy as np

from ..ops import recurrent as ops
from ..ops.embedding import embedding_backward, embedding_forward
from ..ops.gru import gru_backward, gru_forward
from .base import Layer, Shape, shape_error
from .init import make_rng


class _Recurrent(Layer):
    """Shared by :class:`RNN` and :class:`LSTM`: input ``(N, T, input_size)``.

    * ``return_sequences``: output every hidden state ``(N, T, H)``, else the last ``(N, H)``.
    * Initial state: zeros, or ``forward(x, state)`` with ``h0`` (RNN) or ``(h0, c0)`` (LSTM),
      each ``(N, H)``; after ``backward`` its gradient is in ``state_grads``.
    * ``stateful=True``: each batch starts from the previous batch's final state (truncated
      backpropagation through time: no gradient flows into the previous batch), while the batch
      size stays the same; :meth:`reset_state` starts afresh.
    """

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        return_sequences: bool = False,
        *,
        stateful: bool = False,
        dtype: np.dtype | type = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        if self.input_size < 1 or self.hidden_size < 1:
            raise ValueError(f"{self!r}: sizes must be >= 1")
        self.return_sequences, self.stateful = bool(return_sequences), bool(stateful)
        gen, G, H = make_rng(rng), self.gates * self.hidden_size, self.hidden_size
        bound = 1.0 / np.sqrt(H)  # PyTorch's U(-1/sqrt(H), 1/sqrt(H))
        self.params["Wx"] = gen.uniform(-bound, bound, (self.input_size, G)).astype(dtype)
        self.params["Wh"] = gen.uniform(-bound, bound, (H, G)).astype(dtype)
        self.params["b"] = np.zeros(G, dtype=dtype)
        self.state_grads: tuple[np.ndarray, ...] | None = None
        self._carried: tuple[np.ndarray, ...] | None = None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.return_sequences:
            s += ", return_sequences=True"
        return s + (", stateful=True" if self.stateful else "")

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) != 3 or shape[2] != self.input_size:
            raise shape_error(self, f"(N, T, {self.input_size})", shape)
        N, T, _ = shape
        return (N, T, self.hidden_size) if self.return_sequences else (N, self.hidden_size)

    def macs(self, input_shape: Shape) -> int:
        self.output_shape(input_shape)
        return input_shape[0] * (self.input_size + self.hidden_size) * self.gates * self.hidden_size

    def reset_state(self) -> None:
        """Forget the state a stateful layer carries."""
        self._carried = None

    def _initial_state(self, x: np.ndarray, state) -> tuple[np.ndarray, ...]:
        N, H = x.shape[0], self.hidden_size
        n_states = 2 if self.gates == 4 else 1
        if state is None and self.stateful and self._carried is not None and self._carried[0].shape[0] == N:
            state = self._carried
        if state is None:
            return tuple(np.zeros((N, H), x.dtype) for _ in range(n_states))
        state = (state,) if isinstance(state, np.ndarray) else tuple(state)
        if len(state) != n_states or any(s.shape != (N, H) for s in state):
            raise ValueError(f"{self!r}: initial state must be {n_states} array(s) of shape ({N}, {H})")
        return tuple(np.asarray(s, dtype=x.dtype) for s in state)

    def _output(self, hs: np.ndarray) -> np.ndarray:
        return hs if self.return_sequences else hs[:, -1]

    def _upstream(self, dout: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(dhs, dhT)``: the gradient of every output, or only of the last hidden state."""
        return (dout, None) if self.return_sequences else (None, dout)


class RNN(_Recurrent):
    r"""Tanh RNN: :math:`h_t = \tanh(x_t W_x + h_{t-1} W_h + b)` over ``(N, T, D)`` inputs.

    Backward (BPTT): :math:`\delta a_t = \delta h_t \odot (1-h_t^2)`, :math:`\delta h_{t-1}
    \mathrel{+}= \delta a_t W_h^\top`; weight gradients summed over time. Parameters ``Wx``
    ``(D, H)``, ``Wh`` ``(H, H)``, ``b`` ``(H,)``. See :mod:`scratchnet.ops.recurrent`.
    """

    def forward(self, x: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        self.check_input(x.shape)
        (h0,) = self._initial_state(x, state)
        p = self.params
        hs, self._cache = ops.rnn_forward(x, h0, p["Wx"], p["Wh"], p["b"], self.workspace)
        if self.stateful:
            self._carried = (hs[:, -1].copy(),)
        return self._output(hs)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dh0, dWx, dWh, db = ops.rnn_backward(*self._upstream(dout), self._saved(), self.workspace)
        for k, g in (("Wx", dWx), ("Wh", dWh), ("b", db)):
            self._set_grad(k, g)
        self.state_grads = (dh0,)
        return dx if need_dx else None


class LSTM(_Recurrent):
    r"""Long short-term memory over ``(N, T, D)`` inputs, gates in PyTorch's order (i, f, g, o).

    Forward: :math:`[i, f, g, o] = [\sigma, \sigma, \tanh, \sigma](x_t W_x + h_{t-1} W_h + b)`,
    :math:`c_t = f\odot c_{t-1} + i\odot g`, :math:`h_t = o\odot\tanh c_t`. Backward: BPTT gate by
    gate (:mod:`scratchnet.ops.recurrent`, ``docs/recurrent.md``). Parameters ``Wx`` ``(D, 4H)``,
    ``Wh`` ``(H, 4H)``, ``b`` ``(4H,)``; the forget-gate bias starts at 1, so that the cell
    remembers by default.
    """

    gates = 4

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        H = self.hidden_size
        self.params["b"][H : 2 * H] = 1.0

    def forward(self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        self.check_input(x.shape)
        h0, c0 = self._initial_state(x, state)
        p = self.params
        hs, cT, self._cache = ops.lstm_forward(x, h0, c0, p["Wx"], p["Wh"], p["b"], self.workspace)
        if self.stateful:
            self._carried = (hs[:, -1].copy(), cT.copy())
        return self._output(hs)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dhs, dhT = self._upstream(dout)
        dx, dh0, dc0, dWx, dWh, db = ops.lstm_backward(dhs, dhT, None, self._saved(), self.workspace, need_dx)
        for k, g in (("Wx", dWx), ("Wh", dWh), ("b", db)):
            self._set_grad(k, g)
        self.state_grads = (dh0, dc0)
        return dx


class GRU(_Recurrent):
    r"""Gated recurrent unit over ``(N, T, D)`` inputs, PyTorch's equations and gate order
    ``[r, z, n]``: :math:`r = \sigma(x_tW_{xr} + b_{xr} + h_{t-1}W_{hr} + b_{hr})`, :math:`z` likewise,
    :math:`n = \tanh(x_tW_{xn} + b_{xn} + r\odot(h_{t-1}W_{hn} + b_{hn}))`, :math:`h_t = (1-z)\odot n
    + z\odot h_{t-1}`. Backward: BPTT gate by gate (:mod:`scratchnet.ops.gru`,
    ``docs/recurrent.md``). Parameters ``Wx`` ``(D, 3H)``, ``Wh`` ``(H, 3H)``, ``bx`` and ``bh``
    ``(3H,)`` (zeros); initial state ``h0``, ``stateful`` and ``return_sequences`` as the LSTM's.
    """

    gates = 3

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.params["bx"] = self.params.pop("b")
        self.params["bh"] = np.zeros_like(self.params["bx"])

    def forward(self, x: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        self.check_input(x.shape)
        (h0,) = self._initial_state(x, state)
        p = self.params
        hs, self._cache = gru_forward(x, h0, p["Wx"], p["Wh"], p["bx"], p["bh"], self.workspace)
        if self.stateful:
            self._carried = (hs[:, -1].copy(),)
        return self._output(hs)

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        dx, dh0, dWx, dWh, dbx, dbh = gru_backward(*self._upstream(dout), self._saved(), self.workspace)
        for k, g in (("Wx", dWx), ("Wh", dWh), ("bx", dbx), ("bh", dbh)):
            self._set_grad(k, g)
        self.state_grads = (dh0,)
        return dx if need_dx else None


class Embedding(Layer):
    r"""A lookup table: integer ids ``(N, ...)`` in ``[0, vocab)`` to vectors ``(N, ..., dim)``.

    Forward :math:`y_{n,t} = E_{x_{n,t}}`; backward :math:`\partial L/\partial E_v = \sum_{(n,t):
    x_{n,t}=v} \partial L/\partial y_{n,t}` (rows of the same id add up). The ids get no gradient.
    Parameter ``E`` ``(vocab, dim)``, initialised :math:`\mathcal N(0, 1)` as in PyTorch.
    """

    input_kind = "ids"  # integer ids are never cast to floats at the door

    def __init__(self, vocab: int, dim: int, *, dtype: np.dtype | type = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.vocab, self.dim = int(vocab), int(dim)
        self.params["E"] = make_rng(rng).standard_normal((self.vocab, self.dim)).astype(dtype)

    def extra_repr(self) -> str:
        return f"{self.vocab}, {self.dim}"

    def check_input(self, shape: tuple) -> tuple:
        if len(shape) < 1:
            raise shape_error(self, "(N, ...) of integer ids", shape)
        return (*shape, self.dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.check_input(x.shape)
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{self!r}: expected integer ids, got {x.dtype}")
        if x.size and (x.min() < 0 or x.max() >= self.vocab):
            raise ValueError(f"{self!r}: ids must be in [0, {self.vocab}), got [{x.min()}, {x.max()}]")
        y, self._cache = embedding_forward(x, self.params["E"])
        return y

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        self._set_grad("E", embedding_backward(dout, self._saved()))
        return None
