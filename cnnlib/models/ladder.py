"""Chapter 17's ladder from a ResNet to a ConvNeXt, at Fashion-MNIST scale: one network, one design change a rung.

``LadderConfig`` holds every switch the ConvNeXt paper (Liu et al., 2022) turns, one field each;
``LADDER`` lists the rungs in the paper's order, each as the fields it changes; ``ladder_configs()``
applies them cumulatively. ``ladder_net(config)`` builds any rung. The first rung is a bottleneck ResNet
with a 2x-downsampling stem for 28 px images; the last has the layout of ``convnext("convnext-fashion-mnist")``
without layer scale and the head's LayerNorm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from .convnext import LayerNorm2d


@dataclass(frozen=True)
class LadderConfig:
    """One rung. ``widths``: each stage's block output; ``inner_ratio``: the block's inner width over its output
    (0.25: ResNet's bottleneck, 4: the inverted bottleneck); ``groups``: of the kxk convolution (0: depthwise)."""

    depths: tuple[int, ...] = (1, 2, 2, 1)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem_channels: int = 16
    stem: str = "resnet"  # "resnet": 3x3 stride-2 conv + norm + act (overlapping); "patchify": 2x2 stride 2
    inner_ratio: float = 0.25
    groups: int = 1
    kernel_size: int = 3
    spatial_first: bool = False  # the kxk convolution first in the block ("moved up"), before the 1x1s
    act: str = "relu"
    fewer_acts: bool = False  # one activation per block, between the two 1x1 convolutions
    fewer_norms: bool = False  # one norm per block, after the kxk convolution
    norm: str = "bn"  # "bn" or "ln" (LayerNorm over channels)
    separate_downsampling: bool = False  # norm + 2x2 stride-2 conv between stages instead of strided blocks

    def __post_init__(self):
        if len(self.depths) != len(self.widths) or not self.depths:
            raise ValueError(f"need one width per stage: depths {self.depths}, widths {self.widths}")
        if self.stem not in ("resnet", "patchify"):
            raise ValueError(f"stem must be 'resnet' or 'patchify', got {self.stem!r}")
        if self.act not in ("relu", "gelu") or self.norm not in ("bn", "ln"):
            raise ValueError(f"act must be 'relu' or 'gelu' and norm 'bn' or 'ln', got {self.act!r}, {self.norm!r}")
        if (self.fewer_acts or self.fewer_norms) and not self.spatial_first:
            raise ValueError("fewer_acts and fewer_norms follow the ConvNeXt layout: set spatial_first=True first")
        if self.separate_downsampling and self.stem_channels != self.widths[0]:
            raise ValueError("separate_downsampling needs stem_channels == widths[0] (the blocks keep their width)")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "bn" else LayerNorm2d(channels, eps=1e-6)


def _act(kind: str) -> nn.Module:
    return nn.ReLU(inplace=True) if kind == "relu" else nn.GELU()


class LadderBlock(nn.Module):
    """A residual block with every ladder switch: bottleneck or inverted, grouped/depthwise kxk in the middle
    or first, one or all activations and norms; a projection shortcut where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, c: LadderConfig):
        super().__init__()
        inner = max(1, int(out_channels * c.inner_ratio))
        k = c.kernel_size
        if c.spatial_first:  # kxk on the input's channels, then 1x1 up to inner, 1x1 down to out
            shapes = [(in_channels, in_channels, k, stride, in_channels if c.groups == 0 else c.groups),
                      (in_channels, inner, 1, 1, 1), (inner, out_channels, 1, 1, 1)]
            norms_after = [0] if c.fewer_norms else [0, 1, 2]
            acts_after = [1] if c.fewer_acts else [0, 1]
        else:  # ResNet's order: 1x1 to inner, kxk (grouped), 1x1 to out
            shapes = [(in_channels, inner, 1, 1, 1), (inner, inner, k, stride, inner if c.groups == 0 else c.groups),
                      (inner, out_channels, 1, 1, 1)]
            norms_after, acts_after = [0, 1, 2], [0, 1]
        layers = []
        for i, (c_in, c_out, kernel, s, groups) in enumerate(shapes):
            conv = nn.Conv2d(c_in, c_out, kernel, s, kernel // 2, groups=groups, bias=False)
            if i not in norms_after:  # no norm after it, so no shift: give it a bias, starting at zero
                conv.bias = nn.Parameter(torch.zeros(c_out))
            layers.append(conv)
            if i in norms_after:
                layers.append(_norm(c.norm, c_out))
            if i in acts_after:
                layers.append(_act(c.act))
        self.branch = nn.Sequential(*layers)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          _norm(c.norm, out_channels))
        self.post_act = nn.Identity() if c.fewer_acts else _act(c.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post_act(self.branch(x) + self.shortcut(x))


class LadderNet(nn.Module):
    """Stem, stages of ``LadderBlock`` (with downsampling layers between them or strided first blocks), head."""

    def __init__(self, config: LadderConfig, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        c = self.config = config
        if c.stem == "resnet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c.stem_channels, 3, 2, 1, bias=False),
                                      _norm(c.norm, c.stem_channels), _act(c.act))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c.stem_channels, 2, 2),
                                      *([_norm(c.norm, c.stem_channels)] if c.separate_downsampling else []))
        layers, channels = [], c.stem_channels
        for i, (depth, width) in enumerate(zip(c.depths, c.widths)):
            if i and c.separate_downsampling:
                layers.append(nn.Sequential(_norm(c.norm, channels), nn.Conv2d(channels, width, 2, 2)))
                channels = width
            for j in range(depth):
                stride = 2 if i and j == 0 and not c.separate_downsampling else 1
                layers.append(LadderBlock(channels, width, stride, c))
                channels = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


#: The rungs in the paper's order: (name, the fields it changes). Rung 1 changes the training recipe only.
LADDER: tuple[tuple[str, dict], ...] = (
    ("ResNet, plain SGD", {}),
    ("+ training recipe (chapter 15)", {}),
    ("stage ratio 1:1:3:1", {"depths": (1, 1, 3, 1)}),
    ("patchify stem", {"stem": "patchify"}),
    ("depthwise 3x3", {"groups": 0}),
    ("wider (16 -> 24 inner channels)", {"widths": (96, 192, 384, 768), "stem_channels": 24}),
    ("inverted bottleneck", {"widths": (24, 48, 96, 192), "inner_ratio": 4.0}),
    ("depthwise conv moved up", {"spatial_first": True}),
    ("kernel 7x7", {"kernel_size": 7}),
    ("ReLU -> GELU", {"act": "gelu"}),
    ("fewer activations", {"fewer_acts": True}),
    ("fewer norms", {"fewer_norms": True}),
    ("BN -> LN", {"norm": "ln"}),
    ("separate downsampling", {"separate_downsampling": True}),
)

#: The paper's ImageNet-1k top-1 (%) after each rung (Liu et al., 2022, Figure 2; ResNet-50 / ConvNeXt-T).
PAPER_TOP1 = (76.1, 78.8, 79.4, 79.5, 78.3, 80.5, 80.6, 79.9, 80.6, 80.6, 81.3, 81.4, 81.5, 82.0)


def ladder_configs(base: LadderConfig | None = None) -> list[tuple[str, LadderConfig]]:
    """Every rung's (name, config), each change applied on top of the rungs before it."""
    config, out = base or LadderConfig(), []
    for name, changes in LADDER:
        config = replace(config, **changes)
        out.append((name, config))
    return out


def ladder_net(config: LadderConfig | int, in_channels: int = 1, num_classes: int = 10) -> LadderNet:
    """The network of a ``LadderConfig``, or of rung number ``config`` (0 to 13)."""
    if isinstance(config, int):
        if not 0 <= config < len(LADDER):
            raise ValueError(f"rung must be between 0 and {len(LADDER) - 1}, got {config}")
        config = ladder_configs()[config][1]
    if not isinstance(config, LadderConfig):
        raise TypeError(f"expected a LadderConfig or a rung number, got {type(config).__name__}")
    return LadderNet(config, in_channels, num_classes)
