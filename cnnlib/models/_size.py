"""The smallest input a network can take: each downsampling layer needs a window's worth of pixels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _first(value) -> int:
    return value if isinstance(value, int) else value[0]


def window_count(n: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """How many windows a convolution or pooling fits along an axis of ``n`` pixels (PyTorch's rule).

    With ``ceil_mode`` a last, partial window counts if it starts inside the input or its left padding.
    """
    span = dilation * (kernel - 1) + 1
    if not ceil_mode:
        return (n + 2 * padding - span) // stride + 1
    out = -(-(n + 2 * padding - span) // stride) + 1
    return out - 1 if (out - 1) * stride >= n + padding else out


def _output_length(layer: nn.Module, n: int) -> int:
    """Output length along one axis of a square ``Conv2d``, ``MaxPool2d`` or ``AvgPool2d`` on ``n`` pixels."""
    k = _first(layer.kernel_size)
    return window_count(n, k, _first(layer.stride) if layer.stride else k, _first(layer.padding),
                        _first(getattr(layer, "dilation", 1)), getattr(layer, "ceil_mode", False))


def smallest_input(layers: Sequence[nn.Module], limit: int = 4096) -> int:
    """The fewest pixels per side for which every layer in ``layers`` (in order) still has an output."""
    for n in range(1, limit + 1):
        size = n
        for layer in layers:
            size = _output_length(layer, size)
            if size < 1:
                break
        else:
            return n
    raise ValueError(f"no input up to {limit} pixels per side fits these layers")


def check_input(x: torch.Tensor, model: str, in_channels: int, minimum: int) -> None:
    """A clear error when ``x`` is not ``(N, in_channels, H, W)`` with ``H, W >= minimum``."""
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{model} expects input of shape (N, {in_channels}, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < minimum:
        raise ValueError(f"{model} needs images of at least {minimum}x{minimum} pixels (its downsampling layers "
                         f"would leave nothing of a smaller one), got {x.shape[-2]}x{x.shape[-1]}: "
                         "resize the input, e.g. fashion_mnist(resize=96)")
