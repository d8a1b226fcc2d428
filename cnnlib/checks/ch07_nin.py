"""Chapter 07's checks: a NiN block's parameters, a 1x1 convolution as a matrix product, shapes, the smallest input."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from .core import _randint, check, check_answer, check_properties
from .guard import NO_LIBRARY_CONV


def check_block2_params(block2_params: Any) -> bool:
    """Check chapter 7's exercise 1: the parameters of NiNBlock(96, 256, kernel_size=5, padding=2), counted here."""
    from ..models import NiNBlock

    expected = sum(p.numel() for p in NiNBlock(96, 256, kernel_size=5, padding=2).to("meta").parameters())
    return check_answer("block2_params", block2_params, expected,
                        "three convolutions: 96 -> 256 (5x5), then two 256 -> 256 (1x1), each with one bias per output")


def _ref_conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x.double(), weight.double(), bias.double())


def _rejects(f: Callable, kernel: tuple[int, int]) -> bool:
    try:
        f(torch.randn(1, 6, 4, 4), torch.randn(4, 6, *kernel), torch.randn(4))
    except ValueError:
        return True
    return False


def check_conv1x1_layer(fn: Callable, seed: int = 1, n_random: int = 6,
                        forbid: Iterable[str] = NO_LIBRARY_CONV + ("nn.Conv2d.forward",)) -> bool:
    """Check chapter 7's exercise 2, ``fn(x, weight, bias)``: a 1x1 convolution with bias, without the library's
    convolution, on cases drawn from ``seed``; a kernel that is not 1x1 must raise a ValueError."""
    g = torch.Generator().manual_seed(seed)
    cases = [(torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 2.0), torch.tensor([0.5]))]
    for _ in range(n_random):
        N, C, O, H, W = (_randint(g, 1, 3), _randint(g, 1, 6), _randint(g, 1, 5), _randint(g, 1, 7), _randint(g, 1, 7))
        cases.append((torch.randn(N, C, H, W, generator=g), torch.randn(O, C, 1, 1, generator=g),
                      torch.randn(O, generator=g)))
    check(fn, _ref_conv1x1, cases, name="conv1x1", forbid=forbid)
    return check_properties("conv1x1", fn, [("a 3x3 kernel raises a ValueError", lambda f: _rejects(f, (3, 3))),
                                            ("a 1x3 kernel raises a ValueError", lambda f: _rejects(f, (1, 3)))],
                            forbid=forbid)


_NIN_NAMES = ["block1", "pool1", "block2", "pool2", "block3", "pool3", "block4"]


def check_nin_shapes(predicted: Any) -> bool:
    """Check chapter 7's exercise 3: the output shapes of NiN's blocks and pools on a 1x96x96 image, run here."""
    from ..models import nin

    net = nin(1, 10).eval()
    shapes, x = {}, torch.zeros(1, 1, 96, 96)
    with torch.no_grad():
        for name, layer in net.named_children():
            x = layer(x)
            shapes[name] = tuple(x.shape)
    return check_answer("predicted", predicted, [shapes[name] for name in _NIN_NAMES],
                        f"one shape for each of {_NIN_NAMES}; the entries count from block1")


def _runs_at(net: torch.nn.Module, size: int) -> bool:
    try:
        with torch.no_grad():
            return tuple(net(torch.zeros(1, 1, size, size)).shape) == (1, 10)
    except (ValueError, RuntimeError):
        return False


def check_nin_smallest(smallest: Any) -> bool:
    """Check chapter 7's exercise 4: the smallest square input on which nin() runs, found here by running it."""
    from ..models import nin

    net = nin(1, 10).eval()
    expected = next(size for size in range(1, 257) if _runs_at(net, size))
    return check_answer("smallest", smallest, expected,
                        "the last max-pool needs a 3x3 map; work backwards through every pool and block1's stride 4")
