"""Chapter 17's checks: a grouped convolution without ``groups=``, group norm from scratch, a ConvNeXt block's
parameters by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, check, check_answer
from .guard import NO_LIBRARY_CONV, NO_LIBRARY_NORM


def _ref_grouped_conv2d(X: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    return F.conv2d(X.double(), weight.double(), groups=groups)


def check_grouped_conv2d(fn: Callable, n_random: int = 8, seed: int = 0,
                         forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, weight, groups)``: X (N, C, H, W), weight (O, C / groups, kh, kw) -> (N, O, H', W'), no padding,
    stride 1; the same as ``F.conv2d(X, weight, groups=groups)``, written without library convolutions."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(1, 2, 2, 2), torch.tensor([[[[1.0]]], [[[-1.0]]]]), 2),  # each filter sees its own channel
             (_ramp(1, 2, 3, 3), torch.ones(1, 2, 2, 2), 1),  # one group: an ordinary convolution
             (_ramp(1, 4, 2, 3), torch.stack([_ramp(2, 1, 2), -_ramp(2, 1, 2)]), 2),
             (_ramp(1, 4, 3, 3) / 10, _ramp(4, 2, 2, 2) / 10, 2)]  # two filters per group
    for _ in range(n_random):
        groups = _randint(g, 1, 4)
        C, O = groups * _randint(g, 1, 3), groups * _randint(g, 1, 3)
        H, W = _randint(g, 2, 6), _randint(g, 2, 6)
        kh, kw = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(_randint(g, 1, 2), C, H, W, generator=g),
                      torch.randn(O, C // groups, kh, kw, generator=g), groups))
    return check(fn, _ref_grouped_conv2d, cases, forbid=forbid)


def _ref_group_norm(X, num_groups, gamma, beta, eps=1e-5):
    return F.group_norm(X.double(), num_groups, gamma.double(), beta.double(), eps)


def check_group_norm(fn: Callable, n_random: int = 8, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_NORM) -> bool:
    """Check ``fn(X, num_groups, gamma, beta, eps=1e-5)``: normalise each example over each group of channels
    (biased variance), then scale and shift per channel; the same as ``F.group_norm``."""
    g = torch.Generator().manual_seed(seed)
    cases = [Case((torch.tensor([[[[1.0, 3.0]]]]), 1, torch.ones(1), torch.zeros(1))),
             Case((_ramp(1, 2, 1, 2), 2, torch.ones(2), torch.zeros(2))),  # groups separate the channels
             Case((_ramp(1, 2, 1, 2), 1, torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]))),
             Case((_ramp(2, 2, 1, 2) ** 2, 1, torch.ones(2), torch.zeros(2))),  # each example on its own
             Case((_ramp(1, 4, 1, 2), 2, torch.ones(4), torch.zeros(4)), {"eps": 0.5})]
    for i in range(n_random):
        groups = _randint(g, 1, 3)
        C = groups * _randint(g, 1, 3)
        X = 2 * torch.randn(_randint(g, 1, 3), C, _randint(g, 1, 4), _randint(g, 1, 4), generator=g) + 1
        cases.append(Case((X, groups, 1 + 0.5 * torch.randn(C, generator=g), 0.5 * torch.randn(C, generator=g)),
                          {"eps": (1e-5, 1e-3)[i % 2]}))
    return check(fn, _ref_group_norm, cases, atol=1e-4, rtol=1e-4, forbid=forbid)


def check_convnext_block_params(convnext_block_params: Any, channels: int = 96, kernel_size: int = 7) -> bool:
    """Grade the parameter count of ``ConvNeXtBlock(channels, kernel_size)``, counted by hand; the check counts the
    real block's parameters."""
    from ..models.convnext import ConvNeXtBlock

    block = ConvNeXtBlock(channels, kernel_size)
    expected = sum(p.numel() for p in block.parameters())
    return check_answer("convnext_block_params", convnext_block_params, expected,
                        "add the depthwise convolution (weights and biases), the LayerNorm (scale and shift), the "
                        "two 1x1 layers written as Linear (4x wider in between, with biases) and the layer scale")
