"""Chapter 01's checks: cross-correlation, one and several channels."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import _ramp, _randint, check
from .guard import NO_LIBRARY_CONV


def _ref_corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return F.conv2d(X[None, None].double(), K[None, None].double())[0, 0]


def check_corr2d(fn: Callable, n_random: int = 10, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, K)``: valid 2-D cross-correlation of an (H, W) input with an (h, w) kernel."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(3, 3), _ramp(2, 2)), (_ramp(2, 4), torch.tensor([[1.0, -1.0]])),
             (_ramp(4, 3), torch.tensor([[1.0], [2.0]])), (_ramp(3, 3), _ramp(3, 3))]
    for _ in range(n_random):
        H, W = _randint(g, 1, 8), _randint(g, 1, 8)
        h, w = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(H, W, generator=g), torch.randn(h, w, generator=g)))
    return check(fn, _ref_corr2d, cases, forbid=forbid)


def check_corr2d_multi_in(fn: Callable, n_random: int = 10, seed: int = 0,
                          forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, K)``: X (C, H, W), K (C, h, w) -> (H', W'), summed over the channels."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(2, 3, 3), _ramp(2, 2, 2)), (_ramp(1, 3, 4), torch.tensor([[[1.0, -1.0]]]))]
    for _ in range(n_random):
        C, H, W = _randint(g, 1, 4), _randint(g, 1, 7), _randint(g, 1, 7)
        h, w = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(C, H, W, generator=g), torch.randn(C, h, w, generator=g)))
    return check(fn, lambda X, K: F.conv2d(X[None].double(), K[None].double())[0, 0], cases,
                 forbid=forbid)


def check_corr2d_multi_in_out(fn: Callable, n_random: int = 10, seed: int = 0,
                              forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, K)``: X (C, H, W), K (O, C, h, w) -> (O, H', W')."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(2, 3, 3), torch.stack([_ramp(2, 2, 2), _ramp(2, 2, 2) + 1, _ramp(2, 2, 2) + 2])),
             (_ramp(1, 2, 3), torch.tensor([[[[1.0, -1.0]]], [[[2.0, 0.5]]]]))]
    for _ in range(n_random):
        O, C, H, W = _randint(g, 1, 4), _randint(g, 1, 3), _randint(g, 1, 7), _randint(g, 1, 7)
        h, w = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(C, H, W, generator=g), torch.randn(O, C, h, w, generator=g)))
    return check(fn, lambda X, K: F.conv2d(X[None].double(), K.double())[0], cases,
                 forbid=forbid)
