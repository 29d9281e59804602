"""Named, fully dimensioned architectures. ``build(name, ...)`` returns a fresh ``Sequential``.

``build`` returns the model passed through :func:`scratchnet.fuse` (convolution + 2x2 max-pool
pairs run as one fused layer) unless ``fuse=False``: the builders below write the networks in
their textbook form. Every builder takes ``in_shape`` (C, H, W), ``num_classes``, ``dropout``
and ``rng`` (seed or generator, for reproducible initialisation). ``scratchnet summary --model NAME`` prints the
full layer table (output shapes, parameters, multiply-adds).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .fusion import fuse as fuse_model
from .graph import Graph, Input
from .layers import (
    GELU,
    GRU,
    LSTM,
    Add,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    MaxPool2D,
    ReLU,
    Reshape,
)
from .layers.init import make_rng
from .layers.symbolic import Symbol
from .model import Sequential
from .registry import Registry
from .whitening import whiten_first_conv

Builder = Callable[..., Sequential]
MODELS: Registry[Builder] = Registry("model")
register = MODELS.register


def _dropout(p: float, rng: np.random.Generator) -> list[Layer]:
    return [Dropout(p, rng=rng.integers(2**63))] if p > 0 else []


@register("reference-cnn", "the benchmark network of docs/reference-cnn.md (421,642 parameters)")
def reference_cnn(
    in_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    dropout: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> Sequential:
    """conv3x3(32)-relu-pool2 / conv3x3(64)-relu-pool2 / dense(128)-relu / dense(classes).

    With ``dropout > 0`` a ``Dropout`` is inserted after the flatten and after dense(128).
    """
    rng = make_rng(rng)
    C, H, W = in_shape
    return Sequential(
        Conv2D(C, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), *_dropout(dropout, rng), Dense(64 * (H // 4) * (W // 4), 128, rng=rng), ReLU(),
        *_dropout(dropout, rng), Dense(128, num_classes, rng=rng),
    )  # fmt: skip


def conv_pool_bn_relu(c_in: int, c_out: int, rng: np.random.Generator, pool: bool = True) -> list[Layer]:
    """3x3 conv (padding 1, no bias: batch norm supplies the shift), 2x2 max-pool, batch norm,
    ReLU. Pooling right after the convolution lets :func:`scratchnet.fuse` fuse the two, and batch
    norm and ReLU then run on the 4x smaller pooled tensor."""
    return [Conv2D(c_in, c_out, 3, padding=1, bias=False, rng=rng), *([MaxPool2D(2)] if pool else []),
            BatchNorm2D(c_out), ReLU()]  # fmt: skip


def _cnn(widths: tuple[int, ...], pools: tuple[bool, ...], hidden: int, in_shape, num_classes: int,
         dropout: float, rng) -> Sequential:  # fmt: skip
    """``conv_pool_bn_relu`` blocks, then dropout, dense(hidden)-ReLU, dropout, dense(classes)."""
    rng = make_rng(rng)
    C, H, W = in_shape
    layers: list[Layer] = []
    for width, pool in zip(widths, pools, strict=True):
        layers += conv_pool_bn_relu(C, width, rng, pool)
        C = width
        if pool:
            H, W = H // 2, W // 2
    layers += [Flatten(), *_dropout(dropout, rng), Dense(C * H * W, hidden, rng=rng), ReLU(),
               *_dropout(dropout, rng), Dense(hidden, num_classes, rng=rng)]  # fmt: skip
    return Sequential(*layers)


@register("fmnist-cnn", "conv32-pool-bn / conv64-pool-bn / conv128-bn / dense256, dropout (Fashion-MNIST)")
def fmnist_cnn(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.3, rng=None) -> Sequential:
    return _cnn((32, 64, 128), (True, True, False), 256, in_shape, num_classes, dropout, rng)


@register("fmnist-fast", "conv32-pool-bn / conv64-pool-bn / conv128-pool-bn / dense256, dropout (fast)")
def fmnist_fast(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.1, rng=None) -> Sequential:
    """``fmnist-cnn`` with its third block pooled too: every convolution fuses with its pool,
    batch norm and ReLU run on 4x smaller maps and the dense layer reads 1,152 values instead of
    6,272 (25% less time per step), and lighter dropout for short runs (the candidate table in
    docs/results.md, "Time to accuracy")."""
    return _cnn((32, 64, 128), (True, True, True), 256, in_shape, num_classes, dropout, rng)


@register("mnist-cnn", "conv32-pool-bn / conv64-pool-bn / dense128, dropout (MNIST)")
def mnist_cnn(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.25, rng=None) -> Sequential:
    return _cnn((32, 64), (True, True), 128, in_shape, num_classes, dropout, rng)


@register("cifar-cnn", "conv64-pool-bn / conv128-pool-bn / conv256-pool-bn / dense256 (CIFAR-10)")
def cifar_cnn(in_shape=(3, 32, 32), num_classes=10, dropout: float = 0.3, rng=None) -> Sequential:
    return _cnn((64, 128, 256), (True, True, True), 256, in_shape, num_classes, dropout, rng)


def _rows(cell: type, in_shape, num_classes: int, dropout: float, rng, hidden: int) -> Sequential:
    """Sequential MNIST / Fashion-MNIST: each of the ``H`` image rows is one time step of a
    recurrent ``cell``, whose last hidden state is classified."""
    rng = make_rng(rng)
    C, H, W = in_shape
    return Sequential(Reshape((H, C * W)), cell(C * W, hidden, rng=rng), *_dropout(dropout, rng),
                      Dense(hidden, num_classes, rng=rng))  # fmt: skip


ACTIVATIONS: dict[str, Callable[[], Layer]] = {"relu": ReLU, "gelu": GELU, "gelu-tanh": lambda: GELU("tanh")}


def conv_group(c_in: int, c_out: int, rng: np.random.Generator, act: str) -> list[Layer]:
    """Two 3x3 convolutions with a 2x2 max-pool after the first, each followed by batch norm and
    the activation (the block of the CIFAR-10 speedruns, airbench/hlb-CIFAR10)."""
    make = ACTIVATIONS[act]
    return [Conv2D(c_in, c_out, 3, padding=1, bias=False, rng=rng), MaxPool2D(2), BatchNorm2D(c_out), make(),
            Conv2D(c_out, c_out, 3, padding=1, bias=False, rng=rng), BatchNorm2D(c_out), make()]  # fmt: skip


@register("cifar-fast", "2x2 patch-whitening conv, 3 groups of two 3x3 convs (pool, bn, GELU tanh form), "
                        "widths 32/128/128, global max-pool, dense (CIFAR-10 speedrun)")  # fmt: skip
def cifar_fast(in_shape=(3, 32, 32), num_classes=10, dropout: float = 0.0, rng=None,
               widths: tuple[int, ...] = (32, 128, 128), whiten: int = 24,
               act: str = "gelu-tanh") -> Sequential:  # fmt: skip
    """The airbench94 network (Jordan, 2024) at a width the two-core budget affords: a 2x2
    convolution whose filters :func:`scratchnet.whitening.patch_whitening` sets from the data
    (``whiten`` channels: the 12 whitened directions of 2x2x3 patches and their negatives), then
    :func:`conv_group` blocks, a max-pool over the last 3x3 map and a dense layer without bias.
    32x32 -> 31 -> 15 -> 7 -> 3 -> 1. ``act``: GELU in its tanh form by default (within 1e-3 of
    the exact one, and 3x cheaper: NumPy's ``tanh`` against SciPy's ``erf``); ``"gelu"`` (exact)
    and ``"relu"`` are the measured alternatives."""
    rng = make_rng(rng)
    C, H, _ = in_shape
    layers: list[Layer] = [Conv2D(C, whiten, 2, rng=rng), ACTIVATIONS[act]()]
    c, size = whiten, H - 1
    for width in widths:
        layers += conv_group(c, width, rng, act)
        c, size = width, size // 2
    layers += [MaxPool2D(size), Flatten(), *_dropout(dropout, rng), Dense(c, num_classes, bias=False, rng=rng)]
    return Sequential(*layers)


MODELS.add("cifar-fast-plain", cifar_fast, "cifar-fast with its first layer trained from He init, not whitened")


@register("lstm-rows", "an image read row by row: LSTM(128) over H steps of C*W values, dense(classes)")
def lstm_rows(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.0, rng=None, hidden: int = 128
              ) -> Sequential:  # fmt: skip
    return _rows(LSTM, in_shape, num_classes, dropout, rng, hidden)


@register("gru-rows", "an image read row by row: GRU(128) over H steps of C*W values, dense(classes)")
def gru_rows(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.0, rng=None, hidden: int = 128
             ) -> Sequential:  # fmt: skip
    """``lstm-rows`` with a GRU: three gates instead of four, one state (a quarter fewer weights)."""
    return _rows(GRU, in_shape, num_classes, dropout, rng, hidden)


@register("char-lstm", "character language model: embedding(64) / LSTM(512) over the sequence / dense(vocab)")
def char_lstm(in_shape=(128,), num_classes=65, dropout: float = 0.0, rng=None, embed: int = 64,
              hidden: int = 512) -> Sequential:  # fmt: skip
    """Next-character prediction: ids ``(N, T)`` to scores ``(N, T, vocab)`` at every position."""
    rng = make_rng(rng)
    lstm = LSTM(embed, hidden, return_sequences=True, rng=rng)
    return Sequential(Embedding(num_classes, embed, rng=rng), lstm, *_dropout(dropout, rng),
                      Dense(hidden, num_classes, rng=rng))  # fmt: skip


def _basic_block(h: Symbol, c_in: int, c_out: int, stride: int, rng: np.random.Generator) -> Symbol:
    """A ResNet basic block on graph value ``h``: conv3x3(stride)-BN-ReLU-conv3x3-BN, added to
    the shortcut (``h`` itself, or a 1x1 convolution of that stride with BN where the block
    changes the shape: a projection), then ReLU."""
    f = ReLU()(BatchNorm2D(c_out)(Conv2D(c_in, c_out, 3, stride=stride, padding=1, bias=False, rng=rng)(h)))
    f = BatchNorm2D(c_out)(Conv2D(c_out, c_out, 3, padding=1, bias=False, rng=rng)(f))
    if stride != 1 or c_in != c_out:
        h = BatchNorm2D(c_out)(Conv2D(c_in, c_out, 1, stride=stride, bias=False, rng=rng)(h))
    return ReLU()(Add()(f, h))


@register("resnet20", "ResNet-20 (He et al. 2015): conv16, 3 stages of 3 basic blocks (16/32/64), "
                      "projection shortcuts, global average pool, dense (CIFAR-10), a graph model")  # fmt: skip
def resnet20(in_shape=(3, 32, 32), num_classes=10, dropout: float = 0.0, rng=None,
             widths: tuple[int, ...] = (16, 32, 64), blocks: int = 3) -> Graph:  # fmt: skip
    """The CIFAR-10 ResNet of He et al. (2015, section 4.2) with :math:`6n + 2 = 20` layers
    (``blocks`` = n = 3 per stage), built as a :class:`~scratchnet.graph.Graph`: each stage's first
    block halves the maps (stride 2) and doubles the channels, its shortcut a 1x1 projection (the
    paper's option B); the paper reports 91.25% test accuracy (option A) with its 164-epoch recipe.
    ``widths``/``blocks`` make smaller twins for the tests."""
    rng = make_rng(rng)
    x = Input(tuple(in_shape), "image")
    h = ReLU()(BatchNorm2D(widths[0])(Conv2D(in_shape[0], widths[0], 3, padding=1, bias=False, rng=rng)(x)))
    c = widths[0]
    for stage, width in enumerate(widths):
        for b in range(blocks):
            h = _basic_block(h, c, width, 2 if stage > 0 and b == 0 else 1, rng)
            c = width
    h = Flatten()(GlobalAvgPool2D()(h))
    for layer in _dropout(dropout, rng):
        h = layer(h)
    return Graph(x, Dense(c, num_classes, rng=rng)(h))


#: zoo models initialised from the training data before training: name -> init(model, x), with
#: ``x`` a sample of normalised training inputs (``scratchnet.experiment.train_run`` calls it)
DATA_INIT: dict[str, Callable[[Sequential, np.ndarray], None]] = {"cifar-fast": whiten_first_conv}


def build(name: str, *, fuse: bool = True, **kwargs: object) -> Sequential:
    """Build the architecture registered as ``name`` (see :data:`MODELS`), fused unless
    ``fuse=False``."""
    fn = MODELS.get(name)
    for key in ("in_shape", "widths"):  # lists after a round trip through JSON
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])  # type: ignore[arg-type]
    model = fn(**kwargs)
    return fuse_model(model) if fuse else model
