"""Dataset files: parsing, lookup order, download (local HTTP server), and every kind of bad file."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from scratchnet.data import (
    DATASETS,
    Augment,
    DatasetError,
    DatasetSpec,
    Normalizer,
    RemoteFile,
    load_dataset,
    random_crop,
    random_flip,
    read_idx,
    train_val_split,
)

# --- writing small files in the official formats ------------------------------------------------


def idx_bytes(arr: np.ndarray, count: int | None = None, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    dims = list(arr.shape)
    if count is not None:
        dims[0] = count  # a header that disagrees with the data
    magic = (0x08 << 8 | arr.ndim) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *dims) + arr.tobytes()


def write_idx_set(folder: Path, n_train: int = 40, n_test: int = 12, gz: bool = False, seed: int = 0) -> dict:
    """Images/labels in the MNIST file names; uncompressed files skip the MD5 check."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, arr in data.items():
        raw = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return data


@pytest.fixture(autouse=True)
def isolated_lookup(tmp_path, monkeypatch):
    """No test sees the real datasets or the real cache unless it asks for them."""
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dataset(tmp_path, gz):
    data = write_idx_set(tmp_path / "mnist", gz=gz)
    spec = DATASETS.get("mnist")
    if gz:  # generated gz files are not the official ones: give their real checksums
        files = {}
        for role, rf in spec.files.items():
            path = tmp_path / "mnist" / rf.name
            files[role] = RemoteFile(rf.name, hashlib.md5(path.read_bytes()).hexdigest(), path.stat().st_size)
        spec = dataclasses.replace(spec, files=files)
    ds = load_dataset(spec, data_dir=tmp_path, download=False, progress=False)
    assert ds.x_train.shape == (40, 1, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and ds.x_test.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(ds.x_train[:, 0], data["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, data["t10k-labels-idx1-ubyte"])
    assert ds.num_classes == 10 and ds.input_shape == (1, 28, 28)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28))))[:-30])
    with pytest.raises(DatasetError, match=r"x\.gz: corrupt or truncated gzip file"):
        read_idx(path, 3)


def test_wrong_magic(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5)))  # a label file where images are expected
    with pytest.raises(DatasetError, match=r"labels: wrong magic number 0x00000801, expected 0x00000803"):
        read_idx(path, 3)


def test_counts_disagree_with_data(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((5, 28, 28)), count=6))
    with pytest.raises(DatasetError, match=r"images: header says 6 x 28 x 28 = 4,704 bytes .* holds 3,920"):
        read_idx(path, 3)
    path.write_bytes(idx_bytes(np.zeros((5, 28, 28)))[:10])
    with pytest.raises(DatasetError, match="truncated IDX header"):
        read_idx(path, 3)


def test_label_out_of_range_and_count_mismatch(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.r_[np.zeros(39), 12]))
    with pytest.raises(
        DatasetError, match=r"train-labels-idx1-ubyte: label 12 at index 39 is out of range 0..9"
    ):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(39)))
    with pytest.raises(DatasetError, match=r"holds 40 images but .*train-labels-idx1-ubyte holds 39 labels"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_checksum_mismatch_of_official_name(tmp_path):
    write_idx_set(tmp_path, gz=True)  # official .gz names, but not the official bytes
    with pytest.raises(
        DatasetError, match=r"train-images-idx3-ubyte\.gz: checksum mismatch.*f68b3c2dcbeaaa9fbdd348bbdeb94873"
    ):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# --- where files are found ----------------------------------------------------------------------


def test_lookup_order(tmp_path, monkeypatch):
    explicit = write_idx_set(tmp_path / "explicit", seed=1)
    env = write_idx_set(tmp_path / "env" / "mnist", seed=2)  # in the <dataset>/ sub-directory
    cache = write_idx_set(tmp_path / "cache-home" / "scratchnet" / "mnist", seed=3)
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "env"))
    first = explicit["train-labels-idx1-ubyte"]
    np.testing.assert_array_equal(
        load_dataset("mnist", data_dir=tmp_path / "explicit", download=False).y_train, first
    )
    np.testing.assert_array_equal(load_dataset("mnist", download=False).y_train, env["train-labels-idx1-ubyte"])
    monkeypatch.delenv("SCRATCHNET_DATA")
    np.testing.assert_array_equal(
        load_dataset("mnist", download=False).y_train, cache["train-labels-idx1-ubyte"]
    )


