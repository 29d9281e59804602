"""The ops a student can check: for each, its cases, the expected results (computed by the
library's proven layers, in float64), how a functional-style submission is called, and the
classic wrong answers it is compared with.

The functional convention is the courses' (CS231n's assignments): ``out, cache = op_forward(...)``
and ``grads = op_backward(dout, cache)``, NCHW images, parameter dicts such as ``{"stride": 1,
"pad": 1}`` or ``{"pool_height": 2, "pool_width": 2, "stride": 2}``, LSTM gates ordered
``[i, f, o, g]`` with ``Wx`` of shape ``(D, 4H)``; losses return ``(loss, dx)`` in one call. The
layer convention is scratchnet's (``Layer(...)`` with ``forward(x)``, ``backward(dout)``,
``params``/``grads``): see :mod:`scratchnet.check.adapters`.

The catalogue: one module per family of ops in :mod:`scratchnet.check.catalogue` (each ends with
its ``SPECS``); :data:`OPS` holds them all, in this order, by name.
"""

from __future__ import annotations

from .catalogue import batchnorm, conv, dense, dropout, elementwise, embedding, losses, pool, recurrent
from .spec import Mistake, OpSpec

FAMILIES = (conv, pool, elementwise, dense, losses, dropout, batchnorm, recurrent, embedding)
OPS: dict[str, OpSpec] = {spec.name: spec for family in FAMILIES for spec in family.SPECS}

__all__ = ["OPS", "Mistake", "OpSpec"]
