"""The tanh RNN and the LSTM, one step and over a sequence (the courses' gate order ``[i, f, o, g]``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...ops import recurrent as rec
from ..spec import Arrays, Mistake, OpSpec, with_dout

IFOG_TO_IFGO = np.r_[0:2, 3, 2]  # the courses' gate blocks [i, f, o, g] -> scratchnet's [i, f, g, o]


def _blocks(a: np.ndarray, H: int, order: np.ndarray) -> np.ndarray:
    """The 4 gate blocks of the last axis of ``a`` (each ``H`` wide) in ``order``."""
    return np.concatenate([a[..., k * H : (k + 1) * H] for k in order], axis=-1)


def recurrent_cases(cell: str, steps: bool) -> Callable[[np.random.Generator], list[dict[str, Any]]]:
    """The courses' sequence LSTM starts its cell at zero (``lstm_forward(x, h0, Wx, Wh, b)``): its
    cases carry ``c0 = 0``; the step's ``prev_c`` is random."""
    G = 4 if cell == "lstm" else 1

    def cases(rng: np.random.Generator) -> list[dict[str, Any]]:
        out = []
        for k, (N, T, D, H) in enumerate([(3, 4, 5, 4), (2, 1, 3, 2), (4, 3, 2, 5)]):
            T = 1 if steps else T
            c = {"x": rng.standard_normal((N, D) if steps else (N, T, D)), "h0": rng.standard_normal((N, H)),
                 "Wx": rng.standard_normal((D, G * H)) * 0.5, "Wh": rng.standard_normal((H, G * H)) * 0.5,
                 "b": rng.standard_normal(G * H) * 0.5, "dout_seed": 700 + k}  # fmt: skip
            if cell == "lstm":
                c["c0"] = rng.standard_normal((N, H)) if steps else np.zeros((N, H))
            out.append(c)
        return out

    return cases


def rnn_expected(steps: bool) -> Callable[[dict[str, Any]], Arrays]:
    def expected(case: dict[str, Any]) -> Arrays:
        x = case["x"][:, None] if steps else case["x"]  # a step is a sequence of length 1
        hs, cache = rec.rnn_forward(x, case["h0"], case["Wx"], case["Wh"], case["b"])
        dh = with_dout(case, hs[:, 0].shape if steps else hs.shape)
        dx, dh0, dWx, dWh, db = rec.rnn_backward(None if steps else dh, dh if steps else None, cache)
        out = {"out": hs[:, 0] if steps else hs, "dx": dx[:, 0] if steps else dx, "dh0": dh0, "dWx": dWx,
               "dWh": dWh, "db": db}  # fmt: skip
        return out

    return expected


def lstm_expected(steps: bool, order: np.ndarray = IFOG_TO_IFGO) -> Callable[[dict[str, Any]], Arrays]:
    """The courses' LSTM (gates [i, f, o, g]) through scratchnet's ([i, f, g, o]): the weights'
    gate blocks are reordered in, the gradients' back."""

    def expected(case: dict[str, Any]) -> Arrays:
        H = case["h0"].shape[1]
        Wx, Wh, b = (_blocks(case[k], H, order) for k in ("Wx", "Wh", "b"))
        x = case["x"][:, None] if steps else case["x"]
        hs, cT, cache = rec.lstm_forward(x, case["h0"], case["c0"], Wx, Wh, b)
        if steps:
            if "dc_seed" not in case:
                case["dc"] = np.random.default_rng(case["dout_seed"] + 1).standard_normal(cT.shape)
                case["dc_seed"] = True
            dh = with_dout(case, hs[:, 0].shape)
            dx, dh0, dc0, dWx, dWh, db = rec.lstm_backward(None, dh, case["dc"], cache)
        else:
            dh = with_dout(case, hs.shape)
            dx, dh0, dc0, dWx, dWh, db = rec.lstm_backward(dh, None, None, cache)
        back = np.argsort(order)
        out = {"out": hs[:, 0] if steps else hs}
        if steps:
            out["c"] = cT
        out.update({"dx": dx[:, 0] if steps else dx, "dh0": dh0})
        if steps:
            out["dc0"] = dc0
        out.update({"dWx": _blocks(dWx, H, back), "dWh": _blocks(dWh, H, back), "db": _blocks(db, H, back)})
        return out

    return expected


