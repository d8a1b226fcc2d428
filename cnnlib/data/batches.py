"""Mini-batches served from tensors already on the device, and the train/validation/test split."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F


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
