"""Chapter 01's checks: cross-correlation, one and several channels; shapes, the flipped kernel, 1x1 convolutions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from .core import _not_implemented, _ramp, _randint, _unset, check, check_shapes
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


# Exercise 3: the layers whose output shapes the learner predicts (the notebook lists the same ones).
_CONV_SHAPE_CASES = [((1, 1, 28, 28), (1, 6, 5)), ((8, 3, 32, 32), (3, 16, 3)), ((2, 16, 10, 12), (16, 4, (3, 5))),
                     ((4, 64, 7, 7), (64, 32, 1)), ((1, 3, 9, 9), (3, 10, 9))]


def check_conv_shapes(predicted_shapes: Any) -> bool:
    """Check chapter 1's exercise 3: the output shapes of five unpadded convolutions, run here on zeros."""
    from torch import nn

    return check_shapes("predicted_shapes", predicted_shapes,
                        [(shape, nn.Conv2d(*args)) for shape, args in _CONV_SHAPE_CASES],
                        "(N, C, H, W) becomes (N, out_channels, H - k_h + 1, W - k_w + 1)")


def check_kernel_for_convolution(K_for_convolution: Any, K_demo: torch.Tensor, seed: int = 0,
                                 n_random: int = 8) -> bool:
    """Check chapter 1's exercise 4(b): a true convolution with ``K_for_convolution`` equals the
    cross-correlation with ``K_demo`` on random inputs (drawn from ``seed``), computed here with F.conv2d."""
    name = "K_for_convolution"
    if _unset(K_for_convolution):
        raise _not_implemented(name)
    if not isinstance(K_for_convolution, torch.Tensor):
        raise AssertionError(f"{name} should be a tensor, got {type(K_for_convolution).__name__}.")
    if K_for_convolution.is_complex() or not K_for_convolution.is_floating_point():
        raise AssertionError(f"{name} has dtype {K_for_convolution.dtype}: it should be a real floating-point tensor.")
    if tuple(K_for_convolution.shape) != tuple(K_demo.shape):
        raise AssertionError(f"{name} has shape {tuple(K_for_convolution.shape)}: it should have the shape of K_demo, "
                             f"{tuple(K_demo.shape)}.")
    K = K_for_convolution.detach().double()
    g = torch.Generator().manual_seed(seed)
    h, w = K_demo.shape
    for _ in range(n_random):
        X = torch.randn(_randint(g, h, h + 5), _randint(g, w, w + 5), generator=g, dtype=torch.float64)
        convolution = _ref_corr2d(X, K.flip(0, 1))  # a true convolution flips its kernel
        if not torch.allclose(convolution, _ref_corr2d(X, K_demo), atol=1e-9, rtol=1e-9):
            raise AssertionError(f"{name} is not right yet: a true convolution with it differs from the "
                                 f"cross-correlation with K_demo on a random {tuple(X.shape)} input.")
    print(f"✓ {name}: a true convolution with it equals the cross-correlation with K_demo on {n_random} "
          "random inputs")
    return True


def _ref_conv1x1(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    return F.conv2d(X.double(), W.double()[:, :, None, None])


def check_conv1x1(fn: Callable, seed: int = 4, n_random: int = 6, forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check chapter 1's exercise 5, ``fn(X, W)``: X (N, C, H, W), W (O, C) -> (N, O, H, W), a 1x1 convolution."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(1, 1, 1, 1), torch.tensor([[2.0]])), (_ramp(1, 2, 1, 2), torch.tensor([[1.0, -1.0]])),
             (_ramp(1, 2, 2, 3), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))]
    for _ in range(n_random):
        N, C, O, H, W = (_randint(g, 1, 3), _randint(g, 1, 6), _randint(g, 1, 6), _randint(g, 1, 6), _randint(g, 1, 6))
        cases.append((torch.randn(N, C, H, W, generator=g), torch.randn(O, C, generator=g)))
    return check(fn, _ref_conv1x1, cases, forbid=forbid)
