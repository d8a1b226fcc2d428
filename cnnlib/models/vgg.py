"""VGG (Simonyan and Zisserman, 2014): blocks of 3x3 convolutions, each block ending in a 2x2 max-pool.

``vgg(config, in_channels, num_classes)`` builds any VGG from a list of ``(num_convs, out_channels)``
blocks or a name in ``CONFIGS``. Adaptive average pooling to 7x7 before the dense layers (as in
torchvision) makes it work for any input of at least 2**blocks pixels; at 224 px with five blocks the
map is already 7x7. The named ImageNet configurations have exactly torchvision's parameter counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._config import resolve_config

CONFIGS: dict[str, tuple[tuple[int, int], ...]] = {
    "vgg11": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),
    "vgg13": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),
    "vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
    "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),
    # For Fashion-MNIST (Dive into Deep Learning): VGG-11 with a quarter of the channels; dense layers unchanged.
    "vgg11-narrow": ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128)),
}


class VGGBlock(nn.Sequential):
    """``num_convs`` 3x3 convolutions (padding 1, each followed by ReLU), then a 2x2 max-pool: halves H and W."""

    def __init__(self, num_convs: int, in_channels: int, out_channels: int):
        if num_convs < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(f"num_convs, in_channels and out_channels must be positive, "
                             f"got {num_convs}, {in_channels}, {out_channels}")
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)]
            in_channels = out_channels
        layers.append(nn.MaxPool2d(2, stride=2))
        super().__init__(*layers)


class VGG(nn.Module):
    """``features`` (VGG blocks), ``avgpool`` (adaptive, to ``pool_size``), ``classifier`` (three dense layers)."""

    def __init__(self, config: Sequence[tuple[int, int]], in_channels: int = 3, num_classes: int = 1000,
                 hidden: int = 4096, dropout: float = 0.5, pool_size: int = 7):
        super().__init__()
        if in_channels < 1 or num_classes < 1 or hidden < 1 or pool_size < 1:
            raise ValueError(f"in_channels, num_classes, hidden and pool_size must be positive, "
                             f"got {in_channels}, {num_classes}, {hidden}, {pool_size}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config, self.in_channels = tuple(config), in_channels
        blocks, channels = [], in_channels
        for num_convs, out_channels in self.config:
            blocks.append(VGGBlock(num_convs, channels, out_channels))
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size ** 2, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"VGG expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        min_size = 2 ** len(self.config)  # every block halves the size
        if min(x.shape[-2:]) < min_size:
            raise ValueError(f"a VGG with {len(self.config)} blocks needs inputs of at least "
                             f"{min_size}x{min_size} px, got {tuple(x.shape[-2:])}")
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _check_config(config: object) -> tuple[tuple[int, int], ...]:
    if isinstance(config, str):
        return resolve_config(config, CONFIGS, None, "VGG")
    if not isinstance(config, Sequence) or not config:
        raise TypeError(f"config must be a name or a non-empty list of (num_convs, out_channels), got {config!r}")
    for block in config:
        if (not isinstance(block, Sequence) or len(block) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in block)):
            raise ValueError(f"each block must be (num_convs, out_channels) with positive integers, got {block!r}")
    return tuple((int(n), int(c)) for n, c in config)


def vgg(config: Sequence[tuple[int, int]] | str, in_channels: int = 3, num_classes: int = 1000,
        hidden: int = 4096, dropout: float = 0.5, pool_size: int = 7) -> VGG:
    """A VGG from a list of ``(num_convs, out_channels)`` blocks or a name in ``CONFIGS`` (e.g. ``"vgg16"``)."""
    return VGG(_check_config(config), in_channels, num_classes, hidden, dropout, pool_size)


def vgg11(in_channels: int = 3, num_classes: int = 1000, **kwargs) -> VGG:
    """VGG-11 (8 convolutions, 3 dense layers); keyword arguments go to ``vgg``."""
    return vgg("vgg11", in_channels, num_classes, **kwargs)


def vgg16(in_channels: int = 3, num_classes: int = 1000, **kwargs) -> VGG:
    """VGG-16 (13 convolutions, 3 dense layers); keyword arguments go to ``vgg``."""
    return vgg("vgg16", in_channels, num_classes, **kwargs)
