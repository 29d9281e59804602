"""Saving and loading arrays: ``.npz`` only (never pickle), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the complete new one, never a half-written one: the data is
    flushed to disk before ``os.replace`` (atomic on POSIX and Windows). On any error, including
    Ctrl-C, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; use normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically replace ``path`` by ``data``."""
    atomic_write(path, lambda f: f.write(data))


def write_json(path: str | os.PathLike, obj: object) -> None:
    """``obj`` as indented JSON (NumPy scalars as floats), written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=float) + "\n").encode())


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Atomically save ``arrays`` to an uncompressed ``.npz`` at ``path``."""
    atomic_write(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` (``allow_pickle=False``: object arrays are refused).

    A file that is not a complete ``.npz`` of plain arrays raises a ``ValueError`` saying so (a
    truncated or corrupt file, another kind of file, or one holding pickled objects, which
    scratchnet never writes and never loads)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an .npz file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        with open(path, "rb") as f:
            head = f.read(4)
        if "pickle" in str(e) and head[:2] in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
            # object arrays in an .npz, or a raw pickle (NumPy would advise loading it unsafely: never)
            why = "it holds pickled Python objects, which scratchnet never writes and never loads"
        elif "pickle" in str(e):  # NumPy took the bytes for a pickle: they are not an .npz
            why = "it is truncated, corrupt or another kind of file"
        else:
            why = f"it is truncated, corrupt or another kind of file ({type(e).__name__}: {e})"
        raise ValueError(f"{path}: not a readable .npz file of arrays: {why}") from None


def with_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """``{prefix + key: array}``: how a checkpoint keeps the parts of a run apart."""
    return {prefix + k: v for k, v in arrays.items()}


def without_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries whose key starts with ``prefix``, with the prefix removed."""
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
