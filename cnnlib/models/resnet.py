"""ResNet (He, Zhang, Ren and Sun, 2015): stages of residual blocks, ``output = F(x) + shortcut(x)``.

``resnet(config_or_name, in_channels, num_classes)`` builds every variant from a ``ResNetConfig``.
The named ImageNet configurations have exactly torchvision's layers and parameter counts; the
ones with ``residual=False`` are the "plain" networks of the paper, the same layers without shortcuts.
The same config gives ResNeXt (Xie et al., 2017: ``groups``, the "cardinality" of the grouped 3x3) and
wide ResNets (Zagoruyko and Komodakis, 2016: a larger ``width_per_group``). ``load_torchvision_resnet``
loads a torchvision state dict into ours (our ``stem``/``shortcut``/``head`` are its ``conv1``+``bn1``,
``downsample`` and ``fc``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ._config import resolve_config
from ._weights import load_renamed


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut (ResNet-18/34). ``stride`` 2 halves height and width."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, residual: bool = True,
                 batch_norm: bool = True, groups: int = 1, width_per_group: int = 64):
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("BasicBlock has no grouped or widened version (as in torchvision): use "
                             f"block='bottleneck' for groups={groups}, width_per_group={width_per_group}")
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = _norm(channels, batch_norm)
        self.conv2 = nn.Conv2d(channels, out_channels, 3, padding=1, bias=not batch_norm)
        self.bn2 = _norm(out_channels, batch_norm)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_channels, out_channels, stride, batch_norm) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) plus a shortcut (ResNet-50 and deeper).

    As in torchvision ("ResNet v1.5"), the stride sits on the 3x3 convolution, not on the first 1x1.
    ResNeXt splits the 3x3 into ``groups`` convolutions of ``width_per_group * channels / 64`` channels each;
    a wide ResNet keeps one group and doubles ``width_per_group``. The output stays ``4 * channels``.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, residual: bool = True,
                 batch_norm: bool = True, groups: int = 1, width_per_group: int = 64):
        super().__init__()
        out_channels = channels * self.expansion
        width = int(channels * (width_per_group / 64.0)) * groups  # torchvision's formula
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=not batch_norm)
        self.bn1 = _norm(width, batch_norm)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=not batch_norm)
        self.bn2 = _norm(width, batch_norm)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=not batch_norm)
        self.bn3 = _norm(out_channels, batch_norm)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_channels, out_channels, stride, batch_norm) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


def _shortcut(in_channels: int, out_channels: int, stride: int, batch_norm: bool) -> nn.Module:
    """Identity when shapes match; otherwise a strided 1x1 projection (the paper's option B)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not batch_norm),
                         _norm(out_channels, batch_norm))


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


@dataclass(frozen=True)
class ResNetConfig:
    """A ResNet layout.

    ``layers[i]`` blocks of width ``widths[i]`` per stage; every stage after the first starts with
    stride 2. ``stem``: ``"imagenet"`` (7x7 stride-2 convolution and 3x3 stride-2 max-pool: /4) or
    ``"small"`` (one 3x3 stride-1 convolution, for 28-32 px inputs). ``groups`` and ``width_per_group``
    shape the bottleneck's 3x3 (ResNeXt, wide ResNet); the defaults 1 and 64 give the plain bottleneck.
    """

    block: str = "basic"
    layers: tuple[int, ...] = (2, 2, 2, 2)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem: str = "imagenet"
    residual: bool = True
    batch_norm: bool = True
    groups: int = 1
    width_per_group: int = 64

    def __post_init__(self):
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {sorted(BLOCKS)}, got {self.block!r}")
        if self.stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {self.stem!r}")
        if len(self.layers) != len(self.widths) or not self.layers:
            raise ValueError(f"need one width per stage: layers {self.layers}, widths {self.widths}")
        if any(n < 1 for n in self.layers) or any(w < 1 for w in self.widths):
            raise ValueError(f"layers and widths must be positive: {self.layers}, {self.widths}")
        if self.groups < 1 or self.width_per_group < 1:
            raise ValueError(f"groups and width_per_group must be positive, got {self.groups}, {self.width_per_group}")
        if self.block == "basic" and (self.groups, self.width_per_group) != (1, 64):
            raise ValueError("groups and width_per_group need block='bottleneck' (as in torchvision)")


