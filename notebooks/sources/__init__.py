"""The cells of the problem-set notebooks, one module each (``CELLS``: ``(kind, source)`` pairs);
``notebooks/build.py`` writes them out. ``SETUP`` is every notebook's first code cell."""

SETUP = '''\
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
if importlib.util.find_spec("scratchnet") is None:  # a hosted notebook (Colab, Binder, a fresh kernel)
    # install it from SCRATCHNET_SOURCE (a checkout, a wheel or a git URL), else from the checkout around us
    here = [p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scratchnet" / "__init__.py").is_file()]
    source = os.environ.get("SCRATCHNET_SOURCE") or (str(here[0]) if here else None)
    if source is None:
        raise SystemExit("scratchnet is not installed: set SCRATCHNET_SOURCE to a checkout, a wheel or a git "
                         "URL of scratchnet (or pip install it), then run this cell again")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", source])
import numpy as np
from IPython.display import Image, display
import scratchnet as sn
from scratchnet import zoo
from scratchnet.data import load_dataset
from scratchnet.experiment import train_run
from scratchnet.sweep import sweep
from scratchnet.train import TrainConfig

FAST = os.environ.get("SCRATCHNET_FAST") == "1"  # CI: tiny data and one epoch, same code path
OUT = "runs/notebooks"  # beside the notebook; data found as the CLI finds it ($SCRATCHNET_DATA, the cache)
os.makedirs(OUT, exist_ok=True)
np.set_printoptions(precision=4, suppress=True)


def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function f at the float64 array x (changed in place, restored)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def compare(what, derived, library, fd=None):
    """The largest differences between the derived formula, the library and finite differences."""
    line = f"{what}: max |derived - library| = {np.max(np.abs(derived - library)):.1e}"
    if fd is not None:
        line += f", max |derived - finite differences| = {np.max(np.abs(derived - fd)):.1e}"
    print(line)


print("fast mode" if FAST else "full run")'''
