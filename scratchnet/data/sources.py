"""Where each dataset comes from: official file names, download mirrors, published checksums."""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as published: its name, MD5 and size in bytes."""

    name: str
    md5: str
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's files (by role, e.g. ``"train_images"``), mirrors and class names."""

    name: str  # CLI name, also the sub-directory the files are looked for in
    title: str
    kind: str  # "idx", "cifar" or "text"
    files: dict[str, RemoteFile]
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")  # fmt: skip


def idx_dataset(name: str, title: str, checksums: list[tuple[str, int]], mirrors: tuple[str, ...],
                classes: tuple[str, ...]) -> DatasetSpec:  # fmt: skip
    """A dataset in the four files of the MNIST layout, given each file's (MD5, size) in the order
    train images, train labels, test images, test labels."""
    roles = ("train_images", "train_labels", "test_images", "test_labels")
    files = {role: RemoteFile(file, md5, size)
             for role, file, (md5, size) in zip(roles, IDX_FILES, checksums, strict=True)}  # fmt: skip
    return DatasetSpec(name=name, title=title, kind="idx", files=files, mirrors=mirrors, classes=classes)


MNIST = idx_dataset(
    "mnist", "MNIST",
    [("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422), ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
     ("9fb629c4189551a2d022fa330f9573f3", 1648877), ("ec29112dd5afa0611ce80d1b7f02629c", 4542)],
    # the original site first, then the mirror torchvision uses
    mirrors=("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    classes=tuple(str(d) for d in range(10)),
)  # fmt: skip

FASHION_MNIST = idx_dataset(
    "fashion-mnist", "Fashion-MNIST",
    [("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880), ("25c81989df183df01b3e8a0aad5dffbe", 29515),
     ("bef4ecab320f06d8554ea6380940ec79", 4422102), ("bb300cfdad3c16e7a12a480ee83cd310", 5148)],
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)  # fmt: skip

CIFAR_BIN_SIZE = 10_000 * (1 + 3 * 32 * 32)  # 10,000 records of a label byte and 3,072 pixels

CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10",
    kind="cifar",
    # the archive, and each file it extracts to (their official MD5s: checked when a file is read)
    files={
        "archive": RemoteFile("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", 170052171),
        "data_batch_1": RemoteFile("data_batch_1.bin", "5dd7e06a14cb22eb9f671a540d1b7c25", CIFAR_BIN_SIZE),
        "data_batch_2": RemoteFile("data_batch_2.bin", "5ea93a67294ea407fff1d09f752e9692", CIFAR_BIN_SIZE),
        "data_batch_3": RemoteFile("data_batch_3.bin", "942cd6a4bcdd0dd3c604fbe906cb4421", CIFAR_BIN_SIZE),
        "data_batch_4": RemoteFile("data_batch_4.bin", "ae636b3ba5c66a11e91e8cb52e771fcb", CIFAR_BIN_SIZE),
        "data_batch_5": RemoteFile("data_batch_5.bin", "53f37980c15c3d472c316c40844f3f0d", CIFAR_BIN_SIZE),
        "test_batch": RemoteFile("test_batch.bin", "803d5f7f4d78ea53de84dbe85f74fb6d", CIFAR_BIN_SIZE),
        "meta": RemoteFile("batches.meta.txt", "728051cd483f366e254dddb25bead8b3", 61),
    },
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    classes=("airplane", "automobile", "bird", "cat", "deer",
             "dog", "frog", "horse", "ship", "truck"),
)  # fmt: skip

TINY_SHAKESPEARE = DatasetSpec(
    name="tinyshakespeare",
    title="tiny Shakespeare",
    kind="text",
    files={"text": RemoteFile("input.txt", "6fb458f1232090904fb40fe944165e91", 1115394)},
    mirrors=("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",),
    classes=(),  # the characters of the corpus, known once it is read
)

CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST = ("test_batch.bin",)

DATASETS: Registry[DatasetSpec] = Registry("dataset")
for _spec, _about in [(FASHION_MNIST, "Zalando's 28x28 grey clothing images, 10 classes (60k/10k)"),
                      (MNIST, "28x28 grey handwritten digits, 10 classes (60k/10k)"),
                      (CIFAR10, "32x32 colour images, 10 classes (50k/10k); binary version"),
                      (TINY_SHAKESPEARE, "1.1 M characters of Shakespeare, 65 distinct; first 90% train, "
                                         "last 10% validation")]:  # fmt: skip
    DATASETS.add(_spec.name, _spec, _about)
