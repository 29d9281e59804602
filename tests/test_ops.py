"""Every generic check, over every entry of the op table (``tests/op_table.py``).

Parity with PyTorch (CPU) compares the forward output, the input gradient and every parameter
gradient, in float64 and float32; errors are norm-wise relative: ``max|ours - torch| / max|torch|``.
"""

from __future__ import annotations

import numpy as np
import pytest
from op_table import TOL, Sample, cases, channels_last, log_parity, rel_err

import scratchnet as sn
from scratchnet.layers import GELU, Identity
from scratchnet.ops._util import is_channels_last

FD_TOL = 1e-6  # float64 central differences (h = 1e-5) land around 1e-8 .. 1e-10; a bug gives > 1e-3
DTYPES = [np.float64, np.float32]


def _ids(pairs):
    return [f"{op.name}-{seed}" for op, seed in pairs]


def _with_dtype(pairs):
    return [(op, seed, dt) for dt in DTYPES for op, seed in pairs]


PARITY = _with_dtype(cases("parity"))


@pytest.mark.parametrize(
    ("op", "seed", "dtype"), PARITY, ids=[f"{o.name}-{np.dtype(d).name}-{s}" for o, s, d in PARITY]
)
def test_parity_with_torch(op, seed, dtype):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    s = op.sample(rng, "parity")
    dtype = np.dtype(dtype)
    errs = _loss_parity(s, dtype, torch) if op.kind == "loss" else _layer_parity(s, dtype, rng, torch)
    log_parity(op.name, dtype, errs)
    assert max(errs.values()) < TOL[dtype] * (s.float32_tol_scale if dtype == np.float32 else 1.0), errs


def _layer_parity(s: Sample, dtype: np.dtype, rng: np.random.Generator, torch) -> dict[str, float]:
    """Forward, input and parameter gradients against PyTorch; a model of several inputs or
    outputs (a graph) takes a tuple ``s.x`` and returns a tuple, each output with its own ``dout``."""
    layer = s.layer.astype(dtype)
    several_in = isinstance(s.x, tuple)
    xs = s.x if several_in else (s.x,)
    ids = np.issubdtype(xs[0].dtype, np.integer)  # an Embedding's input: no gradient
    xs = tuple(x if ids else x.astype(dtype) for x in xs)
    y = layer.forward(*xs)
    ys = y if isinstance(y, tuple) else (y,)
    douts = tuple(rng.standard_normal(a.shape).astype(dtype) for a in ys)
    dx = layer.backward(douts if isinstance(y, tuple) else douts[0])
    dxs = dx if several_in else (dx,)
    xts = [torch.tensor(np.ascontiguousarray(x), requires_grad=not ids) for x in xs]
    params = layer.parameters()  # a leaf's "W", "b", ...; a container's "0.W", ...
    pt = {p.name: torch.tensor(p.value, requires_grad=True) for p in params}
    yt = s.torch_fn(*xts, **pt)
    yts = yt if isinstance(yt, tuple) else (yt,)
    torch.autograd.backward(list(yts), [torch.tensor(d) for d in douts])
    assert all(a.dtype == dtype for a in ys) and (ids or all(d.dtype == dtype for d in dxs)), \
        "float dtype must be preserved"
    errs = {f"forward.{i}" if len(ys) > 1 else "forward": rel_err(a, b.detach().numpy())
            for i, (a, b) in enumerate(zip(ys, yts, strict=True))}  # fmt: skip
    if not ids:
        errs.update({f"input.{i}" if several_in else "input": rel_err(d, xt.grad.numpy())
                     for i, (d, xt) in enumerate(zip(dxs, xts, strict=True))})  # fmt: skip
    for p in params:
        assert p.grad.dtype == dtype
        # an optimizer's element-wise passes over a gradient and its parameter of different
        # memory layouts run several times slower (Adam on char-lstm's LSTM: 19 against 3.7 ms)
        assert _layout(p.grad) == _layout(p.value), \
            f"{p.name}: gradient strides {p.grad.strides}, parameter's {p.value.strides}"
        errs[p.name] = rel_err(p.grad, pt[p.name].grad.numpy())
    if s.after is not None:
        errs.update(s.after(layer))
    if dtype == np.float32 and s.grad_atol and "input" in errs:
        if np.abs(dx - xts[0].grad.numpy()).max(initial=0.0) <= s.grad_atol * np.abs(douts[0]).max():
            errs["input"] = 0.0
    return errs


def _layout(a: np.ndarray) -> list[int]:
    """The strides of ``a``'s axes longer than one (those of the others mean nothing)."""
    return [s for s, n in zip(a.strides, a.shape, strict=True) if n > 1]


