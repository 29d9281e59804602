"""Named, fully dimensioned architectures. ``build(name, ...)`` returns a fresh ``Sequential``.

Every builder takes ``in_shape`` (C, H, W), ``num_classes``, ``dropout`` and ``rng`` (seed or
generator, for reproducible initialisation). ``scratchnet summary --model NAME`` prints the
full layer table (output shapes, parameters, multiply-adds).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .layers import BatchNorm2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU
from .model import Sequential

Builder = Callable[..., Sequential]
MODELS: dict[str, tuple[Builder, str]] = {}


def register(name: str, description: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        MODELS[name] = (fn, description)
        return fn

    return deco


def _dropout(p: float, rng: np.random.Generator) -> list[Layer]:
    return [Dropout(p, rng=rng.integers(2**63))] if p > 0 else []


def conv_bn_relu(c_in: int, c_out: int, rng: np.random.Generator) -> list[Layer]:
    """3x3 convolution (padding 1, no bias: batch norm supplies the shift), batch norm, ReLU."""
    return [Conv2D(c_in, c_out, 3, padding=1, bias=False, rng=rng), BatchNorm2D(c_out), ReLU()]


@register("reference-cnn", "the benchmark network of shared/reference-cnn.md (421,642 parameters)")
def reference_cnn(
    in_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    dropout: float = 0.0,
    rng: np.random.Generator | int | None = None,
) -> Sequential:
    """conv3x3(32)-relu-pool2 / conv3x3(64)-relu-pool2 / dense(128)-relu / dense(classes).

    With ``dropout > 0`` a ``Dropout`` is inserted after the flatten and after dense(128).
    """
    rng = np.random.default_rng(rng)
    C, H, W = in_shape
    return Sequential(
        Conv2D(C, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), *_dropout(dropout, rng), Dense(64 * (H // 4) * (W // 4), 128, rng=rng), ReLU(),
        *_dropout(dropout, rng), Dense(128, num_classes, rng=rng),
    )  # fmt: skip


def _vgg(widths: tuple[int, ...], convs_per_block: int, hidden: int, in_shape, num_classes,
         dropout: float, rng) -> Sequential:  # fmt: skip
    """Blocks of ``convs_per_block`` conv-bn-relu then a 2x2 max-pool, one block per width,
    then dropout, dense(hidden)-relu, dropout, dense(classes)."""
    rng = np.random.default_rng(rng)
    C, H, W = in_shape
    layers: list[Layer] = []
    for width in widths:
        for _ in range(convs_per_block):
            layers += conv_bn_relu(C, width, rng)
            C = width
        layers.append(MaxPool2D(2))
        H, W = H // 2, W // 2
    layers += [Flatten(), *_dropout(dropout, rng), Dense(C * H * W, hidden, rng=rng), ReLU(),
               *_dropout(dropout, rng), Dense(hidden, num_classes, rng=rng)]  # fmt: skip
    return Sequential(*layers)


@register("fmnist-cnn", "2 blocks of 2 conv-bn-relu (32, 64) + dense 256, dropout (Fashion-MNIST default)")
def fmnist_cnn(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.3, rng=None) -> Sequential:
    return _vgg((32, 64), 2, 256, in_shape, num_classes, dropout, rng)


@register("mnist-cnn", "2 blocks of 2 conv-bn-relu (32, 64) + dense 128, dropout (MNIST default)")
def mnist_cnn(in_shape=(1, 28, 28), num_classes=10, dropout: float = 0.25, rng=None) -> Sequential:
    return _vgg((32, 64), 2, 128, in_shape, num_classes, dropout, rng)


@register("cifar-cnn", "3 blocks of 2 conv-bn-relu (32, 64, 128) + dense 256 (CIFAR-10 default)")
def cifar_cnn(in_shape=(3, 32, 32), num_classes=10, dropout: float = 0.3, rng=None) -> Sequential:
    return _vgg((32, 64, 128), 2, 256, in_shape, num_classes, dropout, rng)


def build(name: str, **kwargs: object) -> Sequential:
    """Build the architecture registered as ``name`` (see :data:`MODELS`)."""
    try:
        fn, _ = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None
    if "in_shape" in kwargs:
        kwargs["in_shape"] = tuple(kwargs["in_shape"])  # type: ignore[arg-type]
    return fn(**kwargs)
