"""Chapter 12's checks (the first used in chapter 05 too): the receptive field of a stack of layers; one large
kernel against a stack of 3x3 layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from .core import _randint, check


def _ref_receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """Measured on a stack of real convolutions, so the reference does not rely on the formula."""
    from torch import nn

    from ..inspect import receptive_field

    # No field exceeds 1 + (sum of kernel spans) * (product of strides): an input twice that size holds it.
    bound = 1 + math.prod(s for _, s, _ in layers) * sum((k - 1) * d for k, _, d in layers)
    # One-pixel-wide kernels on a 3-pixel-wide image keep this cheap even for large fields.
    stack = nn.Sequential(*(nn.Conv2d(1, 1, (k, 1), (s, 1), dilation=(d, 1)) for k, s, d in layers))
    return receptive_field(stack, (1, 2 * bound + 9, 3))[0]


#: Measuring a field on real layers is the library's answer, not the formula: refused.
NO_MEASURING = ("cnnlib.receptive_field", "cnnlib.inspect", "F.conv2d", "F.conv1d")


def check_receptive_field(fn: Callable, n_random: int = 12, seed: int = 0, dilation: bool = True,
                          forbid: Iterable[str] = NO_MEASURING) -> bool:
    """Check ``fn(layers)``: the receptive field size of a stack of (kernel, stride, dilation) layers, or of
    (kernel, stride) layers with ``dilation=False``. Running convolutions (to measure the field) is refused."""
    g = torch.Generator().manual_seed(seed)
    lenet = [(5, 1, 1), (2, 2, 1), (5, 1, 1), (2, 2, 1)]
    alexnet = [(11, 4, 1), (3, 2, 1), (5, 1, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1)]
    stacks = [[], [(3, 1, 1)], [(3, 1, 1), (3, 1, 1)], [(2, 2, 1), (3, 1, 1)], [(3, 1, 2)],
              [(3, 1, 1), (3, 1, 2), (3, 1, 4)], lenet, alexnet]
    for _ in range(n_random):
        d_max = 3 if dilation else 1
        stacks.append([(_randint(g, 1, 5), _randint(g, 1, 3), _randint(g, 1, d_max)) for _ in range(_randint(g, 1, 4))])
    if dilation:
        return check(fn, _ref_receptive_field, [(layers,) for layers in stacks], forbid=forbid)
    pairs = [([(k, s) for k, s, d in layers],) for layers in stacks if all(d == 1 for _, _, d in layers)]
    return check(fn, lambda layers: _ref_receptive_field([(k, s, 1) for k, s in layers]), pairs, forbid=forbid)


def _ref_stack_vs_single(channels: int, kernel: int) -> tuple[int, int, int]:
    """Counted on real layers (on the meta device, so no memory is used); the field measured by autograd."""
    from torch import nn

    from ..inspect import count_params, receptive_field

    n_layers = 1
    while receptive_field(nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(n_layers)]),
                          (1, 3 * kernel, 3 * kernel))[0] < kernel:
        n_layers += 1
    big = nn.Conv2d(channels, channels, kernel, bias=False, device="meta")
    small = nn.Sequential(*[nn.Conv2d(channels, channels, 3, bias=False, device="meta") for _ in range(n_layers)])
    return count_params(big), count_params(small), n_layers


def check_stack_vs_single(fn: Callable, n_random: int = 6, seed: int = 0,
                          forbid: Iterable[str] = ("cnnlib.inspect", "torch.nn.modules.conv.Conv2d.__init__", "F.conv2d")) -> bool:
    """Check ``fn(channels, kernel) -> (weights of one kernel x kernel layer, weights of the 3x3 stack with the
    same field, layers in that stack)`` against real layers; building layers to count them is refused."""
    g = torch.Generator().manual_seed(seed)
    cases = [(1, 3), (2, 5), (8, 5), (16, 7), (3, 11)]
    for _ in range(n_random):
        cases.append((_randint(g, 1, 40), 2 * _randint(g, 1, 7) + 1))
    return check(fn, _ref_stack_vs_single, cases, forbid=forbid)