def _loss_parity(s: Sample, dtype: np.dtype, torch) -> dict[str, float]:
    scores = s.x.astype(dtype)
    targets = s.targets.astype(dtype) if np.issubdtype(s.targets.dtype, np.floating) else s.targets
    value = s.layer.forward(scores, targets)
    grad = s.layer.backward()
    st = torch.tensor(scores, requires_grad=True)
    lt = s.torch_fn(st)
    lt.backward()
    assert isinstance(value, float)
    assert grad.dtype == dtype
    return {"loss": abs(value - lt.item()) / max(abs(lt.item()), 1e-30), "grad": rel_err(grad, st.grad.numpy())}


FD = cases("gradcheck")


@pytest.mark.parametrize(("op", "seed"), FD, ids=_ids(FD))
def test_finite_differences(op, seed):
    s = op.sample(np.random.default_rng(seed), "gradcheck")
    if op.kind == "loss":
        report = sn.gradcheck(Identity(), s.x, loss=s.layer, targets=s.targets)
    else:
        report = sn.gradcheck(s.layer, s.x, seed=seed)
        xs = s.x if isinstance(s.x, tuple) else (s.x,)
        with_input = not np.issubdtype(xs[0].dtype, np.integer)
        inputs = {f"input.{i}" for i in range(len(xs))} if isinstance(s.x, tuple) else {"input"}
        expected = {p.name for p in s.layer.parameters()} | (inputs if with_input else set())
        assert set(report.errors) == expected, "every parameter is checked"
    # relative error; a gradient that is itself ~0 (a saturated softmax) is judged absolutely,
    # against the finite differences' own round-off (eps_mach * |L| / h ~ 1e-11)
    bad = {k: e for k, e in report.errors.items() if e >= FD_TOL and report.abs_errors[k] >= 1e-10}
    assert not bad, str(report)


LAYOUT = cases("layout")


@pytest.mark.parametrize(("op", "seed"), LAYOUT, ids=_ids(LAYOUT))
def test_memory_layout_does_not_change_results(op, seed):
    """NCHW or channels-last input, NCHW or channels-last upstream gradient: same results."""
    rng = np.random.default_rng(seed)
    s = op.sample(rng, "layout")
    x = np.ascontiguousarray(s.x).astype(np.float32)
    assert x.ndim == 4
    y_shape = s.layer.astype(np.float32).forward(x).shape
    g = rng.standard_normal(y_shape).astype(np.float32)
    results = []
    for x_layout in (np.ascontiguousarray, channels_last):
        for g_layout in (np.ascontiguousarray, channels_last if len(y_shape) == 4 else np.ascontiguousarray):
            layer = op.sample(np.random.default_rng(seed), "layout").layer.astype(np.float32)
            xin, gin = x_layout(x), g_layout(g)
            if gin.ndim == 4 and gin.shape[1] > 1 and gin.shape[2] * gin.shape[3] > 1:  # else both layouts
                assert is_channels_last(gin) == (g_layout is channels_last)
            y = layer.forward(xin)
            dx = layer.backward(gin)
            results.append((y, dx, {p.name: p.grad.copy() for p in layer.parameters()}))
    y0, dx0, grads0 = results[0]
    for y, dx, grads in results[1:]:
        np.testing.assert_allclose(y, y0, rtol=1e-6, atol=1e-6)  # float32 sums may reassociate
        np.testing.assert_allclose(dx, dx0, rtol=1e-6, atol=1e-6)
        for k in grads0:
            np.testing.assert_allclose(grads[k], grads0[k], rtol=1e-5, atol=1e-5)


REFERENCE = cases("reference")


@pytest.mark.parametrize(("op", "seed"), REFERENCE, ids=_ids(REFERENCE))
def test_fast_path_matches_its_loop_twin(op, seed):
    """Forward, input gradient and parameter gradients against ``scratchnet.ops.naive``."""
    rng = np.random.default_rng(seed)
    s = op.sample(rng, "reference")
    y = s.layer.forward(s.x)
    dout = rng.standard_normal(y.shape)
    dx = s.layer.backward(dout)
    y_ref, dx_ref, grads_ref = op.reference(s, dout)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    for k in s.layer.params:
        np.testing.assert_allclose(s.layer.grads[k], grads_ref[k], rtol=1e-12, atol=1e-12)


ERRORS = cases("errors")


