"""Data files are checked before use: corrupt, truncated or empty files get errors that name them, offline
loading creates no folders, and MNIST and CIFAR-10 load from files in their real formats.

Fault tests work on a temporary copy of the data; /work/data (CNNLIB_DATA) is never modified. MNIST and
CIFAR-10 are not available offline, so the tests write small files in the real formats themselves and
put their MD5 sums in place of the published ones.
"""

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

import cnnlib
from cnnlib import checksums, data
from cnnlib.data import store

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _real_fashion_mnist_copy(tmp_path: Path, modified: str) -> Path:
    """A data folder whose file ``modified`` is a real copy and the others are links to the real data."""
    source = data.data_dir() / "FashionMNIST" / "raw"
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        if name == modified:
            shutil.copyfile(source / name, raw / name)
        else:
            (raw / name).symlink_to(source / name)
    return raw


def _overwrite_pixels(path: Path) -> None:
    with open(path, "r+b") as f:  # 5 MB of random bytes after the 16-byte header
        f.seek(16)
        f.write(os.urandom(5_000_000))


def _zero_labels(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(bytes(path.stat().st_size - 8))


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_magic(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(b"\x1f\x8b\x08\x00")  # what a gzip file starts with


@pytest.mark.parametrize("name, damage, reason", [
    ("train-images-idx3-ubyte", _overwrite_pixels, "its MD5 sum is"),
    ("train-labels-idx1-ubyte", _zero_labels, "its MD5 sum is"),
    ("t10k-images-idx3-ubyte", _truncate, r"truncated: 3,920,008 bytes, but its header describes 7,840,016"),
    ("t10k-labels-idx1-ubyte", _empty, r"empty \(0 bytes\)"),
    ("train-labels-idx1-ubyte", _wrong_magic, "does not start like an idx file"),
])
def test_a_damaged_fashion_mnist_file_is_named_and_called_corrupt(monkeypatch, tmp_path, name, damage, reason):
    raw = _real_fashion_mnist_copy(tmp_path, name)
    damage(raw / name)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "data"))
    with pytest.raises(cnnlib.CorruptDataError, match=reason) as error:
        cnnlib.fashion_mnist(device="cpu")
    message = str(error.value)
    assert f"{raw / name} is corrupt (it is there, not missing)" in message
    assert "To restore it, delete it" in message and "could not be downloaded" not in message


def test_the_intact_copy_loads(monkeypatch, tmp_path):
    _real_fashion_mnist_copy(tmp_path, "train-labels-idx1-ubyte")
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "data"))
    splits = cnnlib.fashion_mnist(device="cpu", val_size=None)
    assert len(splits.train.labels) == 60_000 and splits.train.labels.bincount().tolist() == [6000] * 10


# --- the verdict is cached -------------------------------------------------------------------------------


def _counting_md5(monkeypatch) -> list[Path]:
    hashed = []
    original = checksums.file_md5

    def counting(path):
        hashed.append(Path(path))
        return original(path)

    monkeypatch.setattr(checksums, "file_md5", counting)
    return hashed


def test_verify_md5_hashes_once_per_size_and_mtime(monkeypatch, tmp_path):
    hashed = _counting_md5(monkeypatch)
    path = tmp_path / "file.bin"
    path.write_bytes(b"abc")
    md5 = hashlib.md5(b"abc").hexdigest()
    checksums.verify_md5(path, md5, "restore")
    checksums.verify_md5(path, md5, "restore")
    assert len(hashed) == 1  # the second call used the in-memory verdict
    monkeypatch.setattr(checksums, "_verified", set())  # as in a new process: the JSON file beside it answers
    checksums.verify_md5(path, md5, "restore")
    assert len(hashed) == 1 and (tmp_path / checksums.CACHE_NAME).is_file()
    path.write_bytes(b"abd")  # same size, new modification time: hashed again, and found corrupt
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(cnnlib.CorruptDataError, match="file.bin is corrupt.*MD5 sum is"):
        checksums.verify_md5(path, md5, "restore")
    assert len(hashed) == 2


def test_verify_md5_writes_no_cache_into_a_read_only_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(checksums.os, "access", lambda path, mode: False)
    path = tmp_path / "file.bin"
    path.write_bytes(b"abc")
    checksums.verify_md5(path, hashlib.md5(b"abc").hexdigest(), "restore")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


# --- offline, nothing is created ------------------------------------------------------------------------


def _offline(monkeypatch):
    def no_network(url, download_root, *args, **kwargs):
        os.makedirs(download_root, exist_ok=True)  # as torchvision's download_url does before it connects
        raise OSError("network is unreachable")

    for module in ("utils", "mnist", "cifar"):
        monkeypatch.setattr(f"torchvision.datasets.{module}.download_and_extract_archive", no_network)


@pytest.mark.parametrize("load, layout", [
    (lambda: cnnlib.fashion_mnist(device="cpu"), "FashionMNIST/raw/train-images-idx3-ubyte"),
    (lambda: cnnlib.mnist(device="cpu"), "MNIST/raw/t10k-labels-idx1-ubyte"),
    (lambda: cnnlib.cifar10(device="cpu"), "cifar-10-batches-py/data_batch_1"),
    (lambda: cnnlib.hymenoptera_dir(), "hymenoptera_data/{train,val}"),
])
def test_missing_data_offline_creates_no_folders(monkeypatch, tmp_path, load, layout):
    _offline(monkeypatch)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="CNNLIB_DATA") as error:
        load()
    assert layout in str(error.value) and "network is unreachable" in str(error.value)
    assert not (tmp_path / "data").exists()
    monkeypatch.delenv("CNNLIB_DATA")  # the default folder under the home directory stays uncreated too
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    with pytest.raises(FileNotFoundError):
        load()
    assert list((tmp_path / "home").iterdir()) == []


