"""Composition: blocks of one's own, layers used several times, and the checks at every layer's
door. The composed models' gradients (finite differences and PyTorch parity) are op-table entries
(``tests/composed_samples.py``); this file checks everything around them: the bookkeeping that
walks the tree, gradients over calls and steps, the door, NaN windows of max-pooling."""

from __future__ import annotations

import re

import numpy as np
import pytest
from composed_samples import Branches, GatedHeads, Nested, ScaledMLP, Siamese, Unrolled
from test_train import CFG, split, toy_data

import scratchnet as sn
from scratchnet.data import Normalizer
from scratchnet.data_parallel import DataParallel
from scratchnet.layers import (
    BatchNorm2D,
    Conv1D,
    Conv2D,
    ConvPool2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
    Residual,
    Tanh,
)
from scratchnet.train import TrainConfig, Trainer, TrainingInterrupted, load_checkpoint


class ConvBlock(Layer):
    """A user's image block: a chain as an attribute, a dropout and a head in a dict."""

    def __init__(self, rng: np.random.Generator, bn: bool = True) -> None:
        super().__init__()
        body = [Conv2D(1, 4, 3, padding="same", rng=rng), ReLU(), MaxPool2D(2)]
        self.body = sn.Sequential(*body, *([BatchNorm2D(4)] if bn else []))
        self.drop = Dropout(0.25, rng=int(rng.integers(2**16)))
        self.head = {"flat": Flatten(), "out": Dense(64, 2, rng=rng)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.head["out"](self.head["flat"](self.drop(self.body(x))))

    def backward(self, dout: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        g = self.drop.backward(self.head["flat"].backward(self.head["out"].backward(dout)))
        return self.body.backward(g, need_dx=need_dx)


def images(n: int = 6, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 8, 8)).astype(np.float32)


# --- a layer used several times ---------------------------------------------------------------------
def test_the_issues_tied_chain_passes_its_gradient_check():
    """``d = Dense(4, 4); Sequential(d, ReLU(), d)``: the second call used to overwrite the
    first's cache (relative error 1.1 on d.W); each call now keeps its own."""
    d = Dense(4, 4, rng=0)
    model = sn.Sequential(d, ReLU(), d).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((3, 4))
    report = sn.gradcheck(model, x)
    assert set(report.errors) == {"input", "0.W", "0.b"}  # one parameter set, not two
    assert report.max_error < 1e-8, str(report)


def test_shared_gradient_is_the_sum_of_the_uses():
    """Known answer, eq. (3) of docs/composition.md: for ``y = d(relu(d(x)))`` with one linear
    ``d`` (no bias), ``h = xW``, ``z = relu(h)``: ``dL/dW = z^T g + x^T ((g W^T) * [h > 0])``, the
    second use's term plus the first's."""
    d = Dense(3, 3, bias=False, rng=2).astype(np.float64)
    x, g = np.random.default_rng(3).standard_normal((2, 4, 3))
    model = sn.Sequential(d, ReLU(), d)
    model.forward(x)
    model.backward(g)
    W = d.params["W"]
    h = x @ W
    z = np.maximum(h, 0)
    np.testing.assert_allclose(d.grads["W"], z.T @ g + x.T @ ((g @ W.T) * (h > 0)), rtol=1e-13)
    assert len(model.parameters()) == 1


def test_gradcheck_keeps_tied_arrays_tied():
    """Two layers holding one array (tied by assignment): the check perturbs the one array and
    compares with the summed gradient, instead of untying them into two float64 copies."""
    a, b = Dense(3, 3, rng=0), Dense(3, 3, rng=1)
    b.params["W"] = a.params["W"]
    report = sn.gradcheck(sn.Sequential(a, Tanh(), b), np.random.default_rng(0).standard_normal((2, 3)))
    assert set(report.errors) == {"input", "0.W", "0.b", "2.b"} and report.max_error < 1e-8, str(report)
    assert a.params["W"] is b.params["W"] and a.params["W"].dtype == np.float32  # restored as it was


def test_gradients_are_each_steps_own():
    """Two steps on different data: the second step's gradients equal those of a fresh model
    that only saw the second batch (nothing accumulates across passes), and a layer that took no
    part in the last backward pass has no gradient."""
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((2, 5, 3))
    g = rng.standard_normal((5, 3))
    block = Branches(3, 3, 2, np.random.default_rng(5)).astype(np.float64)
    fresh = Branches(3, 3, 2, np.random.default_rng(5)).astype(np.float64)
    for x in (x1, x2):
        block.forward(x)
        block.backward(g)
    fresh.forward(x2)
    fresh.backward(g)
    for p, q in zip(block.parameters(), fresh.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)

    class Gated(Layer):  # its second layer runs only when asked
        def __init__(self):
            super().__init__()
            self.first, self.second, self.use_second = Dense(3, 3, rng=0), Dense(3, 3, rng=1), True

        def forward(self, x):
            return self.second(self.first(x)) if self.use_second else self.first(x)

        def backward(self, dout):
            return self.first.backward(self.second.backward(dout) if self.use_second else dout)

    gated = Gated()
    for use_second in (True, False):  # step 2 leaves the second layer out: it keeps no gradient
        gated.use_second = use_second
        gated.forward(x1.astype(np.float32))
        gated.backward(g.astype(np.float32))
    assert gated.second.grads == {} and set(gated.first.grads) == {"W", "b"}
    before = gated.second.params["W"].copy()
    sn.optim.SGD(gated.parameters(), lr=1.0).step()  # and the optimizer leaves it alone
    np.testing.assert_array_equal(gated.second.params["W"], before)


def test_a_siamese_pair_and_an_unrolled_cell_train_their_shared_weights():
    """The shared encoder's gradient is the sum of what each of its two calls contributes."""
    rng = np.random.default_rng(6)
    net = Siamese(3, 4, rng).astype(np.float64)
    x, g = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 4))
    net.forward(x)
    net.backward(g)
    total = {p.name: p.grad.copy() for p in net.parameters()}
    first, second = net.encoder(x[:, 0]), net.encoder(x[:, 1])  # the encodings, one pass each
    parts = []
    for xi, upstream in ((x[:, 0], g * second), (x[:, 1], g * first)):  # each use alone, by hand
        net.encoder.forward(xi)
        net.encoder.backward(upstream)
        parts.append({p.name: p.grad.copy() for p in net.parameters()})
    for name in total:
        np.testing.assert_allclose(total[name], parts[0][name] + parts[1][name], rtol=1e-12, err_msg=name)
    cell = Unrolled(2, 3, rng).astype(np.float64)
    cell.forward(rng.standard_normal((4, 5, 2)))
    assert len(cell.cell._calls) == 5  # one record per step, popped by the backward pass
    cell.backward(rng.standard_normal((4, 3)))
    assert not cell.cell._calls and cell.cell.grads["W"].shape == (5, 3)


