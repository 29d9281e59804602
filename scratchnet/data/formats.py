"""Parsers for the dataset file formats, with validation that names the file on any problem.

* IDX (MNIST, Fashion-MNIST): a 4-byte magic number ``0x00 0x00 <type> <ndim>`` (type ``0x08`` is
  unsigned byte), ``ndim`` big-endian uint32 sizes, then the data in C order. Images are
  ``0x00000803`` (count, rows, cols), labels ``0x00000801`` (count). Files may be gzipped.
* CIFAR-10 binary: records of 1 label byte followed by 3072 pixel bytes (1024 red, 1024 green,
  1024 blue, each a row-major 32x32 plane), 10,000 records per ``*.bin`` file, optionally inside
  ``cifar-10-binary.tar.gz`` under ``cifar-10-batches-bin/``.

No pickle anywhere: CIFAR-10's binary version is used precisely to avoid unpickling downloads.
"""

from __future__ import annotations

import gzip
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np

IDX_UBYTE = 0x08
CIFAR_RECORD = 1 + 3 * 32 * 32


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or inconsistent. The message names the file."""


def read_bytes(path: str | Path) -> bytes:
    """The (decompressed) content of ``path``; gzip is detected by its magic bytes, not the name."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read the file ({e.strerror or e})") from e
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(
            f"{path}: corrupt or truncated gzip file ({e}); delete it and download it again"
        ) from e


def parse_idx(data: bytes, path: str | Path, ndim: int) -> np.ndarray:
    """Parse IDX bytes holding unsigned bytes in ``ndim`` dimensions; validate everything."""
    kind = {1: "label", 3: "image"}.get(ndim, f"{ndim}-d")
    expected_magic = (IDX_UBYTE << 8) | ndim
    if len(data) < 4:
        raise DatasetError(f"{path}: file too short ({len(data)} bytes) to be an IDX {kind} file")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DatasetError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(IDX {kind} file); is this the right file?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(data) - header
    if actual != expected:
        raise DatasetError(
            f"{path}: header says {' x '.join(map(str, dims))} = {expected:,} bytes of data but "
            f"the file holds {actual:,}; it is truncated or corrupt: delete it and download it again"
        )
    return np.frombuffer(bytearray(data), dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes with ``ndim`` dimensions."""
    return parse_idx(read_bytes(path), path, ndim)


def check_labels(labels: np.ndarray, num_classes: int, source: str) -> np.ndarray:
    """Return ``labels`` as int64 after checking they lie in ``[0, num_classes)``."""
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DatasetError(
            f"{source}: label {int(labels[bad[0]])} at index {int(bad[0])} is out of range "
            f"0..{num_classes - 1} ({bad.size} bad labels); the file is corrupt"
        )
    return labels.astype(np.int64)


def parse_cifar(data: bytes, source: str, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-10 binary records into ``(images (n, 3, 32, 32) uint8, labels (n,) int64)``."""
    if len(data) == 0 or len(data) % CIFAR_RECORD:
        raise DatasetError(
            f"{source}: {len(data):,} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 "
            "records; the file is truncated or corrupt"
        )
    records = np.frombuffer(bytearray(data), dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = check_labels(records[:, 0], num_classes, source)
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def read_cifar_member(archive: str | Path, member: str) -> bytes:
    """Read one file out of a ``.tar.gz`` without extracting anything to disk."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            f = tar.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise DatasetError(f"{archive}: the archive has no member {member}") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DatasetError(
            f"{archive}: corrupt or truncated archive ({e}); delete it and download it again"
        ) from e