def test_missing_files_say_what_and_where(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert "Fashion-MNIST: missing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "nowhere") in msg and "(--data-dir)" in msg and "(user cache)" in msg
    assert "downloading is disabled" in msg and "Put the files" in msg
    assert "fashion-mnist.s3-website" in msg


# --- downloading from a local server ------------------------------------------------------------


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _served_spec(root: Path, url: str, corrupt: str | None = None) -> DatasetSpec:
    """MNIST-like spec whose files are served from ``root``; ``corrupt`` names one file whose
    served bytes do not match its checksum."""
    write_idx_set(root / "src", gz=True)
    files = {}
    for role, rf in DATASETS.get("mnist").files.items():
        data = (root / "src" / rf.name).read_bytes()
        files[role] = RemoteFile(rf.name, hashlib.md5(data).hexdigest(), len(data))
        (root / rf.name).write_bytes(data[:-5] + b"xxxxx" if rf.name == corrupt else data)
    return dataclasses.replace(
        DATASETS.get("mnist"), name="mnist-test", title="MNIST-test", files=files, mirrors=(url,)
    )


def test_download_verifies_and_stores(tmp_path, http_server):
    root, url = http_server
    spec = _served_spec(root, url)
    ds = load_dataset(spec, progress=False)
    assert ds.x_train.shape == (40, 1, 28, 28)
    cache = tmp_path / "cache-home" / "scratchnet" / "mnist-test"
    assert sorted(p.name for p in cache.iterdir()) == sorted(rf.name for rf in spec.files.values())
    # a second load finds the cached files (the server could be gone)
    (root / "train-images-idx3-ubyte.gz").unlink()
    assert load_dataset(spec, progress=False).x_test.shape == (12, 1, 28, 28)


def test_download_of_corrupt_file_is_refused(tmp_path, http_server):
    root, url = http_server
    spec = _served_spec(root, url, corrupt="t10k-images-idx3-ubyte.gz")
    with pytest.raises(DatasetError) as err:
        load_dataset(spec, progress=False)
    assert "t10k-images-idx3-ubyte.gz: downloaded file has MD5" in str(err.value)
    assert "not stored" in str(err.value)
    cache = tmp_path / "cache-home" / "scratchnet" / "mnist-test"
    assert not (cache / "t10k-images-idx3-ubyte.gz").exists()
    verified = {rf.name for rf in spec.files.values()} - {"t10k-images-idx3-ubyte.gz"}
    assert {p.name for p in cache.iterdir()} <= verified, "no partial or temporary files left behind"


def test_download_404_names_the_url(http_server):
    root, url = http_server
    spec = dataclasses.replace(_served_spec(root, url), mirrors=(url + "missing/",))
    with pytest.raises(DatasetError, match=r"download failed: .*missing/train-images-idx3-ubyte\.gz"):
        load_dataset(spec, progress=False)


# --- CIFAR-10 binary ----------------------------------------------------------------------------


def cifar_records(n: int, seed: int, bad_label: bool = False) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    if bad_label:
        labels[-1] = 10
    images = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    raw = b"".join(bytes([labels[i]]) + images[i].tobytes() for i in range(n))
    return raw, images, labels


def write_cifar(folder: Path, n: int = 7) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    all_images, all_labels = [], []
    for i, name in enumerate([*(f"data_batch_{k}.bin" for k in range(1, 6)), "test_batch.bin"]):
        raw, images, labels = cifar_records(n, seed=i)
        (folder / name).write_bytes(raw)
        all_images.append(images)
        all_labels.append(labels)
    return np.concatenate(all_images), np.concatenate(all_labels)


def unverified_cifar():
    """The CIFAR-10 spec without the official sizes and MD5s of the extracted files, for the small
    generated files of these tests (the official archive's checksum is kept)."""
    spec = DATASETS.get("cifar10")
    return dataclasses.replace(spec, files={"archive": spec.files["archive"]})


def test_cifar_from_extracted_files(tmp_path):
    images, labels = write_cifar(tmp_path / "cifar10" / "cifar-10-batches-bin")
    ds = load_dataset(unverified_cifar(), data_dir=tmp_path, download=False)
    assert ds.x_train.shape == (35, 3, 32, 32) and ds.x_test.shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(ds.x_train, images[:35])
    np.testing.assert_array_equal(ds.y_test, labels[35:])
    assert ds.classes[0] == "airplane"


def test_cifar_from_archive_and_corrupt_archives(tmp_path):
    folder = tmp_path / "extracted"
    images, _ = write_cifar(folder)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(folder.iterdir()):
            tar.add(p, arcname=f"cifar-10-batches-bin/{p.name}")
    data = buf.getvalue()
    archive = tmp_path / "cifar10" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(data)
    spec = dataclasses.replace(
        DATASETS.get("cifar10"),
        files={"archive": RemoteFile(archive.name, hashlib.md5(data).hexdigest(), len(data))},
    )
    ds = load_dataset(spec, data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(ds.x_train, images[:35])
    with pytest.raises(DatasetError, match=r"cifar-10-binary\.tar\.gz: checksum mismatch"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)  # the official checksum
    archive.write_bytes(data[: len(data) // 2])
    spec = dataclasses.replace(
        spec, files={"archive": RemoteFile(archive.name, hashlib.md5(data[: len(data) // 2]).hexdigest(), 1)}
    )
    with pytest.raises(DatasetError, match=r"cifar-10-binary\.tar\.gz: corrupt or truncated archive"):
        load_dataset(spec, data_dir=tmp_path, download=False)


def test_cifar_bad_records(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    raw, _, _ = cifar_records(3, seed=9, bad_label=True)
    (folder / "data_batch_3.bin").write_bytes(raw)
    with pytest.raises(DatasetError, match=r"data_batch_3\.bin: label 10 at index 2 is out of range 0..9"):
        load_dataset(unverified_cifar(), data_dir=tmp_path, download=False)
    (folder / "data_batch_3.bin").write_bytes(raw[:-1])
    with pytest.raises(
        DatasetError, match=r"data_batch_3\.bin: 9,218 bytes is not a whole number of 3073-byte"
    ):
        load_dataset(unverified_cifar(), data_dir=tmp_path, download=False)


def test_cifar_extracted_files_are_checked_against_the_official_sizes_and_checksums(tmp_path):
    """With the official spec, a truncated or resized .bin, a missing one and a wrong
    batches.meta.txt each get one message naming the file and what to do."""
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    write_cifar(folder)  # 7 records a file: whole records, but not the official files
    size = r"data_batch_1\.bin: 21,511 bytes, but the official data_batch_1\.bin is 30,730,000 bytes"
    with pytest.raises(DatasetError, match=size + r" \(10,000 records.*Extract it again"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    spec = DATASETS.get("cifar10")
    small = {k: RemoteFile(f.name, f.md5, 21_511) for k, f in spec.files.items() if f.name.endswith(".bin")}
    sized = dataclasses.replace(spec, files={**spec.files, **small})
    checksum = r"data_batch_1\.bin: checksum mismatch: MD5 [0-9a-f]{32}, but the official data_batch_1\.bin has"
    with pytest.raises(DatasetError, match=checksum + r" MD5 5dd7e06a"):
        load_dataset(sized, data_dir=tmp_path, download=False)
    (folder / "batches.meta.txt").write_text("airplane\ncar\n")
    with pytest.raises(DatasetError, match=r"meta\.txt: lists the classes airplane, car; CIFAR-10's are air"):
        load_dataset(unverified_cifar(), data_dir=tmp_path, download=False)
    (folder / "batches.meta.txt").unlink()
    (folder / "test_batch.bin").unlink()
    five = r"cifar-10-batches-bin/ holds 5 of the 6 files of cifar-10-batches-bin/; missing test_batch\.bin\. "
    with pytest.raises(DatasetError, match=five + r"Extract cifar-10-binary\.tar\.gz again"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    from scratchnet.data import missing_files

    assert missing_files("cifar10", data_dir=tmp_path) == ["test_batch.bin"]
    assert missing_files("mnist", data_dir=tmp_path) == [f.name for f in DATASETS.get("mnist").files.values()]


def test_cifar_missing_mentions_extracted_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"missing cifar-10-binary\.tar\.gz(.|\n)*cifar-10-batches-bin/"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


# --- normalisation, augmentation, splits --------------------------------------------------------


def test_normalizer():
    x = np.random.default_rng(0).integers(0, 256, (50, 3, 4, 4)).astype(np.uint8)
    norm = Normalizer.fit(x)
    z = norm(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_random_crop_is_a_shift_with_zero_fill():
    x = np.arange(2 * 1 * 5 * 5, dtype=np.uint8).reshape(2, 1, 5, 5) + 1
    rng = np.random.default_rng(0)
    out = random_crop(x, 2, rng)
    assert out.shape == x.shape and out.dtype == x.dtype
    rng = np.random.default_rng(0)
    dy, dx = rng.integers(0, 5, 2), rng.integers(0, 5, 2)
    for n in range(2):
        padded = np.pad(x[n, 0], 2)
        np.testing.assert_array_equal(out[n, 0], padded[dy[n] : dy[n] + 5, dx[n] : dx[n] + 5])


def test_random_flip_and_augment_pipeline():
    x = np.random.default_rng(1).integers(0, 256, (400, 3, 6, 6)).astype(np.uint8)
    out = random_flip(x, np.random.default_rng(2))
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    same = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | same) and 150 < flipped.sum() < 250
    aug = Augment(crop_padding=1, flip=True)
    assert aug.active and aug(x, np.random.default_rng(3)).shape == x.shape
    assert not Augment().active


def test_train_val_split_is_stratified_and_seeded():
    y = np.repeat(np.arange(10), 100)
    x = np.arange(1000)
    (xt, _), (xv, yv) = train_val_split(x, y, 100, seed=3)
    assert len(xv) == 100 and len(xt) == 900
    assert np.all(np.bincount(yv, minlength=10) == 10)
    assert not set(xv) & set(xt)
    (_, _), (xv2, _) = train_val_split(x, y, 100, seed=3)
    np.testing.assert_array_equal(xv, xv2)


def test_threads_setting_is_read_and_applied(monkeypatch):
    """SCRATCHNET_NUM_THREADS is read (and checked) and caps BLAS through threadpoolctl."""
    from scratchnet.runtime import THREADS_ENV, blas_info, blas_threads, requested_threads

    monkeypatch.setenv(THREADS_ENV, "1")
    assert requested_threads() == 1 and requested_threads(2) == 2
    with blas_threads():
        assert all(i["num_threads"] == 1 for i in blas_info())
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match="SCRATCHNET_NUM_THREADS must be a positive integer"):
        requested_threads()
