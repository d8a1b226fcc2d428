"""Chapter 00's check: the mean image of one class, computed here so the check cell shows no answer."""

from __future__ import annotations

from typing import Any

import torch

from .core import check_answer


def _class_mean(images: torch.Tensor, labels: torch.Tensor, label: int) -> torch.Tensor:
    """Mean of the images of ``label`` in [0, 1], summed in float64 one image at a time (not the one-liner)."""
    images, labels = images.detach().cpu(), labels.detach().cpu()
    total, count = torch.zeros(images.shape[1:], dtype=torch.float64), 0
    for index in torch.nonzero(labels == label).flatten().tolist():
        total += images[index].double()
        count += 1
    if count == 0:
        raise ValueError(f"no training image has label {label}")
    return total / (255.0 * count)


def check_class_mean(mean_image: Any, train: Any, label: int = 5, name: str = "mean_sandal") -> bool:
    """Check ``mean_image``: the mean of the training images of class ``label`` as floats in [0, 1], shape (1, 28, 28).

    ``train`` is the training split (``cnnlib.fashion_mnist``'s first result). The reference is computed
    here, in float64, and never printed; the tolerance (1e-5) only allows float32 rounding.
    """
    if not hasattr(train, "images") or not hasattr(train, "labels"):
        raise TypeError(f"train must be the training split with .images and .labels, got {type(train).__name__}")
    if isinstance(mean_image, torch.Tensor) and mean_image.is_floating_point() and mean_image.numel() \
            and float(mean_image.detach().max()) > 1.5:
        raise AssertionError(f"{name} has values up to {float(mean_image.detach().max()):.1f}: the pixels should be "
                             "in [0, 1]. Divide the uint8 pixels by 255.")
    return check_answer(name, mean_image, _class_mean(train.images, train.labels, label),
                        "select with train.labels == 5, convert with .float() / 255, average over dim 0", atol=1e-5)
