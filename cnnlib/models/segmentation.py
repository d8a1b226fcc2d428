"""Networks that label every pixel: a fully convolutional network and a small U-Net.

``fcn`` follows Long, Shelhamer and Darrell (2015): a classification backbone with no dense layers, a 1x1
convolution that scores every class at every position of its coarse map, and one transposed convolution,
initialised to bilinear interpolation, that brings the scores back to the input's size. ``unet`` follows
Ronneberger, Fischer and Brox (2015): an encoder that halves the size and doubles the channels, a decoder
that undoes it with 2x2 transposed convolutions, and skip connections that hand each decoder stage the
encoder's map of the same size. Both use padded convolutions and batch norm (the original U-Net used
unpadded ones and cropped), so the output has the input's height and width.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

#: Channels of the backbone's stages (FCN) or of the encoder's levels (U-Net); each stage halves the size.
FCN_WIDTHS: tuple[int, ...] = (16, 32, 64)
UNET_WIDTHS: tuple[int, ...] = (16, 32, 64, 128)


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions (padding 1), each followed by batch norm and ReLU: the stage of both networks."""

    def __init__(self, in_channels: int, out_channels: int):
        if min(in_channels, out_channels) < 1:
            raise ValueError(f"channels must be positive, got {in_channels}, {out_channels}")
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights (channels, channels, k, k) that make a transposed convolution upsample each channel bilinearly."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt = 1 - (og - center).abs() / factor
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt[:, None] * filt[None, :]
    return weight


def _check_widths(widths: Sequence[int], in_channels: int, num_classes: int) -> tuple[int, ...]:
    if in_channels < 1 or num_classes < 2:
        raise ValueError(f"in_channels must be positive and num_classes at least 2, got {in_channels}, {num_classes}")
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be a non-empty sequence of positive ints, got {widths!r}")
    return tuple(widths)


def _check_input(name: str, x: torch.Tensor, in_channels: int, multiple: int) -> None:
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{name} expects input of shape (N, {in_channels}, H, W), got {tuple(x.shape)}")
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(f"{name} halves the size {multiple.bit_length() - 1} times, so height and width must be "
                         f"multiples of {multiple}; got {tuple(x.shape[-2:])}")


class FCN(nn.Module):
    """A backbone of DoubleConv stages and 2x2 max-pools, a 1x1 classifier, and a bilinear-initialised
    transposed convolution back to the input size; the output is (N, num_classes, H, W)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 11, widths: Sequence[int] = FCN_WIDTHS):
        super().__init__()
        self.widths = _check_widths(widths, in_channels, num_classes)
        self.in_channels, self.scale = in_channels, 2 ** len(self.widths)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for i, width in enumerate(self.widths, 1):
            layers[f"stage{i}"] = DoubleConv(channels, width)
            layers[f"pool{i}"] = nn.MaxPool2d(2)
            channels = width
        self.backbone = nn.Sequential(layers)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        s = self.scale  # kernel 2s, stride s, padding s/2: exactly s times larger, bilinear to begin with
        self.upsample = nn.ConvTranspose2d(num_classes, num_classes, 2 * s, stride=s, padding=s // 2, bias=False)
        with torch.no_grad():
            self.upsample.weight.copy_(bilinear_kernel(num_classes, 2 * s))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("FCN", x, self.in_channels, self.scale)
        return self.upsample(self.classifier(self.backbone(x)))


class UNet(nn.Module):
    """An encoder of DoubleConv levels joined by 2x2 max-pools, a decoder of 2x2 transposed convolutions
    whose output is concatenated with the encoder's map of the same size, and a 1x1 classifier."""

    def __init__(self, in_channels: int = 1, num_classes: int = 11, widths: Sequence[int] = UNET_WIDTHS):
        super().__init__()
        self.widths = _check_widths(widths, in_channels, num_classes)
        if len(self.widths) < 2:
            raise ValueError(f"a U-Net needs at least two levels (widths), got {widths!r}")
        self.in_channels, self.scale = in_channels, 2 ** (len(self.widths) - 1)
        self.encoder = nn.ModuleList(DoubleConv(c_in, c_out) for c_in, c_out in
                                     zip((in_channels, *self.widths[:-1]), self.widths))
        self.pool = nn.MaxPool2d(2)
        pairs = list(zip(self.widths[::-1][:-1], self.widths[::-1][1:]))  # (deeper, shallower) channels
        self.up = nn.ModuleList(nn.ConvTranspose2d(deep, shallow, 2, stride=2) for deep, shallow in pairs)
        self.decoder = nn.ModuleList(DoubleConv(2 * shallow, shallow) for _, shallow in pairs)
        self.classifier = nn.Conv2d(self.widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("UNet", x, self.in_channels, self.scale)
        skips = []
        for i, stage in enumerate(self.encoder):
            x = stage(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, stage, skip in zip(self.up, self.decoder, reversed(skips[:-1])):
            x = stage(torch.cat([skip, up(x)], dim=1))  # the encoder's detail beside the decoder's context
        return self.classifier(x)


def fcn(in_channels: int = 1, num_classes: int = 11, widths: Sequence[int] = FCN_WIDTHS) -> FCN:
    """A small fully convolutional network (Long et al., 2015) for ``num_classes`` per-pixel classes."""
    return FCN(in_channels, num_classes, widths)


def unet(in_channels: int = 1, num_classes: int = 11, widths: Sequence[int] = UNET_WIDTHS) -> UNet:
    """A small U-Net (Ronneberger et al., 2015): ``len(widths)`` levels of the given channels."""
    return UNet(in_channels, num_classes, widths)
