"""Chapter 03's checks: max and average pooling, pooled shapes, shifts, global average pooling."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, _unset, check, check_shapes
from .guard import NO_LIBRARY_POOL


def _ref_pool2d(X, pool_size, stride=None, padding=0, mode="max"):
    pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[mode]
    flat = X.reshape(-1, *X.shape[-2:]).double()
    Y = pool(flat, pool_size, stride if stride is not None else pool_size, padding)
    return Y.reshape(*X.shape[:-2], *Y.shape[-2:])


def check_pool2d(fn: Callable, n_random: int = 12, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_POOL) -> bool:
    """Check ``fn(X, pool_size, stride=None, padding=0, mode="max")`` on X of shape (..., H, W)."""
    g = torch.Generator().manual_seed(seed)
    cases = [Case((_ramp(3, 3), (2, 2)), {"stride": 1}), Case((_ramp(3, 3), (2, 2)), {"stride": 1, "mode": "avg"}),
             Case((_ramp(4, 4), 2)), Case((_ramp(4, 4), 2), {"mode": "avg"}),
             Case((_ramp(1, 4, 4), 3), {"stride": 2, "padding": 1}),
             Case((_ramp(1, 4, 4), 3), {"stride": 2, "padding": 1, "mode": "avg"}),
             Case((_ramp(2, 5, 4), (2, 3)), {"stride": (2, 1), "padding": (0, 1), "mode": "avg"}),
             Case((-_ramp(1, 3, 3) - 1, 2), {"stride": 1, "padding": 1})]
    for i in range(n_random):
        k = (_randint(g, 1, 4), _randint(g, 1, 4))
        stride = (_randint(g, 1, 3), _randint(g, 1, 3))
        padding = (_randint(g, 0, k[0] // 2), _randint(g, 0, k[1] // 2))
        lead = [(), (_randint(g, 1, 3),), (_randint(g, 1, 2), _randint(g, 1, 3))][i % 3]
        X = torch.randn(*lead, _randint(g, k[0], 8), _randint(g, k[1], 8), generator=g)
        kwargs = {"padding": padding, "mode": ("max", "avg")[i % 2]}
        if i % 4 != 3:
            kwargs["stride"] = stride
        cases.append(Case((X, k), kwargs))
    return check(fn, _ref_pool2d, cases, forbid=forbid)


# Exercise 2: the layers whose output shapes the learner predicts (the notebook lists the same ones).
def _pool_shape_cases() -> list:
    from torch import nn

    return [((1, 3, 32, 32), nn.MaxPool2d(2)), ((1, 3, 32, 32), nn.MaxPool2d(3, stride=2)),
            ((1, 3, 32, 32), nn.MaxPool2d(3, stride=2, padding=1)), ((8, 16, 7, 7), nn.AvgPool2d(2)),
            ((8, 16, 7, 7), nn.AdaptiveAvgPool2d(1)), ((2, 64, 112, 112), nn.MaxPool2d(3, stride=2, padding=1)),
            ((4, 6, 28, 28), nn.AvgPool2d((2, 4), stride=(2, 4)))]


def check_pool_shapes(predicted_shapes: Any) -> bool:
    """Check chapter 3's exercise 2: the output shapes of seven pooling layers, run here on zeros."""
    return check_shapes("predicted_shapes", predicted_shapes, _pool_shape_cases(),
                        "floor((n + 2p - k) / s) + 1 per axis; the stride defaults to the window size; "
                        "adaptive pooling sets the output size itself")


def _pool_row(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x[None].double(), (1, 2))[0]


def _shift_right(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (1, 0))[:, :-1]


def _one_pixel_row(name: str, x: Any) -> torch.Tensor:
    if _unset(x):
        raise AssertionError(f"{name} is not implemented yet: set it to your answer (it is still None), run its "
                             "cell, then run this check again.")
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != (1, 8):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise AssertionError(f"{name} should be a (1, 8) tensor, got {got}.")
    if not x.is_floating_point():
        raise AssertionError(f"{name} has dtype {x.dtype}: make it a float tensor, e.g. torch.zeros(1, 8).")
    if int((x == 1).sum()) != 1 or int((x == 0).sum()) != 7:
        raise AssertionError(f"{name} should be zero except for a single pixel of value 1.")
    return x.detach()


def check_shift_examples(x_stays: Any, x_moves: Any) -> bool:
    """Check chapter 3's exercise 3: 2x2 max pooling (window (1, 2), stride (1, 2)) of ``x_stays`` does not
    change when it moves one pixel right; that of ``x_moves`` does."""
    stays, moves = _one_pixel_row("x_stays", x_stays), _one_pixel_row("x_moves", x_moves)
    if not torch.equal(_pool_row(stays), _pool_row(_shift_right(stays))):
        raise AssertionError("x_stays is not right yet: its pooled output changes when it moves one pixel right.")
    if torch.equal(_pool_row(moves), _pool_row(_shift_right(moves))):
        raise AssertionError("x_moves is not right yet: its pooled output does not change when it moves one pixel "
                             "right.")
    print("✓ x_stays and x_moves are right")
    return True


#: What global average pooling with pool2d may not call: averaging or summing by hand, or the library's pools.
GAP_FORBID = ("Tensor.mean", "Tensor.sum", "Tensor.nanmean", "Tensor.nansum", "F.avg_pool2d", "F.avg_pool1d",
              "F.adaptive_avg_pool2d", "F.adaptive_avg_pool1d", "F.lp_pool2d")


def _ref_gap(X: torch.Tensor) -> torch.Tensor:
    return X.double().mean(dim=(2, 3))


def check_global_avg_pool(fn: Callable, seed: int = 0, n_random: int = 5, forbid: Iterable[str] = GAP_FORBID) -> bool:
    """Check chapter 3's exercise 4, ``fn(X)``: (N, C, H, W) -> (N, C) channel means, built on cnnlib.ops.pool2d."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(1, 1, 1, 1),), (_ramp(1, 1, 2, 2),), (_ramp(1, 2, 1, 3),), (_ramp(2, 3, 2, 2),)]
    for _ in range(n_random):
        shape = (_randint(g, 1, 4), _randint(g, 1, 8), _randint(g, 1, 9), _randint(g, 1, 9))
        cases.append((torch.randn(shape, generator=g),))
    return check(fn, _ref_gap, cases, forbid=forbid)
