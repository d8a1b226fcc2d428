"""Datasets for the course: where they live, and batches that keep the accelerator busy.

Small datasets (Fashion-MNIST, MNIST, CIFAR-10) are checked against their published MD5 sums, loaded once
into tensors on the training device and shuffled there each epoch, so training never waits for DataLoader
workers. Image folders use a ``DataLoader``.
"""

from __future__ import annotations

import numbers
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from . import distributed
from .checksums import check_idx, verify_md5

DATA_ENV = "CNNLIB_DATA"

FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def data_dir() -> Path:
    """Where datasets live: ``$CNNLIB_DATA`` if set, else ``~/.cache/cnnlib/data``. A file there is an error."""
    configured = os.environ.get(DATA_ENV)
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "cnnlib" / "data"
    if root.exists() and not root.is_dir():  # else every dataset would be reported missing
        why = f"${DATA_ENV}={configured!r}" if configured else f"the default data folder ({DATA_ENV} is not set)"
        raise NotADirectoryError(f"{why} is a file, not a folder: point {DATA_ENV} to the folder that holds "
                                 "the datasets")
    return root


def check_batch_size(batch_size: object) -> int:
    """``batch_size`` if it is a positive int; a float (2.5) or a bool (True) is refused, not rounded."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"batch_size must be a positive int, got {batch_size!r} ({type(batch_size).__name__})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return int(batch_size)


class TensorBatches:
    """Mini-batches served from tensors that already sit on the device.

    Iterating gives ``(images, labels)`` pairs; with ``shuffle=True`` the order is a fresh random
    permutation drawn on the device each epoch. ``resize`` upsamples each batch on the fly, so the
    stored tensors keep their small native size.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool = False,
                 resize: int | tuple[int, int] | None = None, classes: tuple[str, ...] = ()):
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if labels.shape[:1] != images.shape[:1]:  # one label, or one mask (segmentation), per image
            raise ValueError(f"need one label per image: {len(images)} images, labels of shape {tuple(labels.shape)}")
        batch_size = check_batch_size(batch_size)
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle = batch_size, shuffle
        self.resize = (resize, resize) if isinstance(resize, int) else resize
        self.classes = classes

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: torch.device | str) -> TensorBatches:
        """The same batches, served from ``device``."""
        device = torch.device(device)
        if device == self.device:
            return self
        return TensorBatches(self.images.to(device), self.labels.to(device), self.batch_size, self.shuffle,
                             self.resize, self.classes)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def _subset(self, index: torch.Tensor, shuffle: bool) -> TensorBatches:
        index = index.to(self.device)
        return TensorBatches(self.images[index], self.labels[index], self.batch_size, shuffle, self.resize,
                             self.classes)

    def split(self, val_size: int | float, seed: int = 0) -> tuple[TensorBatches, TensorBatches]:
        """Carve a validation set out of these examples: ``(rest, val)``, disjoint, the same on every run.

        ``val_size`` is a number of examples or a fraction in (0, 1). The split is drawn with its own
        generator seeded by ``seed``, so the global seed (the one that varies between runs) never moves it.
        The validation batches are not shuffled.
        """
        n_val = validation_count(len(self.labels), val_size)
        order = torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(seed))
        return self._subset(order[n_val:].sort().values, self.shuffle), self._subset(order[:n_val].sort().values, False)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = torch.randperm(n, device=self.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            idx = slice(start, start + self.batch_size) if order is None else order[start:start + self.batch_size]
            X, y = self.images[idx], self.labels[idx]
            X = X.float().div_(255) if X.dtype == torch.uint8 else X
            y = y.long() if y.dtype == torch.uint8 else y  # masks are stored as bytes
            if self.resize is not None and tuple(X.shape[-2:]) != self.resize:
                X = F.interpolate(X, size=self.resize, mode="bilinear", align_corners=False)
            yield X, y

    def __repr__(self) -> str:
        size = self.resize or tuple(self.images.shape[-2:])
        return (f"TensorBatches({len(self.labels)} examples of {self.images.shape[1]}x{size[0]}x{size[1]}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, device={self.device})")


def validation_count(n: int, val_size: int | float) -> int:
    """How many of ``n`` examples a validation split of ``val_size`` (a count, or a fraction in (0, 1)) takes."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise TypeError(f"val_size must be a number of examples or a fraction, got {val_size!r}")
    if isinstance(val_size, float):
        if not 0 < val_size < 1:
            raise ValueError(f"a fractional val_size must lie strictly between 0 and 1, got {val_size}")
        count = round(val_size * n)
    else:
        count = val_size
    if count < 1:
        raise ValueError(f"val_size={val_size!r} leaves no validation examples out of {n}")
    if count >= n:
        raise ValueError(f"val_size={val_size!r} asks for {count} validation examples, but there are only {n} "
                         "training examples: the validation set must be smaller than the training set")
    return count


class Splits(NamedTuple):
    """Training, validation and test batches. ``val`` is ``None`` when no validation set was carved out."""

    train: TensorBatches
    val: TensorBatches | None
    test: TensorBatches


def _missing_data_message(name: str, root: Path, layout: str, cause: BaseException | None) -> str:
    """Say which folder was searched (and why that one), what belongs in it, and how to choose another."""
    why = f"from ${DATA_ENV}" if os.environ.get(DATA_ENV) else f"the default, as ${DATA_ENV} is not set"
    return (f"{name} is not under {root} ({why}) and could not be downloaded"
            + (f" ({type(cause).__name__}: {cause})" if cause else "") + ".\n"
            f"Put the files there, laid out as\n{layout}\n"
            f"or set the environment variable {DATA_ENV} to another folder laid out the same way.")


# MD5 sums of the decompressed idx files that torchvision extracts from the archives listed, with their own
# sums, in torchvision.datasets.MNIST.resources and FashionMNIST.resources. CIFAR-10's come straight from
# torchvision.datasets.CIFAR10 (its sums cover the extracted batch files), filled in on first use.
MD5: dict[str, dict[str, str]] = {
    "MNIST": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def _md5_sums(dataset: str) -> dict[str, str]:
    if dataset == "CIFAR10" and dataset not in MD5:
        from torchvision.datasets import CIFAR10

        MD5[dataset] = {name: md5 for name, md5 in CIFAR10.train_list + CIFAR10.test_list}
        MD5[dataset][CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
    return MD5[dataset]


def _download(root: Path, fetch: Callable[[Path], object], paths: list[str], name: str, layout: str) -> None:
    """Download with ``fetch(folder)`` into a temporary folder, then move ``paths`` (relative) under ``root``.

    Only a finished download creates anything under ``root``: offline, nothing is left behind.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="cnnlib-download-") as tmp:
            fetch(Path(tmp))
            for relative in paths:
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(Path(tmp) / relative), str(root / relative))
    except Exception as error:  # no network, no permission, ...
        raise FileNotFoundError(_missing_data_message(name, root, layout, error)) from error


