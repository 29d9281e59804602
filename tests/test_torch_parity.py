"""Parity with PyTorch (CPU): forward outputs and all gradients, float64 and float32.

Each op runs on ``N_CASES`` random configurations (shapes, kernels, strides, paddings) per dtype.
Errors are norm-wise relative: ``max|ours - torch| / max|torch|``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import scratchnet as sn
from scratchnet.layers import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)

N_CASES = 30
TOL = {np.float64: 1e-10, np.float32: 2e-5}  # float32: a few round-offs of accumulated sums
DTYPES = [np.float64, np.float32]
CASES = [(dt, seed) for dt in DTYPES for seed in range(N_CASES)]
CASE_IDS = [f"{np.dtype(dt).name}-{seed}" for dt, seed in CASES]


# op -> dtype -> [cases, max relative error]; written out by conftest.py when
# SCRATCHNET_PARITY_REPORT names a file (the numbers quoted in the README come from there)
PARITY_LOG: dict[str, dict[str, list]] = {}


def log_parity(op: str, dtype, errs: dict[str, float]) -> None:
    entry = PARITY_LOG.setdefault(op, {}).setdefault(np.dtype(dtype).name, [0, 0.0])
    entry[0] += 1
    entry[1] = max(entry[1], *errs.values())


def rel_err(ours: np.ndarray, theirs: torch.Tensor) -> float:
    t = theirs.detach().numpy().astype(np.float64)
    o = np.asarray(ours, dtype=np.float64)
    assert o.shape == t.shape, f"shape {o.shape} != torch {t.shape}"
    scale = max(np.abs(t).max(initial=0.0), 1e-30)
    return float(np.abs(o - t).max(initial=0.0) / scale)


def check_parity(
    layer: Layer,
    torch_fn: Callable[..., torch.Tensor],
    x: np.ndarray,
    dtype,
    rng: np.random.Generator,
    grad_atol: float = 0.0,
) -> dict[str, float]:
    """Run ``layer`` and ``torch_fn(x, **params)`` on the same data; compare output and grads.

    The layer's parameters are cast to ``dtype``; torch gets copies of the very same arrays
    (in our layout, so ``torch_fn`` must apply any transpose itself). ``grad_atol`` (times
    ``max|dout|``) allows for round-off that is absolute, not relative, in the input gradient.
    """
    layer.astype(dtype)
    x = x.astype(dtype)
    y = layer.forward(x)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    pt = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    yt = torch_fn(xt, **pt)
    yt.backward(torch.tensor(dout))

    assert y.dtype == dtype and dx.dtype == dtype, "float dtype must be preserved"
    errs = {"forward": rel_err(y, yt), "input": rel_err(dx, xt.grad)}
    for k, v in pt.items():
        assert layer.grads[k].dtype == dtype
        errs[k] = rel_err(layer.grads[k], v.grad)
    tol = TOL[dtype]
    log_parity(type(layer).__name__, dtype, errs)
    if grad_atol:
        abs_err = np.abs(dx - xt.grad.numpy()).max(initial=0.0)
        if abs_err <= grad_atol * np.abs(dout).max():
            errs["input"] = 0.0
    assert max(errs.values()) < tol, errs
    return errs


@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_conv2d(dtype, seed):
    rng = np.random.default_rng(seed)
    kh, kw = rng.integers(1, 6, 2)
    sh, sw = rng.integers(1, 4, 2)
    ph, pw = rng.integers(0, 3, 2)
    # C < 8 uses the K-major im2col layout, C >= 8 the row-major one: cover both
    N, C, Co = rng.integers(1, 5), rng.integers(1, 13), rng.integers(1, 9)
    H = rng.integers(max(1, kh - 2 * ph), 13)
    W = rng.integers(max(1, kw - 2 * pw), 13)
    bias = bool(rng.integers(0, 2))
    layer = Conv2D(C, Co, (kh, kw), (sh, sw), (ph, pw), bias=bias, rng=rng)

    def ref(x, W, b=None):
        return F.conv2d(x, W, b, stride=(int(sh), int(sw)), padding=(int(ph), int(pw)))

    x = rng.standard_normal((N, C, H, W))
    if seed % 2:  # channels-last memory, as the output of another conv layer
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    check_parity(layer, ref, x, dtype, rng)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_pool2d(mode, dtype, seed):
    rng = np.random.default_rng(seed)
    kh, kw = (int(k) for k in rng.integers(1, 5, 2))
    stride = None if seed % 3 == 0 else tuple(int(s) for s in rng.integers(1, 5, 2))
    N, C = rng.integers(1, 4), rng.integers(1, 5)
    H, W = rng.integers(kh, 14), rng.integers(kw, 14)
    layer = (MaxPool2D if mode == "max" else AvgPool2D)((kh, kw), stride)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d

    def ref(x):
        return fn(x, (kh, kw), stride if stride is not None else (kh, kw))

    x = rng.standard_normal((N, C, H, W))
    if seed % 2:  # channels-last memory
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    check_parity(layer, ref, x, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_ties_follow_torch(dtype):
    """All-equal windows (e.g. zeros after ReLU): gradient goes to the first element, as torch."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (2, 3, 8, 7)).astype(dtype)  # many ties
    for kernel, stride in [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 1))]:
        check_parity(
            MaxPool2D(kernel, stride),
            lambda t, k=kernel, s=stride: F.max_pool2d(t, k, s or k),
            x,
            dtype,
            rng,
        )