def test_backward_calls_must_match_forward_calls():
    d = Dense(2, 2)
    with pytest.raises(RuntimeError, match=r"Dense\(2, 2\): backward\(\) called before forward\(\)"):
        d.backward(np.zeros((1, 2), np.float32))
    d.forward(np.zeros((1, 2), np.float32))
    d.backward(np.zeros((1, 2), np.float32))
    with pytest.raises(RuntimeError, match=r"called more times than forward\(\) in this pass \(1 forward "
                                           r"call\).*inside the forward of a block"):
        d.backward(np.zeros((1, 2), np.float32))
    model = sn.Sequential(Dense(2, 3), ReLU())
    model.forward(np.zeros((1, 2), np.float32))
    model[0].forward(np.zeros((1, 2), np.float32))  # an outermost call: a new pass for that layer
    model[0].backward(np.zeros((1, 3), np.float32))
    with pytest.raises(RuntimeError, match=r"Dense\(2, 3\): backward\(\) called more times"):
        model.backward(np.zeros((1, 3), np.float32))


def test_a_forgotten_super_init_is_named():
    class Broken(Layer):
        def __init__(self):
            self.fc = Dense(2, 2)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(RuntimeError, match=r"Broken: Layer.__init__ was not called; call super\(\).__init__"):
        Broken().forward(np.zeros((1, 2), np.float32))


# --- blocks of one's own: every bookkeeping path ----------------------------------------------------
def test_children_are_found_in_attributes_lists_and_dicts():
    rng = np.random.default_rng(0)
    assert [p.name for p in ScaledMLP(2, 3, rng).parameters()] == ["scale", "fc1.W", "fc1.b", "fc2.W", "fc2.b"]
    assert [p.name for p in Branches(2, 2, 2, rng).parameters()] == [
        "branches.0.W", "branches.0.b", "branches.1.W", "branches.1.b"]  # fmt: skip
    assert [p.name for p in GatedHeads(2, 2, rng).parameters()][:2] == ["heads.mean.W", "heads.mean.b"]
    nested = Nested(2, rng)
    assert [n for n, _ in nested.named_modules()] == ["", "inner", "inner.fc1", "inner.act", "inner.fc2",
                                                      "tail", "tail.0", "tail.1"]  # fmt: skip
    assert nested.num_parameters() == 2 + (2 * 3 + 3) + (3 * 2 + 2) + (2 * 2 + 2)
    block = Branches(2, 2, 1, rng)
    block.branches.append(Dense(2, 2))  # a list grown after assignment is seen
    assert len(block.parameters()) == 4


