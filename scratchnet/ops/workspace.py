"""Scratch memory with an explicit owner: one :class:`Workspace` per layer, one way to get an array.

Every training step needs the same large arrays again (im2col matrices, activations, gradients).
Fresh memory from the operating system costs a page fault per 4 KiB page on first touch, which adds
up to milliseconds per step; reusing last step's array costs nothing. The rule that keeps reuse
safe is ownership, not luck:

* every layer owns a :class:`Workspace` (``layer.workspace``) and passes it to its ops;
* an op asks for memory only through :func:`scratch`, under a key unique within that op;
* a buffer that only the layer's cache refers to (an im2col matrix, a pooling tournament) is
  reused on the layer's next call, which replaces the cache anyway;
* a buffer that is *returned* (an output or an input gradient, ``output=True``) is reused only
  when the workspace's ``reuse_outputs`` is on. A lone layer leaves it off, so every array it
  returns is new; a :class:`~scratchnet.Sequential` turns it on for its layers, because it hands
  each output to the next layer, which is done with it before the same layer runs again, and it
  copies whatever it returns to its own caller if that still lives in a workspace.

So an array returned by a layer inside a model stays valid until that layer's next ``forward``
(outputs) or ``backward`` (input gradients), exactly as long as its cache. Caches that alias a
workspace say so in their docstrings.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Init = Literal["empty", "zeros", "zeros-once"]


class Workspace:
    """Named scratch arrays, kept from one call to the next while shape and dtype stay the same.

    Args:
        reuse_outputs: also reuse the arrays that ops return to the caller (see the module
            docstring); off for a lone layer, on inside a model.
    """

    def __init__(self, reuse_outputs: bool = False) -> None:
        self.reuse_outputs = reuse_outputs
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: np.dtype | type, init: Init = "empty") -> np.ndarray:
        """The array stored under ``key``, (re)allocated when its shape or dtype differ.

        ``init``: ``"empty"`` (contents undefined), ``"zeros"`` (zeroed on every call) or
        ``"zeros-once"`` (zeroed when allocated; the caller only ever rewrites the same part,
        e.g. the interior of a zero-padded image, so the rest stays zero).
        """
        shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype) if init != "empty" else np.empty(shape, dtype)
            self._buffers[key] = buf
        elif init == "zeros":
            buf.fill(0)
        return buf

    def owns(self, a: np.ndarray) -> bool:
        """Whether ``a`` may share memory with one of this workspace's arrays."""
        return any(np.may_share_memory(a, b) for b in self._buffers.values())

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._buffers.values())

    def clear(self) -> None:
        """Forget every array (they are freed once no cache or caller refers to them)."""
        self._buffers.clear()

    def __repr__(self) -> str:
        return f"Workspace({len(self._buffers)} arrays, {self.nbytes / 2**20:.1f} MiB)"


def scratch(
    ws: Workspace | None,
    key: str,
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    *,
    init: Init = "empty",
    channels_last: bool = False,
    output: bool = False,
) -> np.ndarray:
    """The one way an op gets memory: from ``ws`` under ``key``, or newly allocated.

    Args:
        ws: the calling layer's workspace, or ``None`` (always a new array).
        shape: the *logical* shape; with ``channels_last`` a 4-D NCHW shape is stored as NHWC
            and returned as an NCHW-shaped view (PyTorch's ``channels_last`` memory format).
        output: the array is returned to the op's caller: reused only if ``ws.reuse_outputs``.
    """
    stored = (shape[0], shape[2], shape[3], shape[1]) if channels_last else tuple(shape)
    if ws is None or (output and not ws.reuse_outputs):
        arr = np.zeros(stored, dtype) if init != "empty" else np.empty(stored, dtype)
    else:
        arr = ws.get(key, stored, dtype, init)
    return arr.transpose(0, 3, 1, 2) if channels_last else arr