ACTIVATIONS = [
    (ReLU(), F.relu),
    (LeakyReLU(0.01), lambda x: F.leaky_relu(x, 0.01)),
    (LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
    (Sigmoid(), torch.sigmoid),
    (Tanh(), torch.tanh),
]


@pytest.mark.parametrize(("layer", "fn"), ACTIVATIONS, ids=lambda v: repr(v) if isinstance(v, Layer) else "")
@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_activations(layer, fn, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 7, rng.integers(1, 5)))
    scale = [1.0, 10.0, 100.0][seed % 3]  # large inputs exercise sigmoid's overflow guard
    # sigmoid'/tanh' of saturated inputs are 1 - y and 1 - y**2 with y within an ulp of 1:
    # in float32 the two libraries' tanh/exp differ by an ulp, i.e. by ~1e-7 absolute.
    atol = 4 * np.finfo(np.float32).eps if dtype == np.float32 else 0.0
    check_parity(layer, fn, rng.standard_normal(shape) * scale, dtype, rng, grad_atol=atol)


@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_dense(dtype, seed):
    rng = np.random.default_rng(seed)
    N, D, K = rng.integers(1, 20), rng.integers(1, 70), rng.integers(1, 30)
    bias = bool(rng.integers(0, 2))

    def ref(x, W, b=None):
        return F.linear(x, W.T, b)

    check_parity(Dense(D, K, bias=bias, rng=rng), ref, rng.standard_normal((N, D)), dtype, rng)


@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_dropout_eval_is_identity(dtype, seed):
    rng = np.random.default_rng(seed)
    p = float(rng.uniform(0, 1))
    layer = Dropout(p, rng=seed).eval()
    shape = tuple(rng.integers(1, 7, rng.integers(2, 5)))
    check_parity(layer, lambda x: F.dropout(x, p, training=False), rng.standard_normal(shape), dtype, rng)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_batchnorm2d(training, dtype, seed):
    rng = np.random.default_rng(seed)
    N, C, H, W = rng.integers(2, 5), rng.integers(1, 6), rng.integers(1, 6), rng.integers(1, 6)
    bn = BatchNorm2D(C, momentum=float(rng.uniform(0.05, 0.5)))
    bn.params["gamma"] = rng.uniform(0.5, 2, C)
    bn.params["beta"] = rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    bn.buffers["running_mean"], bn.buffers["running_var"] = rm.copy(), rv.copy()
    bn.train(training)
    rm_t, rv_t = torch.tensor(rm.astype(dtype)), torch.tensor(rv.astype(dtype))

    def ref(x, gamma, beta):
        return F.batch_norm(x, rm_t, rv_t, gamma, beta, training=training, momentum=bn.momentum, eps=bn.eps)

    x = rng.standard_normal((N, C, H, W)) * 2 + 0.5
    check_parity(bn, ref, x, dtype, rng)
    assert rel_err(bn.buffers["running_mean"], rm_t) < TOL[dtype]
    assert rel_err(bn.buffers["running_var"], rv_t) < TOL[dtype]


def _loss_parity(loss, torch_loss, scores, targets, targets_t, dtype):
    scores = scores.astype(dtype)
    value = loss.forward(scores, targets)
    grad = loss.backward()
    st = torch.tensor(scores, requires_grad=True)
    lt = torch_loss(st, targets_t)
    lt.backward()
    assert isinstance(value, float)
    assert grad.dtype == dtype
    errs = {
        "loss": abs(value - lt.item()) / max(abs(lt.item()), 1e-30),
        "grad": rel_err(grad, st.grad),
    }
    log_parity(type(loss).__name__, dtype, errs)
    assert max(errs.values()) < TOL[dtype], errs


