"""Stateful layers: each owns ``params``/``grads`` and wraps a forward/backward pair of ops.

Every public subclass of :class:`Layer` defined in a module of this package is exported here
(``from scratchnet.layers import Conv2D``): the modules are found, not listed, so a new layer is
written in its module and nothing else.
"""

import importlib
import pkgutil

from .base import Layer
from .base import Parameter as Parameter  # exported with the layers

_MODULES = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
_LAYERS = {name: obj for m in _MODULES for name, obj in vars(m).items()
           if isinstance(obj, type) and issubclass(obj, Layer) and obj.__module__ == m.__name__
           and not name.startswith("_")}  # fmt: skip
globals().update(_LAYERS)

__all__ = sorted({"Parameter", *_LAYERS})
