"""What the problem-set notebooks share, so that each opens with a short first cell::

    from scratchnet.notebook import *   # the names below (every public name of this module)

``np``, ``sn`` (scratchnet), ``zoo``, ``load_dataset``, ``train_run``, ``sweep``, ``TrainConfig``,
IPython's ``Image`` and ``display``, the standard modules the notebooks use (``os``, ``sys``,
``subprocess``, ``Path``), ``FAST`` (``SCRATCHNET_FAST=1``: tiny data and one epoch, the code path
unchanged, what the tests run), ``OUT`` (the notebooks' run folder, beside the notebook) and the
two helpers of the derivations' checks, :func:`numeric_gradient` and
:func:`compare`. Importing it changes nothing (no folder made, NumPy's print options left alone: the
notebook's first cell does both, in the notebook's own name).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

import scratchnet as sn
from scratchnet import zoo
from scratchnet.data import load_dataset
from scratchnet.experiment import train_run
from scratchnet.gradcheck import central_differences
from scratchnet.sweep import sweep
from scratchnet.train import TrainConfig

try:  # a notebook's kernel has IPython; elsewhere (a script importing this) the names are absent
    from IPython.display import Image, display
except ImportError:  # pragma: no cover - IPython comes with every Jupyter kernel
    Image = display = None

__all__ = ["FAST", "OUT", "Image", "Path", "TrainConfig", "compare", "display", "load_dataset", "np",
           "numeric_gradient", "os", "sn", "subprocess", "sweep", "sys", "train_run", "zoo"]  # fmt: skip

FAST = os.environ.get("SCRATCHNET_FAST") == "1"
OUT = "runs/notebooks"


def numeric_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``f()`` with respect to the float64 array ``x``
    (``f`` reads ``x``; each entry changed in place and restored): what ``scratchnet.gradcheck``
    computes, for the notebooks' checks of a formula."""
    return central_differences(f, x, eps).astype(x.dtype, copy=False)


def compare(what: str, derived: np.ndarray, library: np.ndarray, fd: np.ndarray | None = None) -> None:
    """Print the largest differences between a derived formula, the library and (if given) finite
    differences."""
    line = f"{what}: max |derived - library| = {np.max(np.abs(derived - library)):.1e}"
    if fd is not None:
        line += f", max |derived - finite differences| = {np.max(np.abs(derived - fd)):.1e}"
    print(line)
