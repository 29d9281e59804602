"""``load_dataset``: Fashion-MNIST, MNIST and CIFAR-10 as uint8 NCHW arrays plus int64 labels."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .fetch import locate, search_roots
from .formats import (
    DatasetError,
    check_labels,
    parse_cifar,
    read_bytes,
    read_cifar_member,
    read_idx,
)
from .sources import CIFAR_DIR, CIFAR_TEST, CIFAR_TRAIN, DATASETS, DatasetSpec
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


def _find_cifar_bins(spec: DatasetSpec, data_dir) -> dict[str, os.PathLike] | None:
    """Extracted ``*.bin`` files, if some searched directory holds all six."""
    names = CIFAR_TRAIN + CIFAR_TEST
    for root in search_roots(data_dir):
        for d in (
            root.path / spec.name / CIFAR_DIR,
            root.path / spec.name,
            root.path / CIFAR_DIR,
            root.path,
        ):
            if all((d / n).is_file() for n in names):
                return {n: d / n for n in names}
    return None


def _load_cifar(spec: DatasetSpec, data_dir, download: bool, progress: bool) -> Dataset:
    bins = _find_cifar_bins(spec, data_dir)
    if bins is not None:

        def read(name: str) -> tuple[bytes, str]:
            return read_bytes(bins[name]), str(bins[name])
    else:
        try:
            archive = locate(spec, ["archive"], data_dir, download, progress)["archive"]
        except DatasetError as e:
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