@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_softmax_cross_entropy(dtype, seed):
    rng = np.random.default_rng(seed)
    N, C = rng.integers(1, 50), rng.integers(2, 15)
    scale = [1.0, 30.0, 1e4][seed % 3]  # 1e4: exp would overflow without the max shift
    smoothing = [0.0, 0.0, 0.1][seed % 3 if seed % 2 else 0]
    y = rng.integers(0, C, N)
    _loss_parity(
        SoftmaxCrossEntropy(smoothing),
        lambda s, t: F.cross_entropy(s, t, label_smoothing=smoothing),
        rng.standard_normal((N, C)) * scale,
        y,
        torch.tensor(y),
        dtype,
    )


@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_binary_cross_entropy(dtype, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 9, rng.integers(1, 3)))
    scale = [1.0, 30.0, 1e3][seed % 3]
    t = rng.integers(0, 2, shape).astype(dtype) if seed % 2 else rng.uniform(0, 1, shape).astype(dtype)
    _loss_parity(
        BinaryCrossEntropy(),
        F.binary_cross_entropy_with_logits,
        rng.standard_normal(shape) * scale,
        t,
        torch.tensor(t),
        dtype,
    )


@pytest.mark.parametrize(("dtype", "seed"), CASES, ids=CASE_IDS)
def test_mse(dtype, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 9, rng.integers(1, 4)))
    t = rng.standard_normal(shape).astype(dtype)
    _loss_parity(MSE(), F.mse_loss, rng.standard_normal(shape) * 3, t, torch.tensor(t), dtype)


OPTIMIZERS = {
    "sgd": (lambda p: sn.optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum-wd": (
        lambda p: sn.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
    ),
    "sgd-nesterov": (
        lambda p: sn.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=5e-3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=5e-3),
    ),
    "adam": (lambda p: sn.optim.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adam-l2": (
        lambda p: sn.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "adamw": (
        lambda p: sn.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize(("dtype", "seed"), [(dt, s) for dt in DTYPES for s in range(5)])
def test_optimizer_steps(name, dtype, seed):
    """Same parameters and gradients for 8 steps: parameters must match torch after each step."""
    ours_fn, torch_fn = OPTIMIZERS[name]
    rng = np.random.default_rng(seed)
    layer = Dense(int(rng.integers(1, 8)), int(rng.integers(1, 8)), rng=rng).astype(dtype)
    layer.params["b"] = rng.standard_normal(layer.params["b"].shape).astype(dtype)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in layer.params.items()}
    ours, theirs = ours_fn(layer.parameters()), torch_fn(list(tparams.values()))
    for _ in range(8):
        for k, v in layer.params.items():
            g = rng.standard_normal(v.shape).astype(dtype)
            layer.grads[k] = g
            tparams[k].grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
        errs = {k: rel_err(v, tparams[k]) for k, v in layer.params.items()}
        assert all(v.dtype == dtype for v in layer.params.values())
        assert max(errs.values()) < TOL[dtype] * 10, errs
    log_parity(f"optimizer {name}", dtype, errs)


def test_reference_cnn_training_step_matches_torch():
    """One SGD step of the reference CNN (float64): the loss and every updated weight agree."""
    rng = np.random.default_rng(0)
    layers = [
        Conv2D(1, 32, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        sn.layers.Flatten(),
        Dense(3136, 128, rng=rng),
        ReLU(),
        Dense(128, 10, rng=rng),
    ]
    model = sn.Sequential(*layers).astype(np.float64)
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(3136, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    ).double()
    pairs = [(0, 0), (3, 3), (7, 7), (9, 9)]
    with torch.no_grad():
        for i, j in pairs:
            W = layers[i].params["W"]
            tm[j].weight.copy_(torch.tensor(W.T if isinstance(layers[i], Dense) else W))
            tm[j].bias.copy_(torch.tensor(layers[i].params["b"]))
    x = rng.standard_normal((16, 1, 28, 28))
    y = rng.integers(0, 10, 16)
    loss_fn = SoftmaxCrossEntropy()
    opt = sn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    for _ in range(3):
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward(), need_dx=False)
        opt.step()
        tloss = F.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert abs(loss - tloss.item()) < 1e-10 * abs(tloss.item())
    for i, j in pairs:
        W = layers[i].params["W"]
        assert rel_err(W.T if isinstance(layers[i], Dense) else W, tm[j].weight) < 1e-10
        assert rel_err(layers[i].params["b"], tm[j].bias) < 1e-10