def _verified_folder(dataset: str, name: str, folder: str, fetch: Callable[[Path], object]) -> Path:
    """``data_dir()/folder``, holding every file of ``dataset`` with its published MD5 sum.

    Missing files are downloaded first; a file that is there but wrong raises ``CorruptDataError``.
    """
    root = data_dir()
    where, sums = root / folder, _md5_sums(dataset)
    layout = "\n".join(f"  {where / file}" for file in sums)
    missing = [f"{folder}/{file}" for file in sums if not (where / file).is_file()]
    if missing:
        _download(root, fetch, missing, name, layout)
    for file, md5 in sums.items():
        restore = (f"To restore it, delete it and load {name} again online (torchvision downloads a fresh copy), "
                   f"or copy a good {file} into {where}.")
        if file.endswith("-ubyte"):
            check_idx(where / file, restore)
        verify_md5(where / file, md5, restore)
    return where


def _splits(load: Callable[[bool], tuple[torch.Tensor, torch.Tensor]], classes: tuple[str, ...], batch_size: int,
            resize: int | tuple[int, int] | None, subset: int | None, device: torch.device | str | None,
            val_size: int | float | None, split_seed: int) -> Splits:
    """``Splits`` from ``load(train)``, which gives uint8 images (N, C, H, W) and their labels on the CPU."""
    from .device import get_device

    check_batch_size(batch_size)  # before any file is read
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive number of examples, got {subset}")
    device = get_device(device)
    splits = []
    for train in (True, False):
        images, labels = load(train)
        if subset is not None:
            images, labels = images[:subset], labels[:subset]
        splits.append(TensorBatches(images.to(device), labels.to(device), batch_size, shuffle=train,
                                    resize=resize, classes=classes))
    train_batches, test_batches = splits
    if val_size is None:
        return Splits(train_batches, None, test_batches)
    train_batches, val_batches = train_batches.split(val_size, seed=split_seed)
    return Splits(train_batches, val_batches, test_batches)