def test_a_users_block_saves_loads_casts_and_switches_mode(tmp_path):
    block = ConvBlock(np.random.default_rng(0))
    x = images()
    block.save(tmp_path / "b.npz")
    assert "body.3.running_mean" in block.state_dict() and "head.out.W" in block.state_dict()
    other = ConvBlock(np.random.default_rng(9)).load(tmp_path / "b.npz")
    np.testing.assert_array_equal(block.eval().forward(x), other.eval().forward(x))
    assert not any(m.training for m in block.modules())  # eval reached the dict's and chain's layers
    e1, e2 = block.forward(x), block.forward(x)
    np.testing.assert_array_equal(e1, e2)  # dropout off, batch norm on running statistics
    block.train()
    assert block.drop.training and block.body[3].training
    assert not np.array_equal(block.forward(x), block.forward(x))  # dropout draws again
    assert block.astype(np.float64).head["out"].params["W"].dtype == np.float64
    assert block.body[0].params["W"].dtype == np.float64 and block.dtype == np.float64
    assert block.forward(x).dtype == np.float64  # a float32 input cast to the block's dtype


def test_a_users_block_fuses_shards_and_summarises(tmp_path):
    block = ConvBlock(np.random.default_rng(0), bn=False)
    x, y = images(8), np.array([0, 1, 1, 0, 1, 0, 0, 1])
    fused = sn.fuse(block)
    assert isinstance(fused.body[0], ConvPool2D) and fused.head["out"] is block.head["out"]
    assert fused.body[0].params["W"] is block.body[0].params["W"]  # parameters shared
    np.testing.assert_allclose(fused.eval().forward(x), block.eval().forward(x), rtol=1e-5, atol=1e-6)

    results = []  # no batch statistics, no dropout: 2 shards compute what one pass does
    for shards in (1, 2):
        model = ConvBlock(np.random.default_rng(0), bn=False).astype(np.float64).eval()
        runner = model if shards == 1 else DataParallel(model, 2, threads=2)
        loss = sn.losses.SoftmaxCrossEntropy()
        loss.forward(runner.forward(x.astype(np.float64)), y)
        runner.backward(loss.backward())
        results.append({p.name: p.grad.copy() for p in model.parameters()})
    assert set(results[0]) == {"body.0.W", "body.0.b", "head.out.W", "head.out.b"}
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-10, atol=1e-13, err_msg=k)

    text = block.summary((1, 8, 8), print_fn=None)
    for line in ("ConvBlock: a block of its own", "Conv2D(1, 4, kernel_size=(3, 3), padding=(1, 1))",
                 "(4, 4, 4)", "Dense(64, 2)", "= ConvBlock's output", "total parameters: 170"):  # fmt: skip
        assert line in text, text
    assert block.output_shape((1, 8, 8)) == (2,) and block.macs((1, 8, 8)) == 4 * 9 * 64 + 64 * 2
    svg = block.plot((1, 8, 8), tmp_path / "block.svg").read_text()
    assert "ConvBlock: a block of its own" in svg and "Dense 64" not in svg and "170 trainable" in svg


def test_summary_counts_a_shared_layer_once_and_shows_each_call():
    d = Dense(4, 4)
    text = sn.Sequential(d, Tanh(), d).summary((4,), print_fn=None)
    assert "Dense(4, 4)  (again: shared)" in text and "total parameters: 20" in text
    siamese = Siamese(3, 5, np.random.default_rng(0))
    text = siamese.summary((2, 3), print_fn=None)
    assert text.count("Dense(3, 5)") == 2 and "total parameters: 50" in text  # (3*5+5) + (5*5+5)


def test_a_users_block_trains_and_resumes_from_its_checkpoint(tmp_path):
    """Trainer, checkpoint mid-run and resume: the same weights as a run never interrupted."""
    cfg = TrainConfig(**{**CFG, "shards": 2})
    x, _ = toy_data()

    def trainer(folder, seed=0):
        return Trainer(ConvBlock(np.random.default_rng(seed)), cfg, Normalizer.fit(x),
                       checkpoint_path=tmp_path / folder / "ckpt.npz", progress=False, log=None)  # fmt: skip

    straight = trainer("a")
    straight.fit(*split())
    first = trainer("b")
    real_step = first.train_step

    def step_then_stop(*args):
        out = real_step(*args)
        if first.iteration == 6:
            first.request_stop()
        return out

    first.train_step = step_then_stop
    with pytest.raises(TrainingInterrupted) as info:
        first.fit(*split())
    resumed = trainer("b", seed=99)
    resumed.load_state_dict(load_checkpoint(info.value.checkpoint)[0])
    resumed.fit(*split())
    assert straight.history.epochs[-1]["val_accuracy"] > 0.9
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value, err_msg=p.name)


