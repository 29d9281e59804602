"""Small helpers shared by the ops: argument normalisation and padding."""

from __future__ import annotations

import math
import sys
import threading

import numpy as np


def pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    """Return ``value`` as an ``(h, w)`` pair of ints (an int ``k`` means ``(k, k)``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        h = w = int(value)
    else:
        try:
            h, w = (int(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    return h, w


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a sliding window: ``(size + 2*padding - kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def pad2d(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero-pad the last two axes of ``x`` by ``ph`` rows and ``pw`` columns on each side.

    Returns ``x`` itself (no copy) when there is nothing to pad.
    """
    if ph == 0 and pw == 0:
        return x
    *lead, H, W = x.shape
    xp = np.zeros((*lead, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    xp[..., ph : ph + H, pw : pw + W] = x
    return xp


def batch_chunks(n: int, bytes_per_item: int, target: int = 1 << 20) -> list[slice]:
    """Split ``range(n)`` into consecutive slices of about ``target`` bytes of work each.

    Cache blocking: a pass over a few images at a time keeps its data in the CPU cache between
    the several vectorized operations applied to it (e.g. the kernel offsets of ``col2im``),
    instead of streaming the whole batch through main memory once per operation. Every
    operation inside a chunk is still vectorized over all images, pixels and channels of it.
    """
    step = max(1, min(n, target // max(bytes_per_item, 1)))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


# --- recycling large arrays --------------------------------------------------------------------
# Every training step allocates the same large arrays again (activations, gradients). Fresh
# memory from the operating system costs a page fault per 4 KiB on first touch, which adds up
# to milliseconds per step. `recycled` hands out an earlier array of the same shape and dtype
# once nothing refers to it any more (its reference count shows that only this cache holds it;
# views keep their base alive, so an array is never reused while any view of it is in use).

_RECYCLE_MIN_BYTES = 1 << 18
_RECYCLE_MAX_BYTES = 512 << 20  # never keep more than this many bytes for reuse
_recycle_bin: dict[tuple, list[np.ndarray]] = {}
_recycle_bytes = 0
_recycle_lock = threading.Lock()


def recycled(shape: tuple[int, ...], dtype: np.dtype | type, zero: bool = False) -> np.ndarray:
    """``np.empty(shape, dtype)`` (or ``np.zeros``) that reuses a no-longer-referenced array of
    the same shape and dtype from an earlier call when there is one."""
    global _recycle_bytes
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < _RECYCLE_MIN_BYTES:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    key = (tuple(shape), dtype.str)
    with _recycle_lock:
        bucket = _recycle_bin.setdefault(key, [])
        for buf in bucket:
            # references: the bucket list, the loop variable and getrefcount's own argument
            if sys.getrefcount(buf) == 3:
                if zero:
                    buf.fill(0)
                return buf
        buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        if len(bucket) < 4 and _recycle_bytes + nbytes <= _RECYCLE_MAX_BYTES:
            bucket.append(buf)
            _recycle_bytes += nbytes
        return buf


def release_recycled() -> None:
    """Drop every array kept for reuse (they are freed once nothing else refers to them)."""
    global _recycle_bytes
    _recycle_bin.clear()
    _recycle_bytes = 0


# --- memory layouts ------------------------------------------------------------------------------
def nhwc(x: np.ndarray) -> np.ndarray:
    """``x`` (logical NCHW) as a C-contiguous ``(N, H, W, C)`` array: a free view when ``x`` is
    channels-last in memory (or has one channel), otherwise one transposing copy."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def is_channels_last(x: np.ndarray) -> bool:
    """True when the NCHW-shaped ``x`` is stored as a contiguous NHWC array."""
    return x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous


def like(x: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """A (recycled, uninitialised) array shaped and laid out in memory like ``x``: element-wise
    operations between arrays of one layout run several times faster than across layouts."""
    dtype = x.dtype if dtype is None else dtype
    if x.ndim == 4 and not x.flags.c_contiguous and is_channels_last(x):
        N, C, H, W = x.shape
        return recycled((N, H, W, C), dtype).transpose(0, 3, 1, 2)
    return recycled(x.shape, dtype)


def channel_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=(0, 2, 3))`` for an NCHW-shaped array; for channels-last memory it is a
    matrix-vector product ``1^T X`` on the ``(N*H*W, C)`` view (BLAS), several times faster
    than NumPy's reduction over the non-contiguous axes."""
    if is_channels_last(x):
        rows = nhwc(x).reshape(-1, x.shape[1])
        return np.ones(rows.shape[0], dtype=x.dtype) @ rows
    return x.sum(axis=(0, 2, 3))
