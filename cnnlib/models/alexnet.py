"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012): five convolutions, three dense layers, ReLU and dropout.

``alexnet(in_channels, num_classes, config, dropout)`` builds three configurations of one layout:

- ``"torchvision"``: what ``torchvision.models.alexnet`` implements (channel widths 64-192-384-256-256,
  no local response normalisation, dropout on the inputs of the first two dense layers); same parameters.
- ``"paper"``: the 2012 paper (widths 96-256-384-384-256, local response normalisation after the first
  two convolutions, conv2/4/5 split into two groups as on the paper's two GPUs, dropout on the outputs
  of the first two dense layers).
- ``"fashion"``: the paper's widths in one group without normalisation, and a 5x5 final map at 224 px,
  as the Dive into Deep Learning version trained on upsampled Fashion-MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._config import resolve_config


@dataclass(frozen=True)
class AlexNetConfig:
    """What differs between the configurations.

    ``widths``: output channels of the five convolutions. ``first_padding``: padding of the 11x11
    stride-4 convolution. ``groups``: groups of conv2, conv4 and conv5 (2 = the paper's two-GPU split).
    ``pool_size``: the adaptive average pooling's output (the final map is resized to this; at 224 px it
    already has this size). ``dropout_on_features``: dropout before each hidden dense layer (torchvision)
    rather than after it (paper).
    """

    widths: tuple[int, int, int, int, int] = (64, 192, 384, 256, 256)
    first_padding: int = 2
    local_response_norm: bool = False
    groups: int = 1
    pool_size: int = 6
    hidden: int = 4096
    dropout_on_features: bool = True

    def __post_init__(self):
        if len(self.widths) != 5 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be five positive channel counts, got {self.widths}")
        if self.groups < 1 or any(w % self.groups for w in self.widths):
            raise ValueError(f"groups must be positive and divide every width, got {self.groups} for {self.widths}")
        if self.first_padding < 0 or self.pool_size < 1 or self.hidden < 1:
            raise ValueError(f"first_padding must be >= 0, pool_size and hidden positive: {self}")


CONFIGS: dict[str, AlexNetConfig] = {
    "torchvision": AlexNetConfig(),
    "paper": AlexNetConfig(widths=(96, 256, 384, 384, 256), local_response_norm=True, groups=2,
                           dropout_on_features=False),
    # Dive into Deep Learning's Fashion-MNIST AlexNet: padding 1 leaves a 5x5 map at 224 px (6400 features).
    "fashion": AlexNetConfig(widths=(96, 256, 384, 384, 256), first_padding=1, pool_size=5,
                             dropout_on_features=False),
}


def _local_response_norm() -> nn.LocalResponseNorm:
    # The paper's k=2, n=5, alpha=1e-4, beta=0.75. PyTorch divides alpha by n, the paper does not: pass 5 * 1e-4.
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    """``features`` (convolutions and max-pools), ``avgpool`` (adaptive), ``classifier`` (three dense layers)."""

    def __init__(self, config: AlexNetConfig, in_channels: int = 3, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config, self.in_channels = config, in_channels
        c1, c2, c3, c4, c5 = config.widths
        g = config.groups
        lrn = [_local_response_norm()] if config.local_response_norm else []
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=4, padding=config.first_padding), nn.ReLU(inplace=True), *lrn,
            nn.MaxPool2d(3, stride=2),  # overlapping pooling: 3x3 windows, stride 2
            nn.Conv2d(c1, c2, 5, padding=2, groups=g), nn.ReLU(inplace=True), *lrn,
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1, groups=g), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1, groups=g), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(config.pool_size)
        flat, hidden = c5 * config.pool_size ** 2, config.hidden
        if config.dropout_on_features:
            self.classifier = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"AlexNet expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        min_size = 67 - 2 * self.config.first_padding  # conv1 must leave 15x15 for the last max-pool to get 3x3
        if min(x.shape[-2:]) < min_size:
            raise ValueError(f"this AlexNet needs inputs of at least {min_size}x{min_size} px, "
                             f"got {tuple(x.shape[-2:])}")
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(in_channels: int = 3, num_classes: int = 1000, config: AlexNetConfig | str = "torchvision",
            dropout: float = 0.5) -> AlexNet:
    """AlexNet; ``config`` is ``"torchvision"``, ``"paper"``, ``"fashion"`` or an ``AlexNetConfig``."""
    config = resolve_config(config, CONFIGS, AlexNetConfig, "AlexNet configuration")
    return AlexNet(config, in_channels, num_classes, dropout)
