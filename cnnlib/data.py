"""Datasets for the course: where they live, and batches that keep the accelerator busy.

Small datasets (Fashion-MNIST) are loaded once into tensors on the training device and shuffled there
each epoch, so training never waits for DataLoader workers. Image folders use a ``DataLoader``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

DATA_ENV = "CNNLIB_DATA"

FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)


def data_dir() -> Path:
    """Where datasets live: ``$CNNLIB_DATA`` if set, else ``~/.cache/cnnlib/data``."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "cnnlib" / "data"


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
        if labels.shape != images.shape[:1]:
            raise ValueError(f"need one label per image: {len(images)} images, labels of shape {tuple(labels.shape)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
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
            if order is None:
                X, y = self.images[start:start + self.batch_size], self.labels[start:start + self.batch_size]
            else:
                idx = order[start:start + self.batch_size]
                X, y = self.images[idx], self.labels[idx]
            X = X.float().div_(255) if X.dtype == torch.uint8 else X
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
    return (f"{name} is not under {root} and could not be downloaded"
            + (f" ({type(cause).__name__}: {cause})" if cause else "") + ".\n"
            f"Offline, set the environment variable {DATA_ENV} to a folder laid out as\n{layout}")


def _load_fashion_mnist_split(root: Path, train: bool):
    from torchvision.datasets import FashionMNIST

    try:
        return FashionMNIST(root=str(root), train=train, download=False)
    except RuntimeError:
        pass  # not on disk yet: try to download below
    try:
        return FashionMNIST(root=str(root), train=train, download=True)
    except Exception as error:  # no network, no permission, ...
        layout = (f"  {root}/FashionMNIST/raw/train-images-idx3-ubyte (and train-labels-idx1-ubyte,\n"
                  "  t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), as torchvision.datasets.FashionMNIST expects.")
        raise FileNotFoundError(_missing_data_message("Fashion-MNIST", root, layout, error)) from error


def fashion_mnist(batch_size: int = 256, resize: int | tuple[int, int] | None = None, subset: int | None = None,
                  device: torch.device | str | None = None, val_size: int | float | None = 1 / 12,
                  split_seed: int = 0) -> Splits:
    """Real Fashion-MNIST as ``Splits(train, val, test)``: 1-channel images in [0, 1] on ``device``.

    ``val_size`` examples (a count or a fraction; by default 1/12, i.e. 5,000 of the 60,000) are carved out
    of the training images with a fixed seed, so that choices made on ``val`` never see the test set.
    ``val_size=None`` keeps all training images and gives ``val=None`` (the old two-way split).
    ``resize`` upsamples images (e.g. to 224 for AlexNet); ``subset`` keeps only the first ``subset``
    training and test examples (for quick runs), before the split. The data comes from ``data_dir()``,
    downloaded there by torchvision when it is missing and the network allows.
    """
    from .device import get_device

    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive number of examples, got {subset}")
    device = get_device(device)
    root = data_dir()
    splits = []
    for train in (True, False):
        ds = _load_fashion_mnist_split(root, train)
        images, labels = ds.data, ds.targets
        if subset is not None:
            images, labels = images[:subset], labels[:subset]
        splits.append(TensorBatches(images.unsqueeze(1).to(device), labels.to(device), batch_size,
                                    shuffle=train, resize=resize, classes=FASHION_MNIST_CLASSES))
    train_batches, test_batches = splits
    if val_size is None:
        return Splits(train_batches, None, test_batches)
    train_batches, val_batches = train_batches.split(val_size, seed=split_seed)
    return Splits(train_batches, val_batches, test_batches)


def _require_image_folder(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no image folder at {path}: expected one sub-folder per class with images inside")
    return path


def image_folder(path: str | Path, transform=None, batch_size: int = 32, shuffle: bool = False,
                 num_workers: int | None = None, device: torch.device | str | None = None) -> DataLoader:
    """A ``DataLoader`` over a ``torchvision.datasets.ImageFolder`` (one sub-folder per class).

    Used for datasets of real photos that do not fit in device memory; ``pin_memory`` is on for CUDA.
    """
    from torchvision.datasets import ImageFolder

    from .device import get_device

    dataset = ImageFolder(str(_require_image_folder(path)), transform=transform)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      pin_memory=get_device(device).type == "cuda", persistent_workers=num_workers > 0)


HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"


def hymenoptera_dir(download: bool = True) -> Path:
    """The ants/bees transfer-learning set at ``data_dir()/hymenoptera_data`` (``train`` and ``val`` folders).

    Downloads and unpacks the PyTorch tutorial's zip there when it is missing and the network allows;
    otherwise raises ``FileNotFoundError`` saying how to lay the data out offline.
    """
    root = data_dir()
    path = root / "hymenoptera_data"
    if (path / "train").is_dir() and (path / "val").is_dir():
        return path
    error: BaseException | None = None
    if download:
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(HYMENOPTERA_URL, download_root=str(root), remove_finished=True)
        except Exception as exc:  # no network, no permission, ...
            error = exc
    if (path / "train").is_dir() and (path / "val").is_dir():
        return path
    layout = f"  {path}/{{train,val}}/{{ants,bees}}/*.jpg  (the PyTorch tutorial's {HYMENOPTERA_URL})"
    raise FileNotFoundError(_missing_data_message("The ants/bees data set", root, layout, error))
