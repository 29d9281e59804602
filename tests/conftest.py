"""Shared test fixtures; the op table and its helpers live in ``tests/op_table.py``."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from op_table import PARITY_LOG


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def pytest_sessionfinish(session, exitstatus):
    """With SCRATCHNET_PARITY_REPORT=path, write the per-op parity cases and worst errors."""
    path = os.environ.get("SCRATCHNET_PARITY_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(PARITY_LOG, f, indent=2, sort_keys=True)

