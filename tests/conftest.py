"""Shared test helpers."""

from __future__ import annotations

import numpy as np
import pytest


def distinct_values(shape: tuple[int, ...], rng: np.random.Generator, spacing: float = 0.05) -> np.ndarray:
    """Float64 array whose entries are all distinct, at least ``spacing`` apart, centred on 0.

    Max-pooling and ReLU are not differentiable at ties / at zero; with this spacing no
    finite-difference step (1e-6) can cross a tie or a kink.
    """
    n = int(np.prod(shape))
    vals = (rng.permutation(n) - n / 2 + 0.5) * spacing
    return vals.reshape(shape)


def away_from_zero(shape: tuple[int, ...], rng: np.random.Generator, margin: float = 0.05) -> np.ndarray:
    """Random float64 values with ``|x| >= margin``: no ReLU kink within a difference step."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def pytest_sessionfinish(session, exitstatus):
    """With SCRATCHNET_PARITY_REPORT=path, write the per-op parity cases and worst errors."""
    import json
    import os
    import sys

    path = os.environ.get("SCRATCHNET_PARITY_REPORT")
    module = sys.modules.get("test_torch_parity")
    if path and module is not None:
        with open(path, "w") as f:
            json.dump(module.PARITY_LOG, f, indent=2, sort_keys=True)
