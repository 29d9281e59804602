"""Parity with PyTorch beyond single ops: optimizer updates step by step, and SGD steps of the
whole reference CNN. (Per-op parity lives in the op table: ``tests/op_table.py``.)"""

from __future__ import annotations

import numpy as np
import pytest
from op_table import TOL, log_parity, rel_err

import scratchnet as sn
from scratchnet import zoo
from scratchnet.layers import Dense
from scratchnet.losses import SoftmaxCrossEntropy

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)
DTYPES = [np.float64, np.float32]


def _err(ours: np.ndarray, theirs) -> float:
    return rel_err(ours, theirs.detach().numpy())


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
    "rmsprop": (lambda p: sn.optim.RMSprop(p), lambda p: torch.optim.RMSprop(p)),
    "rmsprop-momentum-wd": (
        lambda p: sn.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.9, weight_decay=0.05),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.9, weight_decay=0.05),
    ),
    "adagrad": (lambda p: sn.optim.Adagrad(p), lambda p: torch.optim.Adagrad(p)),
    "adagrad-wd": (
        lambda p: sn.optim.Adagrad(p, lr=0.1, eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-6, weight_decay=0.1),
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
        errs = {k: _err(v, tparams[k]) for k, v in layer.params.items()}
        assert all(v.dtype == dtype for v in layer.params.values())
        assert max(errs.values()) < TOL[np.dtype(dtype)] * 10, errs
    log_parity(f"optimizer {name}", dtype, errs)


def test_reference_cnn_training_step_matches_torch():
    """One SGD step of the reference CNN (float64): the loss and every updated weight agree."""
    rng = np.random.default_rng(0)
    model = zoo.build("reference-cnn", rng=rng, fuse=False).astype(np.float64)  # the literal layer list
    layers = model.layers
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
        assert _err(W.T if isinstance(layers[i], Dense) else W, tm[j].weight) < 1e-10
        assert _err(layers[i].params["b"], tm[j].bias) < 1e-10
