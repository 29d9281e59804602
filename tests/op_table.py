"""The op table: one entry per op or layer, read by every generic check in ``tests/test_ops.py``.

In the spirit of PyTorch's OpInfo and tinygrad's ``helper_test_op``. An entry names the op, gives a
generator of random samples (shapes, kernels, strides, paddings, memory layouts), its PyTorch
reference, tolerances, its slow loop twin if it has one, and the inputs it must refuse. The checks:

* ``parity``: forward, input gradient and every parameter gradient against PyTorch, in float64
  and float32 (``cases`` random samples per dtype);
* ``gradcheck``: float64 central differences of the input and every parameter gradient
  (``fd_cases`` samples; inputs drawn without ties or kinks within a difference step);
* ``layout``: NCHW and channels-last inputs and upstream gradients give the same results
  (4-D ops only);
* ``reference``: the fast op against its loop twin in :mod:`scratchnet.ops.naive`;
* ``errors``: each bad input raises a ``ValueError`` naming the layer and the expected shape,
  and ``backward`` before ``forward`` is a clear ``RuntimeError``.

A new op is one entry in ``TABLE`` (what it *is* is its op record, ``scratchnet/ops/record.py``); so
is a composed model (``tests/composed_samples.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from composed_samples import (
    ScaledMLP,
    branches_sample,
    gated_heads_sample,
    nested_sample,
    scaled_mlp_sample,
    shared_chain_sample,
    siamese_sample,
    unrolled_sample,
)
from graph_samples import (
    add_block_sample,
    concat_block_sample,
    projection_residual_sample,
    shared_layer_sample,
    two_inputs_sample,
    two_outputs_sample,
)
from op_samples import (  # noqa: F401  (Sample and the helpers are re-exported for the tests)
    F,
    Sample,
    activation_sample,
    away_from_zero,
    batchnorm1d_sample,
    batchnorm_sample,
    channels_last,
    conv1d_reference,
    conv1d_sample,
    conv_reference,
    conv_sample,
    convpool_reference,
    cross_entropy_sample,
    dense_sample,
    dense_sequence_sample,
    distinct_values,
    dropout_sample,
    elementwise_loss_sample,
    embedding_sample,
    global_avgpool_sample,
    groupnorm_sample,
    hinge_sample,
    layernorm_sample,
    pool_reference,
    pool_sample,
    pool_ties_sample,
    recurrent_sample,
    rel_err,
    residual_sample,
    sequence_cross_entropy_sample,
    shape_sample,
    winograd_sample,
)

from scratchnet.layers import (
    ELU,
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    ConvPool2D,
    Dense,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    GroupNorm,
    Identity,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Residual,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, MulticlassHinge, SoftmaxCrossEntropy

TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 2e-5}  # float32: round-off of long sums


@dataclass(frozen=True)
class BadInput:
    """``make().forward(*args)`` must raise ``ValueError`` matching ``match``."""

    make: Callable[[], Any]
    args: Callable[[], tuple]
    match: str


@dataclass(frozen=True)
class OpInfo:
    name: str
    sample: Callable[[np.random.Generator, str], Sample]  # (rng, check name) -> Sample
    kind: str = "layer"  # "layer" or "loss"
    cases: int = 30  # parity samples per dtype
    fd_cases: int = 25  # finite-difference samples
    layout: bool = False
    reference: Callable[[Sample, np.ndarray], tuple] | None = None  # (sample, dout) -> y, dx, grads
    bad_inputs: tuple[BadInput, ...] = ()
    checks: frozenset[str] = field(default=frozenset({"parity", "gradcheck"}))


# --- the table ---------------------------------------------------------------------------------
def _zeros(*shape: int) -> Callable[[], tuple]:
    return lambda: (np.zeros(shape, np.float32),)


def pool_entry(Pool: type, mode: str) -> OpInfo:
    """Max and average pooling share their samples, loop twin and bad inputs."""
    name = Pool.__name__
    return OpInfo(name, lambda rng, check: pool_sample(rng, check, mode), layout=True,
                  reference=pool_reference(mode), checks=ALL, bad_inputs=(
        BadInput(lambda: Pool(2), _zeros(2, 4, 4), rf"{name}.*\(N, C, H, W\)"),
        BadInput(lambda: Pool(3), _zeros(1, 1, 2, 5), r"kernel 3x3 is larger than the input 2x5"),
    ))  # fmt: skip


ALL = frozenset({"parity", "gradcheck", "layout", "reference", "errors"})
LAYER_CHECKS = frozenset({"parity", "gradcheck", "errors"})

TABLE: list[OpInfo] = [
    OpInfo(
        "Conv2D",
        conv_sample,
        layout=True,
        reference=conv_reference,
        checks=ALL,
        bad_inputs=(
            BadInput(
                lambda: Conv2D(3, 8, 3),
                _zeros(3, 28, 28),
                r"Conv2D\(3, 8.*expected input of shape "
                r"\(N, 3, H, W\), got \(3, 28, 28\)",
            ),
            BadInput(
                lambda: Conv2D(3, 8, 3), _zeros(4, 1, 28, 28), r"Conv2D\(3, 8.*\(N, 3, H, W\).*\(4, 1, 28, 28\)"
            ),
            BadInput(
                lambda: Conv2D(1, 1, 5, padding=1),
                _zeros(1, 1, 2, 2),
                r"kernel 5x5 is larger than the padded input 4x4",
            ),
        ),
    ),
    OpInfo(
        "ConvPool2D",
        lambda rng, check: conv_sample(rng, check, fused=True),
        layout=True,
        reference=convpool_reference,
        checks=ALL,
        bad_inputs=(
            BadInput(
                lambda: ConvPool2D.from_conv(Conv2D(2, 3, 3)),
                _zeros(1, 3, 9, 9),
                r"ConvPool2D\(2, 3.*\(N, 2, H, W\)",
            ),
            BadInput(
                lambda: ConvPool2D.from_conv(Conv2D(1, 2, 3)), _zeros(1, 1, 3, 5), r"output 1x3 is too small"
            ),
        ),
    ),
    OpInfo("ConvPool2D-winograd", lambda rng, check: winograd_sample(rng, check, fused=True), layout=True,
           reference=convpool_reference, checks=ALL, fd_cases=8),
    OpInfo("Conv2D-winograd", lambda rng, check: winograd_sample(rng, check, fused=False), layout=True,
           reference=conv_reference, checks=ALL, fd_cases=8),
    pool_entry(MaxPool2D, "max"),
    OpInfo("MaxPool2D-ties", pool_ties_sample, cases=3, checks=frozenset({"parity"})),
    pool_entry(AvgPool2D, "avg"),
    OpInfo("ReLU", activation_sample(ReLU, lambda: F().relu), layout=True, checks=LAYER_CHECKS | {"layout"}),
    OpInfo(
        "LeakyReLU(0.01)",
        activation_sample(lambda: LeakyReLU(0.01), lambda: lambda t: F().leaky_relu(t, 0.01)),
        layout=True,
        checks=LAYER_CHECKS | {"layout"},
    ),
    OpInfo(
        "LeakyReLU(0.2)",
        activation_sample(lambda: LeakyReLU(0.2), lambda: lambda t: F().leaky_relu(t, 0.2)),
        checks=LAYER_CHECKS,
    ),
    OpInfo(
        "Softmax",
        activation_sample(Softmax, lambda: lambda t: F().softmax(t, -1)),
        layout=True,
        checks=LAYER_CHECKS | {"layout"},
    ),
    OpInfo(
        "Sigmoid",
        activation_sample(Sigmoid, lambda: F().sigmoid),
        layout=True,
        checks=LAYER_CHECKS | {"layout"},
    ),
    OpInfo("Tanh", activation_sample(Tanh, lambda: F().tanh), layout=True, checks=LAYER_CHECKS | {"layout"}),
    OpInfo(
        "Flatten",
        shape_sample(Flatten),
        layout=True,
        checks=frozenset({"gradcheck", "layout", "errors"}),
        bad_inputs=(BadInput(Flatten, _zeros(5), r"Flatten\(\): expected input of shape \(N, d1, \.\.\.\)"),),
    ),
    OpInfo("Identity", shape_sample(Identity), checks=frozenset({"gradcheck", "errors"})),
    OpInfo(
        "Dense",
        dense_sample,
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(
                lambda: Dense(10, 3),
                _zeros(4, 11),
                r"Dense\(10, 3\): expected input of shape \(N, 10\), got \(4, 11\)",
            ),
            BadInput(lambda: Dense(10, 3), _zeros(4, 2, 5), r"\(N, 10\).*\(4, 2, 5\)"),
        ),
    ),
    OpInfo("Dropout", dropout_sample, checks=frozenset({"parity", "gradcheck", "errors"})),
    OpInfo(
        "BatchNorm2D-train",
        batchnorm_sample(True),
        layout=True,
        checks=ALL - {"reference"},
        bad_inputs=(
            BadInput(lambda: BatchNorm2D(4), _zeros(2, 3, 5, 5), r"BatchNorm2D\(4\).*\(N, 4, H, W\)"),
            BadInput(lambda: BatchNorm2D(4), _zeros(1, 4, 1, 1), "more than one value per channel"),
        ),
    ),
    OpInfo("BatchNorm2D-eval", batchnorm_sample(False), layout=True, checks=ALL - {"reference", "errors"}),
    OpInfo(
        "SoftmaxCrossEntropy",
        cross_entropy_sample,
        kind="loss",
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(
                SoftmaxCrossEntropy, lambda: (np.zeros((2, 3)), np.array([0, 3])), r"labels must be in \[0, 3\)"
            ),
            BadInput(
                SoftmaxCrossEntropy,
                lambda: (np.zeros((2, 3)), np.array([0.0, 1.0])),
                r"integer labels of shape \(2,\)",
            ),
            BadInput(SoftmaxCrossEntropy, lambda: (np.zeros(3), np.array([0])), r"scores of shape \(N, C\)"),
        ),
    ),
    OpInfo(
        "BinaryCrossEntropy",
        elementwise_loss_sample("bce"),
        kind="loss",
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(BinaryCrossEntropy, lambda: (np.zeros((2, 1)), np.zeros(2)), r"BinaryCrossEntropy.*shape"),
            BadInput(
                BinaryCrossEntropy, lambda: (np.zeros(2), np.array([0.0, 2.0])), r"targets must lie in \[0, 1\]"
            ),
        ),
    ),
    OpInfo(
        "MSE",
        elementwise_loss_sample("mse"),
        kind="loss",
        checks=LAYER_CHECKS,
        bad_inputs=(BadInput(MSE, lambda: (np.zeros((2, 3)), np.zeros((3, 2))), r"MSE.*shape"),),
    ),
    OpInfo(
        "RNN",
        recurrent_sample(RNN),
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(
                lambda: RNN(4, 3),
                _zeros(2, 4),
                r"RNN\(4, 3\): expected input of shape \(N, T, 4\), got \(2, 4\)",
            ),
        ),
    ),
    OpInfo(
        "LSTM",
        recurrent_sample(LSTM),
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(
                lambda: LSTM(4, 3),
                _zeros(2, 5, 3),
                r"LSTM\(4, 3\): expected input of shape \(N, T, 4\), got \(2, 5, 3\)",
            ),
            BadInput(
                lambda: LSTM(4, 3, return_sequences=True),
                _zeros(2, 4),
                r"LSTM\(4, 3, return_sequences=True\).*\(N, T, 4\)",
            ),
        ),
    ),
    OpInfo(
        "Embedding",
        embedding_sample,
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(
                lambda: Embedding(5, 2),
                lambda: (np.array([[0, 5]]),),
                r"Embedding\(5, 2\): ids must be in \[0, 5\)",
            ),
            BadInput(lambda: Embedding(5, 2), _zeros(2, 3), r"Embedding\(5, 2\): expected integer ids"),
        ),
    ),
    OpInfo(
        "Dense-sequence",
        dense_sequence_sample,
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(lambda: Dense(4, 2), _zeros(2, 3, 5), r"Dense\(4, 2\).*\(N, \.\.\., 4\), got \(2, 3, 5\)"),
        ),
    ),
    OpInfo(
        "SoftmaxCrossEntropy-sequence",
        sequence_cross_entropy_sample,
        kind="loss",
        checks=LAYER_CHECKS,
        bad_inputs=(
            BadInput(
                SoftmaxCrossEntropy,
                lambda: (np.zeros((2, 3, 4)), np.zeros(2, int)),
                r"integer labels of shape \(2, 3\)",
            ),
        ),
    ),
]

LAYOUT_CHECKS = LAYER_CHECKS | {"layout"}


def _gelu_tanh() -> Callable:
    return lambda t: F().gelu(t, approximate="tanh")


TABLE += [  # the peer courses' and libraries' ops (issue 16)
    OpInfo("GELU", activation_sample(GELU, lambda: F().gelu), layout=True, checks=LAYOUT_CHECKS),
    OpInfo("GELU-tanh", activation_sample(lambda: GELU("tanh"), _gelu_tanh), layout=True,
           checks=LAYOUT_CHECKS),
    OpInfo("ELU(1.0)", activation_sample(ELU, lambda: F().elu), layout=True, checks=LAYOUT_CHECKS),
    OpInfo("ELU(0.5)", activation_sample(lambda: ELU(0.5), lambda: lambda t: F().elu(t, 0.5)),
           checks=LAYER_CHECKS),
    OpInfo("SiLU", activation_sample(SiLU, lambda: F().silu), layout=True, checks=LAYOUT_CHECKS),
    OpInfo("Softplus", activation_sample(Softplus, lambda: F().softplus), layout=True, checks=LAYOUT_CHECKS),
    OpInfo("Softplus(2.0)", activation_sample(lambda: Softplus(2.0), lambda: lambda t: F().softplus(t, 2.0)),
           checks=LAYER_CHECKS),
    OpInfo("GlobalAvgPool2D", global_avgpool_sample, layout=True, checks=LAYOUT_CHECKS, bad_inputs=(
        BadInput(GlobalAvgPool2D, _zeros(2, 3, 4),
                 r"GlobalAvgPool2D\(\): expected input of shape \(N, C, H, W\), got \(2, 3, 4\)"),
    )),
    OpInfo("BatchNorm1D-train", batchnorm1d_sample(True), checks=LAYER_CHECKS, bad_inputs=(
        BadInput(lambda: BatchNorm1D(4), _zeros(2, 3), r"BatchNorm1D\(4\).*\(N, 4\) or \(N, 4, L\), got"),
        BadInput(lambda: BatchNorm1D(4), _zeros(1, 4), "more than one value per channel"),
    )),
    OpInfo("BatchNorm1D-eval", batchnorm1d_sample(False), checks=frozenset({"parity", "gradcheck"})),
    OpInfo("LayerNorm", layernorm_sample, layout=True, checks=LAYOUT_CHECKS, bad_inputs=(
        BadInput(lambda: LayerNorm((3, 4)), _zeros(2, 4, 3), r"LayerNorm\(\(3, 4\)\).*\(N, \.\.\., 3, 4\)"),
    )),
    OpInfo("GroupNorm", groupnorm_sample, layout=True, checks=LAYOUT_CHECKS, bad_inputs=(
        BadInput(lambda: GroupNorm(2, 4), _zeros(2, 3, 5, 5), r"GroupNorm\(2, 4\).*\(N, 4, H, W\)"),
    )),
    OpInfo("Conv1D", conv1d_sample, reference=conv1d_reference, checks=LAYER_CHECKS | {"reference"},
           bad_inputs=(
        BadInput(lambda: Conv1D(3, 4, 3), _zeros(2, 2, 9), r"Conv1D\(3, 4, kernel_size=3\).*\(N, 3, L\)"),
        BadInput(lambda: Conv1D(1, 1, 3, dilation=3), _zeros(1, 1, 5), r"kernel spanning 7 is longer than"),
    )),
    OpInfo("GRU", recurrent_sample(GRU), checks=LAYER_CHECKS, bad_inputs=(
        BadInput(lambda: GRU(4, 3), _zeros(2, 5, 3), r"GRU\(4, 3\): expected input of shape \(N, T, 4\)"),
    )),
    OpInfo("Residual", residual_sample, layout=True, checks=LAYOUT_CHECKS, bad_inputs=(
        BadInput(lambda: Residual(Dense(4, 3)), _zeros(2, 4), r"Residual: the block maps \(2, 4\) to \(2, 3\)"),
    )),
    OpInfo("MulticlassHinge", hinge_sample, kind="loss", checks=LAYER_CHECKS, bad_inputs=(
        BadInput(MulticlassHinge, lambda: (np.zeros((2, 3)), np.array([0, 3])), r"labels must be in \[0, 3\)"),
        BadInput(MulticlassHinge, lambda: (np.zeros(3), np.array([0])), r"MulticlassHinge: expected scores"),
    )),
]  # fmt: skip

TABLE += [  # composed models: blocks of one's own, layers used several times (issue 24)
    OpInfo("Shared-Dense-x3", shared_chain_sample, checks=LAYER_CHECKS),
    OpInfo("Block-attributes", scaled_mlp_sample, checks=LAYER_CHECKS, bad_inputs=(
        BadInput(lambda: ScaledMLP(3, 2, np.random.default_rng(0)), _zeros(2, 4),
                 r"Dense\(3, 2\): expected input of shape \(N, 3\), got \(2, 4\)"),
    )),
    OpInfo("Block-list", branches_sample, checks=LAYER_CHECKS),
    OpInfo("Block-dict", gated_heads_sample, checks=LAYER_CHECKS),
    OpInfo("Block-nested", nested_sample, checks=LAYER_CHECKS),
    OpInfo("Siamese", siamese_sample, checks=LAYER_CHECKS),
    OpInfo("Unrolled-recurrence", unrolled_sample, checks=LAYER_CHECKS),
]  # fmt: skip

TABLE += [  # graph models: branches, merges, several inputs and outputs (issue 27)
    OpInfo("Graph-Add-block", add_block_sample, cases=10, fd_cases=8, checks=LAYER_CHECKS),
    OpInfo("Graph-Concat-block", concat_block_sample, cases=10, fd_cases=8, checks=LAYER_CHECKS),
    OpInfo("Residual-projection", projection_residual_sample, cases=10, fd_cases=6, checks=LAYER_CHECKS),
    OpInfo("Graph-two-inputs", two_inputs_sample, cases=10, fd_cases=8, checks=LAYER_CHECKS),
    OpInfo("Graph-two-outputs", two_outputs_sample, cases=10, fd_cases=8, checks=LAYER_CHECKS),
    OpInfo("Graph-shared-layer", shared_layer_sample, cases=10, fd_cases=8, checks=LAYER_CHECKS),
]

# op -> dtype -> [cases, max relative error]; written out by conftest.py when
# SCRATCHNET_PARITY_REPORT names a file (the numbers quoted in the README come from there)
PARITY_LOG: dict[str, dict[str, list]] = {}


def log_parity(op: str, dtype: np.dtype, errs: dict[str, float]) -> None:
    entry = PARITY_LOG.setdefault(op, {}).setdefault(np.dtype(dtype).name, [0, 0.0])
    entry[0] += 1
    entry[1] = max(entry[1], *errs.values())


def cases(check: str) -> list[tuple[OpInfo, int]]:
    """``(entry, seed)`` pairs of every table entry that takes part in ``check``."""
    out = []
    for op in TABLE:
        if check in op.checks:
            n = {"parity": op.cases, "gradcheck": op.fd_cases, "layout": 10, "reference": 20}.get(check, 1)
            out += [(op, seed) for seed in range(n)]
    return out


# docs/correctness.md's counts, each with the words around it: written by `python tests/op_table.py`
# from the table itself, so the page cannot state a number the table does not have
COUNTED = {
    r"\((\d[\d,]*) entries;": lambda: len(TABLE),
    r"(\d[\d,]*) cases per dtype": lambda: len(cases("parity")),
    r"\((\d[\d,]*) in all, the recurrent": lambda: len(cases("gradcheck")),
    r"cases per 4-D entry, (\d[\d,]*) in all": lambda: len(cases("layout")),
}


def counted(text: str) -> str:
    """``text`` with each count of ``COUNTED`` replaced by the table's own (each must occur)."""
    import re

    for pattern, count in COUNTED.items():
        found = re.search(pattern, text)
        if not found:
            raise ValueError(f"docs/correctness.md no longer says {pattern!r}")
        text = text[: found.start(1)] + f"{count():,}" + text[found.end(1) :]
    return text


if __name__ == "__main__":  # python tests/op_table.py: the counts of docs/correctness.md, from the table
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "correctness.md"
    page.write_text(counted(page.read_text()))
    print(f"{page}: {len(TABLE)} entries, {len(cases('parity')):,} parity cases per dtype")
