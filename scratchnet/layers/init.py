"""Where a layer's random numbers come from: :func:`make_rng` (a seed, a generator, or the next
generator of :func:`seed`'s sequence) and :func:`he_normal`, the initialisation of the ReLU
networks' weights."""

from __future__ import annotations

import numpy as np

Shape = tuple[int, ...]

_SEED: list[np.random.SeedSequence | None] = [None]  # scratchnet.seed's: the library's own, not NumPy's


def seed(n: int | None) -> None:
    """Make every layer built from now on without an ``rng`` (its initial weights, a dropout's
    masks, the zoo's models) reproducible: each draws its generator from one sequence started
    at ``n`` (``numpy.random.seed`` does not reach them: they use generators of their own, as they
    should). ``seed(None)``: back to fresh entropy. The same ``n`` and the same sequence of
    constructions give the same weights; an explicit ``rng=`` always wins."""
    _SEED[0] = None if n is None else np.random.SeedSequence(n)


def make_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``Generator`` from a seed, an existing generator, or (``None``) the next one of
    :func:`seed`'s sequence if it was called, else fresh OS entropy."""
    if rng is None and _SEED[0] is not None:
        return np.random.default_rng(_SEED[0].spawn(1)[0])
    return np.random.default_rng(rng)


def he_normal(shape: Shape, fan_in: int, rng: np.random.Generator, dtype: np.dtype | type) -> np.ndarray:
    r"""Kaiming/He initialisation :math:`\mathcal N(0, 2/\text{fan\_in})`, suited to ReLU nets."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
