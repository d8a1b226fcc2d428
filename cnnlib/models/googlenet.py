"""GoogLeNet (Szegedy et al., 2014): a stem, nine Inception blocks, global average pooling.

``googlenet(in_channels, num_classes, aux_logits, variant)`` builds three variants of one layout:

- ``"torchvision"``: what ``torchvision.models.googlenet`` implements (batch norm after every convolution,
  a 3x3 kernel in the branch the paper gives a 5x5, dropout 0.2); same parameter count.
- ``"paper"``: the 2014 paper (no batch norm, a real 5x5 branch, local response normalisation in the stem,
  dropout 0.4).
- ``"fashion-mnist"``: the paper's blocks without local response normalisation and dropout, as the
  Dive into Deep Learning version trained on 96 px Fashion-MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ._config import resolve_config
from ._size import check_input, smallest_input


@dataclass(frozen=True)
class GoogLeNetVariant:
    """What differs between the variants: normalisation, the "5x5" branch's kernel, dropout."""

    batch_norm: bool
    branch3_kernel: int  # the kernel of the branch that the paper calls "5x5"
    local_response_norm: bool
    dropout: float


VARIANTS: dict[str, GoogLeNetVariant] = {
    "torchvision": GoogLeNetVariant(batch_norm=True, branch3_kernel=3, local_response_norm=False, dropout=0.2),
    "paper": GoogLeNetVariant(batch_norm=False, branch3_kernel=5, local_response_norm=True, dropout=0.4),
    "fashion-mnist": GoogLeNetVariant(batch_norm=False, branch3_kernel=5, local_response_norm=False, dropout=0.0),
}

# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of each Inception block, as in the paper's Table 1.
INCEPTION_CONFIG: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class ConvReLU(nn.Sequential):
    """A convolution followed by batch norm (optional) and ReLU; padding keeps the size for odd kernels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 batch_norm: bool = False):
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                             padding=kernel_size // 2, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels, eps=0.001))  # torchvision's eps
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Inception(nn.Module):
    """Four parallel branches whose outputs are concatenated along the channels.

    1x1; 1x1 reduce then 3x3; 1x1 reduce then 5x5 (``branch3_kernel``); 3x3 max-pool then 1x1 projection.
    Every branch keeps height and width, so the output has ``c1 + c3 + c5 + pool_proj`` channels.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int,
                 pool_proj: int, batch_norm: bool = False, branch3_kernel: int = 5):
        super().__init__()
        if branch3_kernel % 2 == 0:
            raise ValueError(f"branch3_kernel must be odd to keep the size, got {branch3_kernel}")
        self.branch1 = ConvReLU(in_channels, c1, 1, batch_norm=batch_norm)
        self.branch2 = nn.Sequential(ConvReLU(in_channels, c3_reduce, 1, batch_norm=batch_norm),
                                     ConvReLU(c3_reduce, c3, 3, batch_norm=batch_norm))
        self.branch3 = nn.Sequential(ConvReLU(in_channels, c5_reduce, 1, batch_norm=batch_norm),
                                     ConvReLU(c5_reduce, c5, branch3_kernel, batch_norm=batch_norm))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     ConvReLU(in_channels, pool_proj, 1, batch_norm=batch_norm))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """An auxiliary classifier on an intermediate feature map (4a and 4d), used only during training."""

    def __init__(self, in_channels: int, num_classes: int, batch_norm: bool = False, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)  # the paper: 5x5 average pooling, stride 3 (14x14 -> 4x4)
        self.conv = ConvReLU(in_channels, 128, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet with auxiliary classifiers returns in training mode."""

    logits: torch.Tensor
    aux_logits2: torch.Tensor
    aux_logits1: torch.Tensor


class GoogLeNet(nn.Module):
    """The 22-layer GoogLeNet. With ``aux_logits``, training mode returns ``GoogLeNetOutputs``."""

    def __init__(self, variant: GoogLeNetVariant, in_channels: int = 3, num_classes: int = 1000,
                 aux_logits: bool = False):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        bn, lrn = variant.batch_norm, variant.local_response_norm
        self.in_channels, self.aux_logits = in_channels, aux_logits
        self.conv1 = ConvReLU(in_channels, 64, 7, stride=2, batch_norm=bn)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.norm1 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else nn.Identity()
        self.conv2 = ConvReLU(64, 64, 1, batch_norm=bn)
        self.conv3 = ConvReLU(64, 192, 3, batch_norm=bn)
        self.norm2 = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, sizes in INCEPTION_CONFIG.items():
            setattr(self, name, Inception(*sizes, batch_norm=bn, branch3_kernel=variant.branch3_kernel))
            if name == "inception3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            elif name == "inception4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.aux1 = InceptionAux(512, num_classes, bn) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, bn) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(variant.dropout)
        self.fc = nn.Linear(1024, num_classes)
        self.min_input_size = smallest_input([self.conv1[0], self.maxpool1, self.maxpool2, self.maxpool3,
                                              self.maxpool4])

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        check_input(x, "GoogLeNet", self.in_channels, self.min_input_size)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.norm2(self.conv3(self.conv2(self.norm1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        if aux1 is not None:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


def googlenet(in_channels: int = 3, num_classes: int = 1000, aux_logits: bool = False,
              variant: str | GoogLeNetVariant = "torchvision") -> GoogLeNet:
    """GoogLeNet; ``variant`` is ``"torchvision"``, ``"paper"``, ``"fashion-mnist"`` or a ``GoogLeNetVariant``."""
    variant = resolve_config(variant, VARIANTS, GoogLeNetVariant, "GoogLeNet variant")
    return GoogLeNet(variant, in_channels, num_classes, aux_logits)