def _idx_loader(dataset: str, name: str) -> Callable[[bool], tuple[torch.Tensor, torch.Tensor]]:
    """``load(train)`` for MNIST or Fashion-MNIST, read by torchvision after the files were verified."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, dataset)

    def load(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        _verified_folder(dataset, name, f"{dataset}/raw", lambda tmp: cls(root=str(tmp), train=True, download=True))
        ds = cls(root=str(data_dir()), train=train, download=False)
        return ds.data.unsqueeze(1), ds.targets

    return load


def fashion_mnist(batch_size: int = 256, resize: int | tuple[int, int] | None = None, subset: int | None = None,
                  device: torch.device | str | None = None, val_size: int | float | None = 1 / 12,
                  split_seed: int = 0) -> Splits:
    """Real Fashion-MNIST as ``Splits(train, val, test)``: 1-channel 28x28 images in [0, 1] on ``device``.

    ``val_size`` examples (a count or a fraction; by default 1/12, i.e. 5,000 of the 60,000) are carved out
    of the training images with their own seed ``split_seed``, so that choices made on ``val`` never see
    the test set; ``val_size=None`` gives ``val=None``. ``resize`` upsamples images (e.g. to 224 for
    AlexNet); ``subset`` keeps only the first ``subset`` training and test examples (for quick runs), before
    the split. The files come from ``data_dir()``, downloaded there by torchvision when missing and the
    network allows, and are checked against their published MD5 sums before first use: a bad file raises
    ``CorruptDataError`` naming it.
    """
    return _splits(_idx_loader("FashionMNIST", "Fashion-MNIST"), FASHION_MNIST_CLASSES, batch_size, resize,
                   subset, device, val_size, split_seed)


def mnist(batch_size: int = 256, resize: int | tuple[int, int] | None = None, subset: int | None = None,
          device: torch.device | str | None = None, val_size: int | float | None = 1 / 12,
          split_seed: int = 0) -> Splits:
    """Handwritten digits (MNIST) as ``Splits(train, val, test)``; arguments and checks as for ``fashion_mnist``.

    By default 5,000 of the 60,000 training images (1/12) form ``val``. Needs a network the first time.
    """
    return _splits(_idx_loader("MNIST", "MNIST"), MNIST_CLASSES, batch_size, resize, subset, device, val_size,
                   split_seed)


def cifar10(batch_size: int = 256, resize: int | tuple[int, int] | None = None, subset: int | None = None,
            device: torch.device | str | None = None, val_size: int | float | None = 0.1,
            split_seed: int = 0) -> Splits:
    """CIFAR-10 as ``Splits(train, val, test)``: 3-channel 32x32 colour images in [0, 1] on ``device``.

    Arguments and checks as for ``fashion_mnist``; by default 5,000 of the 50,000 training images (1/10)
    form ``val``. Needs a network the first time.
    """
    from torchvision.datasets import CIFAR10

    def load(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        folder = _verified_folder("CIFAR10", "CIFAR-10", CIFAR10.base_folder,
                                  lambda tmp: CIFAR10(root=str(tmp), train=True, download=True))
        images, labels = [], []
        for file, _ in CIFAR10.train_list if train else CIFAR10.test_list:
            with open(folder / file, "rb") as f:
                batch = pickle.load(f, encoding="latin1")  # safe: its MD5 sum was checked above
            images.append(torch.as_tensor(batch["data"], dtype=torch.uint8).reshape(-1, 3, 32, 32))
            labels += batch["labels"]
        return torch.cat(images), torch.tensor(labels, dtype=torch.long)

    return _splits(load, CIFAR10_CLASSES, batch_size, resize, subset, device, val_size, split_seed)


def _require_image_folder(path: str | Path) -> Path:
    """``path`` as a Path, if it is a folder whose sub-folders can all be listed.

    ``ImageFolder`` (through ``os.walk``) silently skips a folder it may not read, so it would look empty.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no image folder at {path}: expected one sub-folder per class with images inside")
    errors: list[OSError] = []
    for _ in os.walk(path, onerror=errors.append, followlinks=True):
        if errors:
            break
    if errors:
        error = errors[0]
        denied = isinstance(error, PermissionError)
        why = f"permission denied: fix it with chmod -R u+rX {path}" if denied else f"{type(error).__name__}: {error}"
        raise (PermissionError if denied else OSError)(
            f"cannot read the folder {error.filename} ({why}); ImageFolder would take it for an empty folder"
        ) from error
    return path