# --- MNIST and CIFAR-10, from files in their real formats ------------------------------------------------


def _idx(values: torch.Tensor) -> bytes:
    """An idx file: two zero bytes, type 0x08 (unsigned bytes), the number of dimensions, each size, the data."""
    header = bytes([0, 0, 0x08, values.ndim]) + b"".join(n.to_bytes(4, "big") for n in values.shape)
    return header + values.to(torch.uint8).numpy().tobytes()


def _write_mnist(raw: Path, n_train: int = 60, n_test: int = 20) -> dict[str, str]:
    g = torch.Generator().manual_seed(0)
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(torch.randint(0, 256, (n, 28, 28), generator=g)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(torch.arange(n) % 10))
    return {name: checksums.file_md5(raw / name) for name in IDX_FILES}


def test_mnist_loads_idx_files_and_checks_them(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    monkeypatch.setitem(data.MD5, "MNIST", _write_mnist(tmp_path / "MNIST" / "raw"))
    train, val, test = cnnlib.mnist(batch_size=16, device="cpu", val_size=12)
    assert (len(train.labels), len(val.labels), len(test.labels)) == (48, 12, 20)
    X, y = next(iter(test))
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32 and y.tolist() == [i % 10 for i in range(16)]
    assert train.classes == tuple("0123456789")
    # the pixels are those written, scaled to [0, 1]
    written = torch.frombuffer(bytearray((tmp_path / "MNIST/raw/t10k-images-idx3-ubyte").read_bytes()[16:]),
                               dtype=torch.uint8)
    assert torch.equal(test.images.flatten(), written)
    with open(tmp_path / "MNIST/raw/train-images-idx3-ubyte", "r+b") as f:
        f.seek(100)
        f.write(b"\xff\x00\xff")
    with pytest.raises(cnnlib.CorruptDataError, match="train-images-idx3-ubyte is corrupt.*MD5 sum"):
        cnnlib.mnist(device="cpu")


def test_mnist_downloads_through_torchvision_into_the_data_folder(monkeypatch, tmp_path):
    """Online, torchvision fetches the files (here: writes them) into a temporary folder; they then move."""
    source = tmp_path / "server"
    sums = _write_mnist(source)
    monkeypatch.setitem(data.MD5, "MNIST", sums)
    fetched = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        name = Path(filename).stem  # train-images-idx3-ubyte.gz -> train-images-idx3-ubyte
        fetched.append(Path(download_root))
        shutil.copyfile(source / name, Path(download_root) / name)

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", fake_download)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "data"))
    splits = cnnlib.mnist(device="cpu", val_size=None)
    assert len(splits.train.labels) == 60 and len(fetched) == 4
    assert not str(fetched[0]).startswith(str(tmp_path / "data"))  # downloaded elsewhere first
    assert {p.name for p in (tmp_path / "data/MNIST/raw").iterdir()} >= set(IDX_FILES)


def _write_cifar(folder: Path, per_batch: int = 8) -> dict[str, str]:
    """CIFAR-10's python layout: five pickled training batches, a test batch and batches.meta."""
    g = torch.Generator().manual_seed(0)
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        batch = {"batch_label": name, "labels": [(i + j) % 10 for j in range(per_batch)],
                 "data": torch.randint(0, 256, (per_batch, 3072), generator=g, dtype=torch.uint8).numpy(),
                 "filenames": [f"{name}_{j}.png" for j in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(data.CIFAR10_CLASSES)}, protocol=2))
    return {name: checksums.file_md5(folder / name) for name in [*names, "batches.meta"]}


def test_cifar10_loads_pickled_batches_and_checks_them(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    folder = tmp_path / "cifar-10-batches-py"
    monkeypatch.setitem(data.MD5, "CIFAR10", _write_cifar(folder))
    train, val, test = cnnlib.cifar10(batch_size=4, device="cpu", val_size=0.25)
    assert (len(train.labels), len(val.labels), len(test.labels)) == (30, 10, 8)
    X, y = next(iter(test))
    assert X.shape == (4, 3, 32, 32) and 0 <= X.min() and X.max() <= 1 and y.tolist() == [5, 6, 7, 8]
    first = pickle.loads((folder / "test_batch").read_bytes())["data"][0]  # channel-major: R plane, G, B
    assert torch.equal(test.images[0].flatten(), torch.from_numpy(first))
    assert test.classes[0] == "airplane" and len(test.classes) == 10
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:-10])
    with pytest.raises(cnnlib.CorruptDataError, match="data_batch_3 is corrupt.*MD5 sum"):
        cnnlib.cifar10(device="cpu")


def test_cifar10_checksums_are_torchvisions():
    from torchvision.datasets import CIFAR10

    sums = store._md5_sums("CIFAR10")
    assert sums["data_batch_1"] == dict(CIFAR10.train_list)["data_batch_1"] and len(sums) == 7


def test_check_idx_accepts_a_complete_file(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(_idx(torch.arange(5)))
    checksums.check_idx(path, "restore")
    path.write_bytes(_idx(torch.arange(5)) + b"\0")
    with pytest.raises(cnnlib.CorruptDataError, match="longer than its header says"):
        checksums.check_idx(path, "restore")


def test_bad_arguments_are_refused_before_any_download(monkeypatch, tmp_path):
    _offline(monkeypatch)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "data"))
    for load in (cnnlib.fashion_mnist, cnnlib.mnist, cnnlib.cifar10):
        with pytest.raises(ValueError, match="subset must be a positive number"):
            load(subset=0)