# --- the door ---------------------------------------------------------------------------------------
LAYERS = {
    "Dense": (lambda: Dense(4, 3), (5, 4)),
    "Conv2D": (lambda: Conv2D(2, 3, 3), (2, 2, 5, 5)),
    "ReLU": (ReLU, (5, 4)),
    "Sequential": (lambda: sn.Sequential(Dense(4, 3), ReLU()), (5, 4)),
    "block": (lambda: ScaledMLP(4, 2, np.random.default_rng(0)).astype(np.float32), (5, 4)),
    "Residual": (lambda: Residual(Dense(4, 4)), (5, 4)),
}
NAMES = {"Dense": r"Dense\(4, 3\)", "Conv2D": r"Conv2D\(2, 3, kernel_size=\(3, 3\)\)", "ReLU": r"ReLU\(\)",
         "Sequential": "Sequential", "block": "ScaledMLP",
         "Residual": r"Residual\(Dense\(4, 4\)\)"}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("wrong", ["scalar", "one row", "transposed", "extra axis", "one short"])
def test_a_wrong_shaped_upstream_gradient_is_refused(kind, wrong):
    make, shape = LAYERS[kind]
    layer = make()
    y = layer.forward(np.ones(shape, np.float32))
    bad = {"scalar": np.float32(1.0) * np.ones(()), "one row": np.ones((1, *y.shape[1:])),
           "transposed": np.ones(y.shape[::-1]), "extra axis": np.ones((*y.shape, 1)),
           "one short": np.ones((y.shape[0] - 1, *y.shape[1:]))}[wrong]  # fmt: skip
    if bad.shape == y.shape:
        pytest.skip("a square output: the transpose has the same shape")
    pattern = rf"{NAMES[kind]}: the upstream gradient has shape .*, but this call's output has shape"
    with pytest.raises(ValueError, match=pattern):
        layer.backward(bad)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_, np.float16, np.float64, np.float32])
def test_real_inputs_are_cast_to_the_models_dtype(kind, dtype):
    make, shape = LAYERS[kind]
    layer = make()
    x = (np.arange(np.prod(shape)).reshape(shape) % 3).astype(dtype)
    y = layer.forward(x)
    no_params_float64 = kind == "ReLU" and dtype == np.float64  # no parameters: float32/64 pass as they are
    expected = np.float64 if no_params_float64 else np.float32
    assert y.dtype == expected
    dx = layer.backward(np.ones(y.shape, np.float16))  # an upstream gradient of another dtype too
    assert dx.dtype == expected
    np.testing.assert_allclose(y, make_like(layer, make).forward(x.astype(np.float32)), rtol=1e-6)


def make_like(layer: Layer, make) -> Layer:
    twin = make()
    twin.load_state_dict(layer.state_dict())
    return twin


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_what_is_not_real_numbers_is_a_type_error(kind):
    make, shape = LAYERS[kind]
    bad_inputs = ((np.ones(shape, np.complex64), "dtype complex64"), (np.ones(shape, object), "dtype object"),
                  (np.full(shape, "a"), "dtype <U1"))  # fmt: skip
    for bad, what in bad_inputs:
        with pytest.raises(TypeError, match=rf"{NAMES[kind]}: the input has {what}; expected real numbers"):
            make().forward(bad)
    with pytest.raises(TypeError, match=rf"{NAMES[kind]}: the input is a list; pass a NumPy array, e\.g\."):
        make().forward(np.ones(shape).tolist())
    layer = make()
    y = layer.forward(np.ones(shape, np.float32))
    with pytest.raises(TypeError, match=r"the upstream gradient has dtype complex128"):
        layer.backward(np.ones(y.shape, complex))


def test_a_torch_tensor_is_told_what_to_pass():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"Dense\(4, 3\): the input is a torch\.Tensor; pass a NumPy array: "
                                        r"tensor\.detach\(\)\.cpu\(\)\.numpy\(\)"):
        Dense(4, 3).forward(torch.ones(2, 4))


