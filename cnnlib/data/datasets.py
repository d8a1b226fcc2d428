"""Fashion-MNIST, MNIST and CIFAR-10 as ``Splits`` of tensors on the training device."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import torch

from .batches import Splits, TensorBatches, check_batch_size
from .store import _verified_folder, data_dir

FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _splits(load: Callable[[bool], tuple[torch.Tensor, torch.Tensor]], classes: tuple[str, ...], batch_size: int,
            resize: int | tuple[int, int] | None, subset: int | None, device: torch.device | str | None,
            val_size: int | float | None, split_seed: int) -> Splits:
    """``Splits`` from ``load(train)``, which gives uint8 images (N, C, H, W) and their labels on the CPU."""
    from ..device import get_device

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