@pytest.mark.parametrize(("op", "seed"), ERRORS, ids=_ids(ERRORS))
def test_bad_input_is_a_clear_error(op, seed):
    for bad in op.bad_inputs:
        with pytest.raises(ValueError, match=bad.match):
            bad.make().forward(*bad.args())
    fresh = op.sample(np.random.default_rng(seed), "errors").layer
    with pytest.raises(RuntimeError, match=rf"{type(fresh).__name__}.*backward\(\) called before forward\(\)"):
        fresh.backward() if op.kind == "loss" else fresh.backward(np.zeros((1, 1, 1, 1), np.float32))


def test_every_check_has_cases():
    """The table really drives each check (a typo in a check name would silently skip it)."""
    counts = {check: len(cases(check)) for check in ("parity", "gradcheck", "layout", "reference", "errors")}
    assert all(n > 0 for n in counts.values()), counts


def test_conv_output_is_channels_last_and_pool_keeps_it():
    from scratchnet.layers import Conv2D, MaxPool2D

    x = np.zeros((2, 3, 8, 8), np.float32)
    y = Conv2D(3, 4, 3, padding=1).forward(x)
    assert y.shape == (2, 4, 8, 8) and is_channels_last(y)
    assert is_channels_last(MaxPool2D(2).forward(y))
    assert not is_channels_last(MaxPool2D(2).forward(np.zeros((2, 4, 8, 8), np.float32)))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_blocks_views_and_reuse(approximate):
    """GELU runs in blocks of ``_GELU_BLOCK`` elements: an input of several blocks and a tail, a
    strided view of it and a second call through the same workspace all give the formula's values
    (float64, against the expression written out), and the input is left as it was."""
    from scipy.special import erf

    from scratchnet.ops.activations import _GELU_BLOCK
    from scratchnet.ops.workspace import Workspace

    rng = np.random.default_rng(0)
    big = rng.standard_normal((3, 5, _GELU_BLOCK // 7 + 11, 7)) * 3  # 15 blocks and a tail
    layer = GELU(approximate)
    layer.workspace = Workspace(reuse_outputs=True)

    def expected(x):
        if approximate == "tanh":
            u = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
            t = np.tanh(u)
            du = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x**2)
            return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du
        cdf = 0.5 * (1 + erf(x / np.sqrt(2)))
        return x * cdf, cdf + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)

    for x in (big, big[:, ::2, 1:-3], big.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2), big):
        before = x.copy()
        g = rng.standard_normal(x.shape)
        y = layer.forward(x)
        dx = layer.backward(g)
        want_y, want_d = expected(x)
        np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dx, g * want_d, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("view", ["feature-major (H, T, N)", "time-major (T, N, H)", "2-D, transposed",
                                  "reversed batch", "one step"])  # fmt: skip
def test_dense_on_a_view_matches_its_copy_and_keeps_its_layout(view):
    """``Dense`` reads the rows of a transposed input in memory order instead of copying it: the
    output and every gradient equal those of a contiguous copy (float64, to round-off: the GEMMs
    run on other operand layouts), and ``dx`` has the input's layout (a feature-major input, as an
    LSTM's states, gets a feature-major gradient)."""
    rng = np.random.default_rng(3)
    N, T, H, C = 3, 5, 4, 6
    x = {"feature-major (H, T, N)": lambda: rng.standard_normal((H, T, N)).transpose(2, 1, 0),
         "time-major (T, N, H)": lambda: rng.standard_normal((T, N, H)).transpose(1, 0, 2),
         "2-D, transposed": lambda: rng.standard_normal((H, N)).T,
         "reversed batch": lambda: rng.standard_normal((N, T, H))[::-1],
         "one step": lambda: rng.standard_normal((H, 1, N)).transpose(2, 1, 0)}[view]()  # fmt: skip
    layer = sn.layers.Dense(H, C, rng=0).astype(np.float64)
    dout = rng.standard_normal((*x.shape[:-1], C))
    results = []
    for inp in (x, np.ascontiguousarray(x)):
        y = layer.forward(inp)
        dx = layer.backward(dout)
        results.append((y, dx, layer.grads["W"].copy(), layer.grads["b"].copy()))
    for ours, copy in zip(*results, strict=True):
        np.testing.assert_allclose(ours, copy, rtol=1e-13, atol=1e-13)
    dx = results[0][1]
    assert _memory_order(dx) == _memory_order(x), (dx.strides, x.strides)


def _memory_order(a: np.ndarray) -> list[int]:
    """``a``'s axes from the outermost in memory to the innermost (axes of size one last)."""
    return sorted(range(a.ndim), key=lambda k: (a.shape[k] == 1, -abs(a.strides[k])))