def load_image(path: str):
    """Open an image as RGB with PIL, like torchvision's default loader, but with errors that name the file.

    16-bit greyscale images (PIL mode I;16, e.g. 16-bit PNGs) are scaled to 8 bits by 255/65535, so they
    come out in [0, 1] like any other image instead of saturating at 255; 32-bit ones (I, F) are refused.
    """
    from PIL import Image

    try:
        with open(path, "rb") as file:
            image = Image.open(file)
            if image.mode.startswith("I;16"):
                levels = np.asarray(image).astype(np.float64)  # 0..65535
                image = Image.fromarray(np.round(levels / 257).astype(np.uint8))  # 65535 / 255 = 257
            elif image.mode in ("I", "F"):
                raise ValueError(f"it is a 32-bit image (PIL mode {image.mode}), whose range is unknown: "
                                 "convert it to 8 or 16 bits")
            return image.convert("RGB")
    except Exception as error:  # PIL raises several kinds (OSError, SyntaxError, ...), most without the path
        raise OSError(f"cannot read the image {path} ({type(error).__name__}: {error}); "
                      "cnnlib.transfer.audit_image_folder lists every file that will not load") from error


def image_folder(path: str | Path, transform=None, batch_size: int = 32, shuffle: bool = False,
                 num_workers: int | None = None, device: torch.device | str | None = None) -> DataLoader:
    """A ``DataLoader`` over a ``torchvision.datasets.ImageFolder`` (one sub-folder per class).

    Used for datasets of real photos that do not fit in device memory; ``pin_memory`` is on for CUDA.
    Under torchrun each process loads its share through a ``DistributedSampler`` (``batch_size`` stays the
    global batch; ``fit`` calls ``set_epoch``), which repeats up to N-1 images so every share is equally long.
    """
    from torchvision.datasets import ImageFolder

    from .device import get_device

    check_batch_size(batch_size)
    dataset = ImageFolder(str(_require_image_folder(path)), transform=transform, loader=load_image)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    sampler, batch_size = distributed.sampler(dataset, batch_size, shuffle)  # (None, batch_size) in one process
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=num_workers,
                      pin_memory=get_device(device).type == "cuda", persistent_workers=num_workers > 0)


HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"


def hymenoptera_dir(download: bool = True) -> Path:
    """The ants/bees transfer-learning set at ``data_dir()/hymenoptera_data`` (``train`` and ``val`` folders).

    Downloads and unpacks the PyTorch tutorial's zip there when it is missing and the network allows;
    otherwise raises ``FileNotFoundError`` saying how to lay the data out offline.
    """
    root = data_dir()
    path = root / "hymenoptera_data"
    missing = [f"hymenoptera_data/{part}" for part in ("train", "val") if not (path / part).is_dir()]
    if not missing:
        return path
    layout = f"  {path}/{{train,val}}/{{ants,bees}}/*.jpg  (the PyTorch tutorial's {HYMENOPTERA_URL})"
    if not download:
        raise FileNotFoundError(_missing_data_message("The ants/bees data set", root, layout, None))
    from torchvision.datasets.utils import download_and_extract_archive

    _download(root, lambda tmp: download_and_extract_archive(HYMENOPTERA_URL, download_root=str(tmp),
                                                             remove_finished=True),
              missing, "The ants/bees data set", layout)
    return path
