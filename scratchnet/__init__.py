"""scratchnet: a deep-learning library written from scratch in NumPy.

Every layer has an explicit forward and backward pass (:mod:`scratchnet.ops` holds the math,
:mod:`scratchnet.layers` the stateful wrappers), every gradient is checked by finite differences
(:func:`scratchnet.gradcheck`) and against PyTorch in the test suite.
"""

from . import layers, losses, ops, optim
from ._version import __version__ as __version__
from .data_parallel import DataParallel
from .ensemble import Ensemble
from .fusion import fuse
from .gradcheck import GradCheckReport, gradcheck
from .graph import Graph, Input
from .layers.calls import accumulate_gradients
from .layers.init import seed
from .model import Sequential
from .schedules import LRScheduler

__all__ = [
    "DataParallel",
    "Ensemble",
    "GradCheckReport",
    "Graph",
    "Input",
    "LRScheduler",
    "Sequential",
    "accumulate_gradients",
    "fuse",
    "gradcheck",
    "layers",
    "losses",
    "ops",
    "optim",
    "seed",
]
