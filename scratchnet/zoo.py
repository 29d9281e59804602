"""Named, fully dimensioned architectures. ``build(name, ...)`` returns a fresh ``Sequential``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from .model import Sequential

Builder = Callable[..., Sequential]
MODELS: dict[str, tuple[Builder, str]] = {}


def register(name: str, description: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        MODELS[name] = (fn, description)
        return fn

    return deco


@register("reference-cnn", "the benchmark network of shared/reference-cnn.md (421,642 params)")
def reference_cnn(
    in_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    rng: np.random.Generator | int | None = None,
    **_: object,
) -> Sequential:
    """conv3x3(32)-relu-pool2 / conv3x3(64)-relu-pool2 / dense(128)-relu / dense(classes)."""
    rng = np.random.default_rng(rng)
    C, H, W = in_shape
    return Sequential(
        Conv2D(C, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), Dense(64 * (H // 4) * (W // 4), 128, rng=rng), ReLU(),
        Dense(128, num_classes, rng=rng),
    )  # fmt: skip


def build(name: str, **kwargs: object) -> Sequential:
    """Build the architecture registered as ``name`` (see :data:`MODELS`)."""
    try:
        fn, _ = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}"
        ) from None
    return fn(**kwargs)
