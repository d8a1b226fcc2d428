"""Chapter 09's checks: batch normalisation with running statistics."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, check
from .guard import NO_LIBRARY_NORM


def _ref_batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
    running_mean, running_var = moving_mean.double().clone(), moving_var.double().clone()
    Y = F.batch_norm(X.double(), running_mean, running_var, gamma.double(), beta.double(), training, momentum, eps)
    return Y, running_mean, running_var


def check_batch_norm(fn: Callable, n_random: int = 8, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_NORM) -> bool:
    """Check ``fn(X, gamma, beta, moving_mean, moving_var, eps, momentum, training) -> (Y, new_mean, new_var)``.

    PyTorch's conventions: normalise with the biased batch variance, update the running variance with the
    unbiased one, running = (1 - momentum) * running + momentum * batch statistic.
    """
    g = torch.Generator().manual_seed(seed)

    def params(C: int) -> tuple[torch.Tensor, ...]:
        return (1 + 0.5 * torch.randn(C, generator=g), 0.5 * torch.randn(C, generator=g),
                0.3 * torch.randn(C, generator=g), 0.5 + torch.rand(C, generator=g))

    cases = [Case((torch.tensor([[1.0], [3.0]]), torch.ones(1), torch.zeros(1), torch.zeros(1), torch.ones(1))),
             Case((_ramp(3, 2), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.zeros(2), torch.ones(2)),
                  {"momentum": 0.5}),
             Case((_ramp(3, 2), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]),
                   torch.tensor([4.0, 0.25])), {"training": False})]
    for i in range(n_random):
        C = _randint(g, 1, 4)
        shape = (_randint(g, 2, 6), C) if i % 2 else (_randint(g, 2, 3), C, _randint(g, 1, 4), _randint(g, 1, 4))
        X = 2 * torch.randn(shape, generator=g) + 1
        kwargs = {"eps": (1e-5, 1e-3)[i % 2], "momentum": (0.1, 0.3, 0.9)[i % 3], "training": i % 4 != 2}
        cases.append(Case((X, *params(C)), kwargs))
    return check(fn, _ref_batch_norm, cases, atol=1e-4, rtol=1e-4, forbid=forbid)