def _gate_order(steps: bool) -> Mistake:
    wrong = lstm_expected(steps, order=np.arange(4))  # the submission reads [i, f, o, g] as [i, f, g, o]
    return Mistake(
        "wrong gate order",
        "your LSTM reads the gate blocks in the order [i, f, g, o] "
        "(PyTorch's); the courses' convention, and this check's, is [i, f, o, g]: a[:, :H] is i, "
        "a[:, H:2H] f, a[:, 2H:3H] o, a[:, 3H:] g",
        lambda c: {"out": wrong(c)["out"]},
    )


def _truncated_bptt(cell: str) -> Mistake:
    """The gradient from the next step not added to dh (each step backpropagates only its own output)."""

    def compute(c):
        H, N, T = c["h0"].shape[1], c["x"].shape[0], c["x"].shape[1]
        if T == 1:
            return {}
        dh = c["dout"]
        dx = np.zeros_like(c["x"])
        for t in range(T):  # every step alone, from its own output's gradient only
            sub = dict(c, x=c["x"][:, : t + 1])
            sub.pop("dout")
            sub["dout"] = np.zeros((N, t + 1, H))
            sub["dout"][:, t] = dh[:, t]
            e = (lstm_expected(False) if cell == "lstm" else rnn_expected(False))(sub)
            dx[:, t] = e["dx"][:, t]
        return {"dx": dx}

    return Mistake(
        "the next step's gradient not carried back",
        "your dx at step t only sees the gradient of "
        "the output at t: dh_t must also receive dh_{t+1} through the recurrence (dprev_h of step "
        "t + 1 added to the upstream gradient of step t)",
        compute,
    )


SPECS = (
    OpSpec(
        name="rnn-step",
        about="one step of a tanh RNN",
        results=("out", "dx", "dh0", "dWx", "dWh", "db"),
        cases=recurrent_cases("rnn", True),
        expected=rnn_expected(True),
        signature="next_h, cache = rnn_step_forward(x, prev_h, Wx, Wh, b)\n"
                  "#   x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,); next_h (N, H)\n"
                  "dx, dprev_h, dWx, dWh, db = rnn_step_backward(dnext_h, cache)",
        equations="next_h = tanh(x @ Wx + prev_h @ Wh + b); da = dnext_h * (1 - next_h**2); dx = da @ Wx.T; "
                  "dprev_h = da @ Wh.T; dWx = x.T @ da; dWh = prev_h.T @ da; db = da.sum(0)",
        doc="docs/recurrent.md",
    ),
    OpSpec(
        name="rnn",
        about="a tanh RNN over a sequence, backpropagation through time",
        results=("out", "dx", "dh0", "dWx", "dWh", "db"),
        cases=recurrent_cases("rnn", False),
        expected=rnn_expected(False),
        signature="h, cache = rnn_forward(x, h0, Wx, Wh, b)    # x (N, T, D), h0 (N, H); h (N, T, H)\n"
                  "dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)    # dh (N, T, H): the gradient of "
                  "every output",
        equations="the step's equations for t = 1..T; backward from t = T down, dh_t = dh[:, t] + dprev_h "
                  "of step t+1",
        doc="docs/recurrent.md",
        mistakes=(_truncated_bptt("rnn"),),
    ),
    OpSpec(
        name="lstm-step",
        about="one LSTM step, gates [i, f, o, g]",
        results=("out", "c", "dx", "dh0", "dc0", "dWx", "dWh", "db"),
        cases=recurrent_cases("lstm", True),
        expected=lstm_expected(True),
        signature="next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)\n"
                  "#   x (N, D), prev_h and prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)\n"
                  "dx, dprev_h, dprev_c, dWx, dWh, db = lstm_step_backward(dnext_h, dnext_c, cache)",
        equations="a = x @ Wx + prev_h @ Wh + b, blocks [i, f, o, g]; i, f, o = sigmoid; g = tanh;\n"
                  "next_c = f * prev_c + i * g; next_h = o * tanh(next_c)",
        doc="docs/recurrent.md",
        mistakes=(_gate_order(True),),
        forward_results=2,
    ),
    OpSpec(
        name="lstm",
        about="an LSTM over a sequence, the cell starting at zero, backpropagation through time",
        results=("out", "dx", "dh0", "dWx", "dWh", "db"),
        cases=recurrent_cases("lstm", False),
        expected=lstm_expected(False),
        signature="h, cache = lstm_forward(x, h0, Wx, Wh, b)    # x (N, T, D), h0 (N, H); the cell starts "
                  "at zero\n"
                  "dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)",
        equations="the step's equations for t = 1..T; backward from t = T down, carrying dh and dc to "
                  "step t - 1",
        doc="docs/recurrent.md",
        mistakes=(_gate_order(False), _truncated_bptt("lstm")),
    ),
)  # fmt: skip
