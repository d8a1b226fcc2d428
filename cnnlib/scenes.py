"""A segmentation set the course ships offline: real Fashion-MNIST garments placed on a larger canvas.

Each scene is a ``size`` x ``size`` greyscale image holding a few garments at random places (later ones
cover earlier ones), with a mask that gives every pixel its class: 0 for background, 1 + the Fashion-MNIST
class for a pixel a garment painted (one whose brightness reaches ``threshold``). Training scenes are built
from Fashion-MNIST's training images and test scenes from its test images, so no garment is in both.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import FASHION_MNIST_CLASSES, Splits, TensorBatches, check_batch_size
from .data.datasets import _idx_loader, _splits

SCENE_CLASSES = ("background", *FASHION_MNIST_CLASSES)


def compose_scenes(garments: torch.Tensor, labels: torch.Tensor, count: int, size: int = 64,
                   per_scene: tuple[int, int] = (2, 4), threshold: int = 32, seed: int | tuple[int, ...] = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` scenes drawn from uint8 ``garments`` (N, 1, h, w) with their ``labels``: (images, masks).

    Images are uint8 (count, 1, size, size); masks uint8 (count, size, size), 0 for background and
    ``1 + label`` where a garment's pixel is at least ``threshold``. The same ``seed`` gives the same scenes.
    """
    if garments.ndim != 4 or garments.shape[1] != 1 or garments.dtype != torch.uint8:
        raise ValueError(f"garments must be uint8 images of shape (N, 1, h, w), got {garments.dtype} "
                         f"{tuple(garments.shape)}")
    if labels.shape != garments.shape[:1]:
        raise ValueError(f"need one label per garment: {len(garments)} garments, labels {tuple(labels.shape)}")
    h, w = garments.shape[-2:]
    if size < max(h, w):
        raise ValueError(f"the canvas ({size} px) must be at least as large as a garment ({h}x{w})")
    low, high = per_scene
    if not 1 <= low <= high:
        raise ValueError(f"per_scene must be (least, most) garments with 1 <= least <= most, got {per_scene}")
    if count < 1:
        raise ValueError(f"count must be a positive number of scenes, got {count}")
    if not 0 < threshold <= 255:
        raise ValueError(f"threshold must lie in 1..255 (a uint8 brightness), got {threshold}")
    rng = np.random.default_rng(seed)
    source, classes = garments[:, 0].numpy(), labels.numpy().astype(np.uint8) + 1
    images = np.zeros((count, size, size), np.uint8)
    masks = np.zeros((count, size, size), np.uint8)
    for n in range(count):
        for k in rng.choice(len(source), size=rng.integers(low, high + 1), replace=False):
            top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
            garment = source[k]
            painted = garment >= threshold  # the garment's own pixels
            images[n, top:top + h, left:left + w][painted] = garment[painted]
            masks[n, top:top + h, left:left + w][painted] = classes[k]
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(masks)


def fashion_scenes(batch_size: int = 32, n_train: int = 6000, n_test: int = 1000, size: int = 64,
                   per_scene: tuple[int, int] = (2, 4), seed: int = 0, device: torch.device | str | None = None,
                   val_size: int | float | None = 1 / 12, split_seed: int = 0) -> Splits:
    """Garment scenes as ``Splits(train, val, test)``: images (N, 1, size, size) in [0, 1], masks (N, size, size).

    ``n_train`` scenes come from Fashion-MNIST's training images and ``n_test`` from its test images; the
    validation scenes are carved out of the training ones as in ``fashion_mnist`` (``val_size``,
    ``split_seed``). ``seed`` fixes the scenes. Classes: ``SCENE_CLASSES`` (0 is background).
    """
    check_batch_size(batch_size)
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive number of scenes, got {value!r}")
    load_garments = _idx_loader("FashionMNIST", "Fashion-MNIST")

    def load(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        garments, labels = load_garments(train)
        # different seeds for the two sets, so that equal counts never give matching layouts
        return compose_scenes(garments, labels, n_train if train else n_test, size, per_scene,
                              seed=(seed, int(train)))

    return _splits(load, SCENE_CLASSES, batch_size, None, None, device, val_size, split_seed)


def scene_batches(images: torch.Tensor, masks: torch.Tensor, batch_size: int = 32, shuffle: bool = False
                  ) -> TensorBatches:
    """Batches of given scene images (N, 1, H, W) and masks (N, H, W), e.g. from ``compose_scenes``."""
    if masks.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"masks must have shape (N, H, W) = {(images.shape[0], *images.shape[2:])} to match "
                         f"the images {tuple(images.shape)}, got {tuple(masks.shape)}")
    return TensorBatches(images, masks, batch_size, shuffle=shuffle, classes=SCENE_CLASSES)
