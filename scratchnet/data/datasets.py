"""``load_dataset``: Fashion-MNIST, MNIST and CIFAR-10 as uint8 NCHW arrays plus int64 labels."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fetch import find_file, locate, search_roots
from .formats import (
    CIFAR_RECORD,
    DatasetError,
    check_labels,
    parse_cifar,
    read_bytes,
    read_cifar_member,
    read_idx,
)
from .sources import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN, DATASETS, DatasetSpec, RemoteFile
from .text import read_corpus, split_corpus

SEQ_LEN = 128  # characters per training window of a text corpus


@dataclass
class Dataset:
    """Images as uint8 ``(N, C, H, W)``, labels as int64 ``(N,)``; normalisation is separate.

    A text corpus (``kind == "text"``) holds windows of character ids ``(N, T)`` with next-character
    targets ``(N, T)``, its own validation split (``x_val``, ``y_val``; the test split is empty)
    and its ``vocabulary`` (the classes are its characters).
    """

    name: str
    title: str
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    kind: str = "images"
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    vocabulary: str | None = None
    limited: str = ""  # what a --limit cut, in words ("" when nothing was)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"Dataset({self.title}: train {self.x_train.shape}, test {self.x_test.shape}, "
            f"{self.num_classes} classes)"
        )


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    if isinstance(name, DatasetSpec):
        return name
    key = name.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10"}.get(key, key)
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    return DATASETS.get(key)


def _load_idx(spec: DatasetSpec, data_dir, download: bool, progress: bool) -> Dataset:
    paths = locate(spec, list(spec.files), data_dir, download, progress)
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], 3)
        labels = read_idx(paths[f"{split}_labels"], 1)
        if len(images) != len(labels):
            raise DatasetError(
                f"{paths[f'{split}_images']} holds {len(images):,} images but "
                f"{paths[f'{split}_labels']} holds {len(labels):,} labels; one of them is wrong"
            )
        arrays[f"x_{split}"] = images[:, None]  # (N, 1, H, W)
        arrays[f"y_{split}"] = check_labels(labels, len(spec.classes), str(paths[f"{split}_labels"]))
    return Dataset(spec.name, spec.title, spec.classes, **arrays)


@dataclass
class CifarBins:
    """Where the extracted ``*.bin`` files are: ``complete`` when one searched folder holds all
    six, else the folder holding most of them (``partial``) and the names it lacks."""

    complete: dict[str, Path] | None
    partial: Path | None = None
    missing: list[str] = field(default_factory=list)


def _cifar_bins_status(spec: DatasetSpec, data_dir) -> CifarBins:
    names = CIFAR_TRAIN + CIFAR_TEST
    best: tuple[int, Path | None] = (0, None)
    for root in search_roots(data_dir):
        for d in (root.path / spec.name / CIFAR_DIR, root.path / spec.name, root.path / CIFAR_DIR, root.path):
            present = [n for n in names if (d / n).is_file()]
            if len(present) == len(names):
                return CifarBins({n: d / n for n in names})
            if len(present) > best[0]:
                best = (len(present), d)
    if best[1] is None:
        return CifarBins(None)
    return CifarBins(None, best[1], [n for n in names if not (best[1] / n).is_file()])


def _official(spec: DatasetSpec, name: str) -> RemoteFile | None:
    """The published size and MD5 of an extracted CIFAR-10 file, if the spec lists it."""
    return next((f for f in spec.files.values() if f.name == name), None)


def _check_cifar_file(spec: DatasetSpec, path: Path, data: bytes) -> None:
    """An extracted file against its official size and MD5 (when ``spec`` lists them)."""
    remote = _official(spec, path.name)
    if remote is None:
        return
    archive = spec.files["archive"].name
    if len(data) != remote.size:
        is_bin = path.suffix == ".bin"
        records = f" ({remote.size // CIFAR_RECORD:,} records of {CIFAR_RECORD:,} bytes)" * is_bin
        raise DatasetError(
            f"{path}: {len(data):,} bytes, but the official {remote.name} is {remote.size:,} bytes{records}: "
            f"the file is truncated or not the official one. Extract it again from {archive} "
            f"({spec.mirrors[0]}{archive})"
        )
    digest = hashlib.md5(data).hexdigest()
    if digest != remote.md5:
        raise DatasetError(
            f"{path}: checksum mismatch: MD5 {digest}, but the official {remote.name} has MD5 {remote.md5}. "
            f"The file is corrupt or not the official one: extract it again from {archive}"
        )


def _check_cifar_meta(spec: DatasetSpec, path: Path) -> None:
    """``batches.meta.txt`` (if present) must list the class names, one per line."""
    data = read_bytes(path)
    _check_cifar_file(spec, path, data)
    listed = tuple(line.strip() for line in data.decode("latin-1").splitlines() if line.strip())
    if listed != spec.classes:
        raise DatasetError(
            f"{path}: lists the classes {', '.join(listed) or '(none)'}; CIFAR-10's are "
            f"{', '.join(spec.classes)}. It is not the CIFAR-10 batches.meta.txt: extract it again from "
            f"{spec.files['archive'].name}"
        )


def _load_cifar(spec: DatasetSpec, data_dir, download: bool, progress: bool) -> Dataset:
    bins = _cifar_bins_status(spec, data_dir)
    if bins.complete is not None:
        paths = bins.complete
        folder = next(iter(paths.values())).parent
        if (folder / "batches.meta.txt").is_file():
            _check_cifar_meta(spec, folder / "batches.meta.txt")

        def read(name: str) -> tuple[bytes, str]:
            data = read_bytes(paths[name])
            _check_cifar_file(spec, paths[name], data)
            return data, str(paths[name])
    else:
        try:
            archive = locate(spec, ["archive"], data_dir, download, progress)["archive"]
        except DatasetError as e:
            if bins.partial is not None:
                raise DatasetError(
                    f"{spec.title}: {bins.partial}/ holds {6 - len(bins.missing)} of the 6 files of "
                    f"{CIFAR_DIR}/; missing {', '.join(bins.missing)}. Extract {spec.files['archive'].name} "
                    f"again ({spec.mirrors[0]}{spec.files['archive'].name}) so that the folder holds "
                    f"{', '.join(CIFAR_TRAIN + CIFAR_TEST)}"
                ) from None
            raise DatasetError(
                f"{e}\nThe extracted folder {CIFAR_DIR}/ with the six *.bin files works too."
            ) from None

        def read(name: str) -> tuple[bytes, str]:
            member = f"{CIFAR_DIR}/{name}"
            return read_cifar_member(archive, member), f"{archive}:{member}"

    arrays = {}
    for split, names in (("train", CIFAR_TRAIN), ("test", CIFAR_TEST)):
        parts = [parse_cifar(*read(n), num_classes=len(spec.classes)) for n in names]
        arrays[f"x_{split}"] = np.concatenate([p[0] for p in parts])
        arrays[f"y_{split}"] = np.concatenate([p[1] for p in parts])
    return Dataset(spec.name, spec.title, spec.classes, **arrays)


def missing_files(name: str | DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The names of the files of a dataset that the lookup (:mod:`scratchnet.data.fetch`) does not
    find on disk (empty: ``load_dataset(name, download=False)`` will find everything). Nothing is
    downloaded or read; for a quick "is the data here?" (tests, notebooks)."""
    spec = get_spec(name)
    if spec.kind == "cifar":
        bins = _cifar_bins_status(spec, data_dir)
        if bins.complete is not None or find_file(spec, spec.files["archive"], search_roots(data_dir)):
            return []
        return bins.missing or [spec.files["archive"].name]
    roots = search_roots(data_dir)
    return [f.name for f in spec.files.values() if find_file(spec, f, roots) is None]


def load_dataset(
    name: str | DatasetSpec,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load ``"fashion-mnist"``, ``"mnist"``, ``"cifar10"`` or ``"tinyshakespeare"`` (see
    :mod:`scratchnet.data.fetch` for where files are looked for). Every problem raises
    ``DatasetError`` naming the file."""
    spec = get_spec(name)
    if spec.kind == "text":
        return _load_text(spec, data_dir, download, progress)
    loader = _load_idx if spec.kind == "idx" else _load_cifar
    return loader(spec, data_dir, download, progress)


def _load_text(spec: DatasetSpec, data_dir, download: bool, progress: bool, seq_len: int = SEQ_LEN) -> Dataset:
    path = locate(spec, ["text"], data_dir, download, progress)["text"]
    vocab, (x_train, y_train, x_val, y_val) = split_corpus(read_corpus(path), seq_len)
    empty = x_val[:0]
    return Dataset(spec.name, spec.title, tuple(vocab.chars), x_train, y_train, empty, empty, kind="text",
                   x_val=x_val, y_val=y_val, vocabulary=vocab.chars)  # fmt: skip
