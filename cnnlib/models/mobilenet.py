"""MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov and Chen, 2018) and squeeze-and-excitation (Hu, Shen and Sun, 2018).

``InvertedResidual`` is chapter 13's MBConv in torchvision's form (PyTorch padding, batch-norm defaults),
with an optional ``SqueezeExcitation`` after the depthwise convolution, as in EfficientNet-B0 (the Lite
variants of chapter 13 drop it). ``mobilenet_v2()`` has torchvision's layers, names and parameter count
(3,504,872 with 1000 classes), so torchvision's state dict loads into it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SqueezeExcitation(nn.Module):
    """Reweight channels by a gate computed from the whole image: pool, 1x1 down, ReLU, 1x1 up, sigmoid, scale.

    Names as in ``torchvision.ops.SqueezeExcitation`` (``fc1``, ``fc2``), so its weights load unchanged.
    """

    def __init__(self, channels: int, squeeze_channels: int):
        super().__init__()
        if channels < 1 or squeeze_channels < 1:
            raise ValueError(f"channels and squeeze_channels must be positive, got {channels}, {squeeze_channels}")
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))  # (N, C, 1, 1)
        return x * gate


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                act: bool = True) -> nn.Sequential:
    """Convolution (no bias), batch norm and ReLU6: torchvision's ``Conv2dNormActivation`` for MobileNetV2."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups,
                        bias=False), nn.BatchNorm2d(out_channels)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand with a 1x1 (skipped when ``expand_ratio`` is 1), filter with a depthwise 3x3, optionally
    squeeze-and-excite, project with a linear 1x1; add the input when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int,
                 se_ratio: float | None = None):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if expand_ratio < 1:
            raise ValueError(f"expand_ratio must be at least 1, got {expand_ratio}")
        hidden = round(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1))
        layers.append(conv_bn_act(hidden, hidden, 3, stride, groups=hidden))
        if se_ratio is not None:
            layers.append(SqueezeExcitation(hidden, max(1, int(in_channels * se_ratio))))
        layers += [nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


#: MobileNetV2's stages (Sandler et al., 2018, Table 2): expansion t, output channels c, blocks n, first stride s.
MOBILENET_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor``, never more than 10% below ``value`` (torchvision's rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class MobileNetV2(nn.Module):
    """Stem (3x3 stride 2), stages of inverted residuals, 1x1 to 1280 channels, pooling, dropout, classifier.

    ``features`` and ``classifier`` index their layers as torchvision does.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3,
                 stages: Sequence[tuple[int, int, int, int]] = MOBILENET_V2_STAGES, dropout: float = 0.2):
        super().__init__()
        if num_classes < 1 or in_channels < 1 or width_mult <= 0:
            raise ValueError(f"num_classes, in_channels and width_mult must be positive, got "
                             f"{num_classes}, {in_channels}, {width_mult}")
        self.in_channels = in_channels
        channels = _make_divisible(32 * width_mult)
        self.last_channels = _make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [conv_bn_act(in_channels, channels, 3, 2)]
        for t, c, n, s in stages:
            out = _make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        layers.append(conv_bn_act(channels, self.last_channels, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channels, num_classes))
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"MobileNetV2 expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3) -> MobileNetV2:
    """MobileNetV2 (3,504,872 parameters at width 1.0 with 1000 classes, as torchvision's)."""
    return MobileNetV2(num_classes, width_mult, in_channels)