def test_a_float64_model_keeps_float64_and_ids_stay_ids():
    model = sn.Sequential(Dense(3, 2)).astype(np.float64)
    assert model.forward(np.ones((2, 3), np.float32)).dtype == np.float64
    lm = sn.Sequential(Embedding(5, 3), Dense(3, 2))
    assert lm.forward(np.array([[0, 4], [1, 2]])).shape == (2, 2, 2)  # ids reach the embedding
    with pytest.raises(ValueError, match=r"Embedding\(5, 3\): expected integer ids"):
        lm.forward(np.zeros((2, 2), np.float32))
    assert ReLU().forward(np.ones(2, np.float64)).dtype == np.float64  # no parameters: floats pass


# --- max-pool over NaN, and padding="same" ------------------------------------------------------------
NAN = np.nan


@pytest.mark.parametrize("make", [lambda: MaxPool2D(2), lambda: MaxPool2D(3, 1), lambda: MaxPool2D(2, 1)],
                         ids=["2x2", "3x3-stride-1", "2x2-stride-1"])
def test_a_nan_window_sends_its_gradient_to_its_last_nan(make):
    """PyTorch scans a window in row-major order and takes an element when ``val > max`` or
    ``val`` is NaN: the last NaN wins. Windows without NaN keep the first maximum."""
    x = np.array([[1, NAN, 3], [NAN, 9, 0], [2, NAN, 5]], np.float64)[None, None]
    layer = make().astype(np.float64)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    if layer.kernel_size == (2, 2) and layer.stride == (2, 2):  # one window: [[1, nan], [nan, 9]]
        expected = [[0, 0, 0], [1, 0, 0], [0, 0, 0]]  # the NaN at (1, 0) comes after the one at (0, 1)
    elif layer.kernel_size == (3, 3):  # one window: the whole image; its last NaN is at (2, 1)
        expected = [[0, 0, 0], [0, 0, 0], [0, 1, 0]]
    else:  # four overlapping 2x2 windows, every one with a NaN: (1,0), (1,0)... written out:
        # top-left [[1, n],[n, 9]] -> (1, 0); top-right [[n, 3],[9, 0]] -> (0, 1);
        # bottom-left [[n, 9],[2, n]] -> (2, 1); bottom-right [[9, 0],[n, 5]] -> (2, 1)
        expected = [[0, 1, 0], [1, 0, 0], [0, 2, 0]]
    assert np.isnan(y).all()
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_fused_conv_pool_routes_nan_windows_like_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for seed in range(20):
        conv = Conv2D(2, 3, 1, rng=seed).astype(np.float64)  # 1x1: a NaN pixel is a NaN output
        fused = ConvPool2D.from_conv(conv)
        x = rng.standard_normal((2, 2, 6, 6))
        x[rng.random(x.shape) < 0.15] = NAN
        g = rng.standard_normal((2, 3, 3, 3))
        fused.forward(x)
        dx = fused.backward(g)
        xt = torch.tensor(x, requires_grad=True)
        w, b = (torch.tensor(conv.params[k]) for k in ("W", "b"))
        torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(xt, w, b), 2).backward(torch.tensor(g))
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"seed {seed}")


def test_same_padding_keeps_the_size_for_odd_kernels():
    assert Conv2D(2, 3, 3, padding="same").forward(np.zeros((1, 2, 7, 9), np.float32)).shape == (1, 3, 7, 9)
    conv = Conv2D(1, 1, (3, 5), padding="same", dilation=2)
    assert conv.padding == (2, 4) and conv.output_shape((1, 6, 6)) == (1, 6, 6)
    assert Conv1D(1, 2, 5, padding="same").output_shape((1, 11)) == (2, 11)
    with pytest.raises(ValueError, match=r"Conv2D: padding='same' needs stride 1 and an odd kernel"):
        Conv2D(1, 1, 2, padding="same")
    with pytest.raises(ValueError, match=r"Conv1D: padding='same' needs stride 1"):
        Conv1D(1, 1, 3, stride=2, padding="same")


@pytest.mark.parametrize("doc", ["README.md", "docs/composition.md"])
def test_the_block_examples_of_the_readme_and_docs_run(doc, capsys):
    """The code blocks that show a block of one's own, run as printed."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / doc).read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "(Layer):" in b]
    assert blocks
    for code in blocks:
        exec(compile(code, doc, "exec"), {})
    out = capsys.readouterr().out
    errors = [float(v) for v in re.findall(r"\d\.\d{3}e[-+]\d\d", out)]
    assert errors and max(errors) < 1e-6, out  # the gradient check's table
