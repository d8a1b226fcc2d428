"""ConvNeXt (Liu, Mao, Wu, Feichtenhofer, Darrell and Xie, 2022): a ResNet modernised one step at a time.

A patchify stem, four stages of ConvNeXt blocks (depthwise 7x7, LayerNorm over channels, an inverted
1x1 bottleneck with one GELU, a learned per-channel scale), separate downsampling layers and a
LayerNorm before the classifier. ``convnext(config_or_name, in_channels, num_classes)`` builds every
variant; the named ImageNet ones have torchvision's layers and parameter counts, and
``load_torchvision_convnext`` loads a torchvision state dict into ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ._config import resolve_config
from ._weights import load_renamed


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor, separately at every pixel (ConvNeXt's norm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.normalized_shape[0]:
            raise ValueError(f"LayerNorm2d({self.normalized_shape[0]}) expects (N, {self.normalized_shape[0]}, H, W), "
                             f"got {tuple(x.shape)}")
        x = x.permute(0, 2, 3, 1)  # channels last, so layer_norm normalises over them
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): in training, drop a whole residual branch per example with
    probability ``p`` and scale the kept ones by ``1 / (1 - p)``; the identity in evaluation."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty(x.shape[0], *([1] * (x.ndim - 1)), device=x.device, dtype=x.dtype).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class ConvNeXtBlock(nn.Module):
    """depthwise kxk -> LayerNorm -> 1x1 to 4C -> GELU -> 1x1 to C, scaled per channel, plus the input."""

    def __init__(self, channels: int, kernel_size: int = 7, layer_scale: float = 1e-6, drop_path: float = 0.0,
                 expansion: int = 4):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.dwconv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        # 1x1 convolutions written as Linear layers on channels-last pixels, as torchvision and the paper do
        self.pwconv1 = nn.Linear(channels, expansion * channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expansion * channels, channels)
        self.layer_scale = nn.Parameter(torch.full((channels, 1, 1), layer_scale))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dwconv(x).permute(0, 2, 3, 1)  # (N, H, W, C)
        out = self.pwconv2(self.act(self.pwconv1(self.norm(out)))).permute(0, 3, 1, 2)
        return x + self.drop_path(self.layer_scale * out)


@dataclass(frozen=True)
class ConvNeXtConfig:
    """A ConvNeXt layout: ``depths[i]`` blocks of ``dims[i]`` channels per stage.

    ``patch``: the stem's kernel and stride (4 for ImageNet: a 224 px image becomes 56x56 patches).
    ``stochastic_depth``: drop-path probability of the last block, rising linearly from 0 at the first.
    """

    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)
    kernel_size: int = 7
    patch: int = 4
    layer_scale: float = 1e-6
    stochastic_depth: float = 0.1

    def __post_init__(self):
        if len(self.depths) != len(self.dims) or not self.depths:
            raise ValueError(f"need one dim per stage: depths {self.depths}, dims {self.dims}")
        if any(d < 1 for d in self.depths) or any(c < 1 for c in self.dims):
            raise ValueError(f"depths and dims must be positive: {self.depths}, {self.dims}")
        if self.patch < 1:
            raise ValueError(f"patch must be positive, got {self.patch}")
        if not 0 <= self.stochastic_depth < 1:
            raise ValueError(f"stochastic_depth must be in [0, 1), got {self.stochastic_depth}")


CONFIGS: dict[str, ConvNeXtConfig] = {
    "convnext_tiny": ConvNeXtConfig((3, 3, 9, 3), (96, 192, 384, 768), stochastic_depth=0.1),
    "convnext_small": ConvNeXtConfig((3, 3, 27, 3), (96, 192, 384, 768), stochastic_depth=0.4),
    "convnext_base": ConvNeXtConfig((3, 3, 27, 3), (128, 256, 512, 1024), stochastic_depth=0.5),
    "convnext_large": ConvNeXtConfig((3, 3, 27, 3), (192, 384, 768, 1536), stochastic_depth=0.5),
    # For 28 px Fashion-MNIST: 2x2 patches (14x14), the last rung of chapter 17's ladder plus layer scale.
    "convnext-fashion-mnist": ConvNeXtConfig((1, 1, 3, 1), (24, 48, 96, 192), patch=2, stochastic_depth=0.0),
}


class ConvNeXt(nn.Module):
    """Patchify stem, stages of ConvNeXt blocks with downsampling layers between them, pooled LayerNorm head."""

    def __init__(self, config: ConvNeXtConfig, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        self.config, self.in_channels = config, in_channels
        dims = config.dims
        self.stem = nn.Sequential(nn.Conv2d(in_channels, dims[0], config.patch, stride=config.patch),
                                  LayerNorm2d(dims[0], eps=1e-6))
        total, done = sum(config.depths), 0
        self.stages, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, (depth, dim) in enumerate(zip(config.depths, dims)):
            if i:  # a separate downsampling layer: normalise, then a 2x2 stride-2 convolution to the new width
                self.downsample.append(nn.Sequential(LayerNorm2d(dims[i - 1], eps=1e-6),
                                                     nn.Conv2d(dims[i - 1], dim, 2, stride=2)))
            blocks = []
            for _ in range(depth):
                p = config.stochastic_depth * done / max(total - 1, 1)
                blocks.append(ConvNeXtBlock(dim, config.kernel_size, config.layer_scale, p))
                done += 1
            self.stages.append(nn.Sequential(*blocks))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(),
                                  nn.Linear(dims[-1], num_classes))
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ConvNeXt expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            if i:
                x = self.downsample[i - 1](x)
            x = stage(x)
        return self.head(x)


def convnext(config_or_name: ConvNeXtConfig | str = "convnext_tiny", in_channels: int = 3,
             num_classes: int = 1000) -> ConvNeXt:
    """A ConvNeXt from a ``ConvNeXtConfig`` or a name in ``CONFIGS`` (``"convnext_tiny"``: 28,589,128 parameters)."""
    return ConvNeXt(resolve_config(config_or_name, CONFIGS, ConvNeXtConfig, "ConvNeXt"), in_channels, num_classes)


def _torchvision_rules(config: ConvNeXtConfig) -> list[tuple[str, str]]:
    rules = [(r"^features\.0\.", "stem."), (r"^classifier\.0\.", "head.1."), (r"^classifier\.2\.", "head.3.")]
    block = {"0": "dwconv", "2": "norm", "3": "pwconv1", "5": "pwconv2"}
    for i in range(len(config.depths)):
        # torchvision: features = [stem, stage 0, down 1, stage 1, down 2, ...]
        rules.append((rf"^features\.{2 * i + 1}\.(\d+)\.layer_scale$", rf"stages.{i}.\1.layer_scale"))
        for theirs, ours in block.items():
            rules.append((rf"^features\.{2 * i + 1}\.(\d+)\.block\.{theirs}\.", rf"stages.{i}.\1.{ours}."))
        if i:
            rules.append((rf"^features\.{2 * i}\.", f"downsample.{i - 1}."))
    return rules


def load_torchvision_convnext(model: ConvNeXt, state_dict) -> ConvNeXt:
    """Load a ``torchvision.models`` ConvNeXt state dict into ``model``, strictly."""
    return load_renamed(model, state_dict, _torchvision_rules(model.config), "ConvNeXt")
