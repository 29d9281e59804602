"""Datasets (Fashion-MNIST, MNIST, CIFAR-10), lookup/download, batching and augmentation."""

from .batching import epoch_order, num_batches, train_val_split
from .datasets import Dataset, get_spec, load_dataset, missing_files
from .fetch import ENV_VAR, cache_dir, search_roots
from .formats import DatasetError, parse_cifar, read_idx
from .sources import DATASETS, DatasetSpec, RemoteFile
from .transforms import Augment, Normalizer, random_crop, random_flip

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "Augment",
    "Dataset",
    "DatasetError",
    "DatasetSpec",
    "Normalizer",
    "RemoteFile",
    "cache_dir",
    "epoch_order",
    "get_spec",
    "load_dataset",
    "missing_files",
    "num_batches",
    "parse_cifar",
    "random_crop",
    "random_flip",
    "read_idx",
    "search_roots",
    "train_val_split",
]
