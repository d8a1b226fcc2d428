"""Network in Network (Lin, Chen and Yan, 2013): 1x1 convolutions as per-pixel MLPs, global average pooling.

``nin(in_channels, num_classes, blocks, dropout)`` builds the Dive into Deep Learning NiN that the course
trains on 224 px Fashion-MNIST: three NiN blocks with AlexNet's kernel sizes and widths (96, 256, 384),
each followed by an overlapping 3x3 max-pool, dropout, and a last NiN block with one output channel per
class, averaged over the whole map. There are no dense layers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

# (out_channels, kernel_size, stride, padding) of the NiN blocks before the classifying block.
BLOCKS: tuple[tuple[int, int, int, int], ...] = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1))


class NiNBlock(nn.Sequential):
    """A k x k convolution and two 1x1 convolutions, each followed by ReLU: a small MLP at every position."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        if min(in_channels, out_channels, kernel_size, stride) < 1 or padding < 0:
            raise ValueError(f"channels, kernel_size and stride must be positive and padding >= 0, got "
                             f"{in_channels}, {out_channels}, {kernel_size}, {stride}, {padding}")
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(inplace=True))


def _last_size(size: int, blocks: Sequence[tuple[int, int, int, int]]) -> int:
    """Height (or width) of the map after the last max-pool, or 0 if some layer gets too small an input."""
    for _, kernel, stride, padding in blocks:
        if size + 2 * padding < kernel:
            return 0
        size = (size + 2 * padding - kernel) // stride + 1
        if size < 3:
            return 0
        size = (size - 3) // 2 + 1
    return size


class NiN(nn.Sequential):
    """NiN blocks and 3x3 stride-2 max-pools, dropout, a NiN block with ``num_classes`` channels, global average pooling."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 blocks: Sequence[tuple[int, int, int, int]] = BLOCKS, dropout: float = 0.5):
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not blocks or any(len(b) != 4 for b in blocks):
            raise ValueError(f"blocks must be a non-empty list of (out_channels, kernel, stride, padding), got {blocks}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for i, (out_channels, kernel, stride, padding) in enumerate(blocks, 1):
            layers[f"block{i}"] = NiNBlock(channels, out_channels, kernel, stride, padding)
            layers[f"pool{i}"] = nn.MaxPool2d(3, stride=2)
            channels = out_channels
        layers["dropout"] = nn.Dropout(dropout)
        layers[f"block{len(blocks) + 1}"] = NiNBlock(channels, num_classes, 3, 1, 1)
        layers["gap"] = nn.AdaptiveAvgPool2d(1)  # global average pooling: one number per class map
        layers["flatten"] = nn.Flatten()
        super().__init__(layers)
        self.in_channels, self.blocks = in_channels, tuple(tuple(b) for b in blocks)
        self.min_size = next(s for s in range(1, 10_000) if _last_size(s, self.blocks) >= 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"NiN expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f"this NiN needs inputs of at least {self.min_size}x{self.min_size} px, "
                             f"got {tuple(x.shape[-2:])}")
        return super().forward(x)


def nin(in_channels: int = 1, num_classes: int = 10, blocks: Sequence[tuple[int, int, int, int]] = BLOCKS,
        dropout: float = 0.5) -> NiN:
    """NiN; ``blocks`` lists (out_channels, kernel, stride, padding) of the blocks before the classifying one."""
    return NiN(in_channels, num_classes, blocks, dropout)
