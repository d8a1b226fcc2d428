"""Chapter 19's checks: a process's slice of a global batch, and the gradients of uneven slices combined into
the gradient of the whole batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from .core import Case, _randint, check

#: The finished slicing: torch's tensor_split (and its chunk relatives) and cnnlib.distributed's shard.
NO_LIBRARY_SHARD = ("torch.tensor_split", "cnnlib.distributed.shard")


def _ref_shard(X: torch.Tensor, y: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    return X.tensor_split(world)[rank], y.tensor_split(world)[rank]


def check_shard_batch(fn: Callable, n_random: int = 8, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_SHARD
                      ) -> bool:
    """Check ``fn(X, y, rank, world) -> (X_rank, y_rank)``: process ``rank``'s contiguous slice of a global batch,
    the slices' sizes differing by at most one, the larger ones first. ``n_random`` more batches come from ``seed``."""
    sizes = [(2, 2), (4, 2), (5, 2), (7, 3), (3, 1), (10, 4), (9, 4), (16, 5)]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        world = _randint(g, 1, 6)
        sizes.append((_randint(g, world, 30), world))
    cases = []
    for n, world in sizes:
        X = torch.arange(n * 2, dtype=torch.float32).view(n, 1, 2) + torch.rand(n, 1, 2, generator=g)
        y = torch.randint(0, 10, (n,), generator=g)
        cases += [Case((X, y, rank, world)) for rank in range(world)]
    return check(fn, _ref_shard, cases, forbid=forbid)


def _ref_combine(grads: list[list[torch.Tensor]], sizes: list[int], reduction: str = "mean") -> tuple:
    n = sum(sizes)
    weights = [size / n if reduction == "mean" else 1.0 for size in sizes]
    return tuple(sum(w * g[i].double() for w, g in zip(weights, grads)) for i in range(len(grads[0])))


def _shard_gradients(world: int, sizes: list[int], reduction: str, seed: int) -> tuple[list, list[int], str]:
    """Each slice's gradient of a small network's loss (mean or sum over the slice), for uneven slices."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    X, y = torch.randn(sum(sizes), 3, generator=g), torch.randint(0, 2, (sum(sizes),), generator=g)
    grads, start = [], 0
    for size in sizes:
        model.zero_grad()
        nn.functional.cross_entropy(model(X[start:start + size]), y[start:start + size], reduction=reduction).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        start += size
    return grads, sizes, reduction


def check_combine_gradients(fn: Callable, seed: int = 0) -> bool:
    """Check ``fn(grads, sizes, reduction="mean")``: ``grads[r]`` lists process r's gradients (one per parameter)
    of its slice of ``sizes[r]`` examples; the result, one tensor per parameter, must be the gradient of the whole
    batch's loss (a mean or a sum over the batch, as ``reduction`` says), also when the slices differ in size."""
    settings = [(2, [2, 2], "mean"), (2, [3, 2], "mean"), (3, [4, 3, 3], "mean"), (2, [3, 2], "sum"),
                (4, [1, 1, 1, 1], "sum"), (4, [5, 5, 4, 4], "mean"), (3, [7, 2, 1], "mean")]
    cases = [Case(_shard_gradients(world, sizes, reduction, seed + i)[:2], {"reduction": reduction})
             for i, (world, sizes, reduction) in enumerate(settings)]
    return check(fn, _ref_combine, cases, atol=1e-6, rtol=1e-5)
