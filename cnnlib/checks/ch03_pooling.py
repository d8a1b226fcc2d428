"""Chapter 03's checks: max and average pooling."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, check
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
