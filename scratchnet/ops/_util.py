"""Small helpers shared by the ops: argument normalisation, padding, blocking, memory layouts."""

from __future__ import annotations

import numpy as np

from .workspace import Workspace, scratch


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


# --- memory layouts ------------------------------------------------------------------------------
def nhwc(x: np.ndarray) -> np.ndarray:
    """``x`` (logical NCHW) as a C-contiguous ``(N, H, W, C)`` array: a free view when ``x`` is
    channels-last in memory (or has one channel), otherwise one transposing copy."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def is_channels_last(x: np.ndarray) -> bool:
    """True when the NCHW-shaped ``x`` is stored as a contiguous NHWC array."""
    return x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous


def stored_channels_last(x: np.ndarray) -> bool:
    """True when ``x`` is a 4-D array stored channels-last and *not* also plain C-contiguous (an
    array with one channel or a 1x1 image is both): the layout an array shaped and stored like
    ``x`` should get, since element-wise operations between arrays of one layout run several
    times faster than across layouts."""
    return x.ndim == 4 and not x.flags.c_contiguous and is_channels_last(x)


def channel_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=(0, 2, 3))`` for an NCHW-shaped array; for channels-last memory it is a
    matrix-vector product :math:`\\mathbf 1^\\top X` on the ``(N*H*W, C)`` view (BLAS), several times faster
    than NumPy's reduction over the non-contiguous axes."""
    if is_channels_last(x):
        rows = nhwc(x).reshape(-1, x.shape[1])
        return np.ones(rows.shape[0], dtype=x.dtype) @ rows
    return x.sum(axis=(0, 2, 3))


def padded_copy(x: np.ndarray, ph: int, pw: int, channels_last: bool, ws: Workspace | None) -> np.ndarray:
    """Zero-padded copy of ``x`` in a reusable buffer (NHWC or NCHW memory), or ``x`` itself."""
    N, C, H, W = x.shape
    if channels_last:
        src = x.transpose(0, 2, 3, 1)
        if ph == 0 and pw == 0:
            return np.ascontiguousarray(src)
        xp = scratch(ws, "xpad_nhwc", (N, H + 2 * ph, W + 2 * pw, C), x.dtype, init="zeros-once")
        xp[:, ph : ph + H, pw : pw + W, :] = src  # the border stays zero
        return xp
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    xp = scratch(ws, "xpad_nchw", (N, C, H + 2 * ph, W + 2 * pw), x.dtype, init="zeros-once")
    xp[:, :, ph : ph + H, pw : pw + W] = x
    return xp
