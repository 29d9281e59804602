"""Pure functions: one ``*_forward(...) -> (out, cache)`` / ``*_backward(dout, cache)`` pair per op.

No hidden state, no I/O, NumPy only. Scratch memory comes from the calling layer's
:class:`~scratchnet.ops.workspace.Workspace` (optional argument ``ws``; without it every array is
new). The stateful layers in :mod:`scratchnet.layers` are thin wrappers around these;
:mod:`scratchnet.ops.naive` holds the textbook loop versions of the conv and pooling passes
(read them first; the fast ops are tested against them).

Each op module ends with its op records (:class:`~scratchnet.ops.record.OpRecord`); this package
exports every function they name (``from scratchnet.ops import conv2d_forward``), and
:data:`RECORDS` holds them all (the op modules are found, not listed).
"""

import importlib
import pkgutil

from .record import OpRecord, collect, exported
from .workspace import Workspace, scratch

# every module of this package that declares op records, in alphabetical order (a new op module is
# found here without being listed)
_MODULES = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_")]  # fmt: skip
RECORDS: tuple[OpRecord, ...] = collect(*(m for m in _MODULES if hasattr(m, "RECORDS")))
globals().update(exported(RECORDS))

__all__ = ["RECORDS", "OpRecord", "Workspace", "scratch", *sorted(exported(RECORDS))]