CONFIGS: dict[str, ResNetConfig] = {
    "resnet18": ResNetConfig("basic", (2, 2, 2, 2)),
    "resnet34": ResNetConfig("basic", (3, 4, 6, 3)),
    "resnet50": ResNetConfig("bottleneck", (3, 4, 6, 3)),
    "resnet101": ResNetConfig("bottleneck", (3, 4, 23, 3)),
    "resnet152": ResNetConfig("bottleneck", (3, 8, 36, 3)),
    # ResNeXt (Xie et al., 2017), named "depth_groups x width": 32 groups of 4 channels in layer1's 3x3.
    "resnext50_32x4d": ResNetConfig("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4),
    "resnext101_32x8d": ResNetConfig("bottleneck", (3, 4, 23, 3), groups=32, width_per_group=8),
    "resnext101_64x4d": ResNetConfig("bottleneck", (3, 4, 23, 3), groups=64, width_per_group=4),
    # Wide ResNets (Zagoruyko and Komodakis, 2016), torchvision's bottleneck version: the 3x3s twice as wide.
    "wide_resnet50_2": ResNetConfig("bottleneck", (3, 4, 6, 3), width_per_group=128),
    "wide_resnet101_2": ResNetConfig("bottleneck", (3, 4, 23, 3), width_per_group=128),
    # The paper's plain baselines: the same layers, no shortcuts.
    "plain18": ResNetConfig("basic", (2, 2, 2, 2), residual=False),
    "plain34": ResNetConfig("basic", (3, 4, 6, 3), residual=False),
    # For Fashion-MNIST at its native 28 px: a 3x3 stride-1 stem and no max-pool, so layer1 sees 28x28,
    # about what the ImageNet stem leaves of a 96 px input (24x24). The chapter's 96 px model is "resnet18".
    "resnet18-small": ResNetConfig("basic", (2, 2, 2, 2), stem="small"),
}


class ResNet(nn.Module):
    """Stem, stages of residual blocks, global average pooling and one linear layer."""

    def __init__(self, config: ResNetConfig, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        self.config, self.in_channels = config, in_channels
        width, bn = config.widths[0], config.batch_norm
        if config.stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=not bn),
                                      _norm(width, bn), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=not bn),
                                      _norm(width, bn), nn.ReLU(inplace=True))
        block = BLOCKS[config.block]
        channels = width
        for i, (count, stage_width) in enumerate(zip(config.layers, config.widths), 1):
            blocks = []
            for j in range(count):
                stride = 2 if i > 1 and j == 0 else 1
                blocks.append(block(channels, stage_width, stride, config.residual, bn, config.groups,
                                    config.width_per_group))
                channels = stage_width * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.num_stages = len(config.layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        if bn:  # torchvision's initialisation (fit(init=...) may override the convolutions)
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNet expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.stem(x)
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.head(x)


def resnet(config_or_name: ResNetConfig | str, in_channels: int = 3, num_classes: int = 1000) -> ResNet:
    """A ResNet from a ``ResNetConfig`` or a name in ``CONFIGS`` (e.g. ``"resnet18"``)."""
    return ResNet(resolve_config(config_or_name, CONFIGS, ResNetConfig, "ResNet"), in_channels, num_classes)


def resnet18(in_channels: int = 3, num_classes: int = 1000, **changes) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2); keyword arguments change fields of its ``ResNetConfig``."""
    return resnet(replace(CONFIGS["resnet18"], **changes), in_channels, num_classes)


def resnet34(in_channels: int = 3, num_classes: int = 1000, **changes) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3); keyword arguments change fields of its ``ResNetConfig``."""
    return resnet(replace(CONFIGS["resnet34"], **changes), in_channels, num_classes)


def resnet50(in_channels: int = 3, num_classes: int = 1000, **changes) -> ResNet:
    """ResNet-50 (bottleneck blocks 3-4-6-3); keyword arguments change fields of its ``ResNetConfig``."""
    return resnet(replace(CONFIGS["resnet50"], **changes), in_channels, num_classes)


#: torchvision's ResNet key names -> ours (first matching rule wins).
TORCHVISION_RULES = ((r"^conv1\.", "stem.0."), (r"^bn1\.", "stem.1."), (r"\.downsample\.", ".shortcut."),
                     (r"^fc\.", "head.2."))


def load_torchvision_resnet(model: ResNet, state_dict) -> ResNet:
    """Load a ``torchvision.models`` ResNet/ResNeXt/wide ResNet state dict into ``model``, strictly."""
    return load_renamed(model, state_dict, TORCHVISION_RULES, "ResNet")
