"""DenseNet (Huang, Liu, van der Maaten and Weinberger, 2017): each layer sees the concatenation of all before it.

A dense block of ``n`` layers with growth rate ``k`` turns ``c`` channels into ``c + n * k``; a transition
layer (1x1 convolution and 2x2 average pooling) then shrinks channels (by ``compression``) and size.
``densenet(config_or_name, in_channels, num_classes)`` builds every variant from a ``DenseNetConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._config import resolve_config
from ._size import check_input, smallest_input


class DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 making ``growth_rate`` new channels; with ``bottleneck_width`` (DenseNet-B),
    a BN-ReLU-conv1x1 to ``bottleneck_width * growth_rate`` channels comes first."""

    def __init__(self, in_channels: int, growth_rate: int, bottleneck_width: int | None = None,
                 drop_rate: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        if bottleneck_width is not None:
            inner = bottleneck_width * growth_rate
            layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, inner, 1, bias=False)]
            channels = inner
        layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                   nn.Conv2d(channels, growth_rate, 3, padding=1, bias=False)]
        if drop_rate > 0:
            layers.append(nn.Dropout(drop_rate))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # only the new features; the block concatenates them


class DenseBlock(nn.Module):
    """``num_layers`` dense layers; each gets all earlier feature maps concatenated on the channels."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bottleneck_width: int | None = None,
                 drop_rate: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck_width, drop_rate)
            for i in range(num_layers))
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 to ``out_channels``, then 2x2 average pooling (halves height and width)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.AvgPool2d(2, stride=2))


@dataclass(frozen=True)
class DenseNetConfig:
    """A DenseNet layout: ``block_layers[i]`` layers in dense block ``i``, a 7x7 stride-2 stem with
    ``stem_channels`` and a max-pool, transitions that keep ``compression`` of the channels."""

    growth_rate: int = 32
    block_layers: tuple[int, ...] = (6, 12, 24, 16)
    stem_channels: int = 64
    bottleneck_width: int | None = 4
    compression: float = 0.5
    drop_rate: float = 0.0

    def __post_init__(self):
        if self.growth_rate < 1 or self.stem_channels < 1 or not self.block_layers:
            raise ValueError(f"growth_rate, stem_channels and block_layers must be positive: {self}")
        if any(n < 1 for n in self.block_layers):
            raise ValueError(f"every dense block needs at least one layer, got {self.block_layers}")
        if not 0 < self.compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {self.compression}")
        if self.bottleneck_width is not None and self.bottleneck_width < 1:
            raise ValueError(f"bottleneck_width must be positive or None, got {self.bottleneck_width}")
        channels = self.stem_channels
        for i, num_layers in enumerate(self.block_layers[:-1], 1):
            channels += num_layers * self.growth_rate
            if int(channels * self.compression) < 1:
                raise ValueError(f"compression={self.compression} keeps none of the {channels} channels after dense "
                                 f"block {i} (int({channels} * {self.compression}) = 0): use a larger compression")
            channels = int(channels * self.compression)


CONFIGS: dict[str, DenseNetConfig] = {
    "densenet121": DenseNetConfig(32, (6, 12, 24, 16), 64, bottleneck_width=4),
    "densenet169": DenseNetConfig(32, (6, 12, 32, 32), 64, bottleneck_width=4),
    # Dive into Deep Learning's size for 96 px Fashion-MNIST: 4 blocks of 4 plain 3x3 layers, no bottleneck.
    "densenet-fashion-mnist": DenseNetConfig(32, (4, 4, 4, 4), 64, bottleneck_width=None),
}


class DenseNet(nn.Module):
    """Stem, dense blocks separated by transitions, BN-ReLU, global average pooling, one linear layer."""

    def __init__(self, config: DenseNetConfig, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        self.config, self.in_channels = config, in_channels
        channels = config.stem_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        self.num_blocks = len(config.block_layers)
        for i, num_layers in enumerate(config.block_layers, 1):
            block = DenseBlock(num_layers, channels, config.growth_rate, config.bottleneck_width, config.drop_rate)
            setattr(self, f"dense{i}", block)
            channels = block.out_channels
            if i < self.num_blocks:
                out = int(channels * config.compression)
                setattr(self, f"transition{i}", Transition(channels, out))
                channels = out
        self.head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(channels, num_classes))
        self.out_channels = channels
        pools = [self.stem[0], self.stem[3]] + [getattr(self, f"transition{i}")[3] for i in range(1, self.num_blocks)]
        self.min_input_size = smallest_input(pools)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "DenseNet", self.in_channels, self.min_input_size)
        x = self.stem(x)
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"dense{i}")(x)
            if i < self.num_blocks:
                x = getattr(self, f"transition{i}")(x)
        return self.head(x)


def densenet(config_or_name: DenseNetConfig | str, in_channels: int = 3, num_classes: int = 1000) -> DenseNet:
    """A DenseNet from a ``DenseNetConfig`` or a name in ``CONFIGS`` (e.g. ``"densenet121"``)."""
    return DenseNet(resolve_config(config_or_name, CONFIGS, DenseNetConfig, "DenseNet"), in_channels, num_classes)


def densenet121(in_channels: int = 3, num_classes: int = 1000) -> DenseNet:
    """DenseNet-121 (growth 32, blocks 6-12-24-16, bottleneck 4k, compression 0.5), as torchvision builds it."""
    return densenet("densenet121", in_channels, num_classes)
