"""The textbook versions: each op as its defining sum reads, in loops, one output element or one
window at a time. Read these first; the fast ops of :mod:`scratchnet.ops` are tested against them
(the ``reference`` check of the op table, to 1e-12) and never call them. Never used in training.

* :mod:`~scratchnet.ops.naive.conv`: ``conv2d_naive``, ``conv2d_backward_naive`` (with the
  switches the checker uses for its catalogued mistakes);
* :mod:`~scratchnet.ops.naive.pool`: ``pool2d_naive``, ``pool2d_backward_naive`` (max and average);
* :mod:`~scratchnet.ops.naive.convpool`: the two composed (the fused conv + pool's twin);
* :mod:`~scratchnet.ops.naive.norm`: batch norm of ``(N, D)`` features, its backward pass as its
  three terms (with the switches the checker uses).
"""

from .conv import conv2d_backward_naive, conv2d_naive
from .convpool import convpool2d_backward_naive, convpool2d_naive
from .norm import batchnorm_backward_naive, batchnorm_naive
from .pool import pool2d_backward_naive, pool2d_naive

__all__ = [
    "batchnorm_backward_naive",
    "batchnorm_naive",
    "conv2d_backward_naive",
    "conv2d_naive",
    "convpool2d_backward_naive",
    "convpool2d_naive",
    "pool2d_backward_naive",
    "pool2d_naive",
]
