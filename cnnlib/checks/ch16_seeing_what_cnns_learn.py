"""Chapter 16's checks: Grad-CAM's map from activations and gradients, one occlusion patch, Integrated
Gradients with the trapezoid rule."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch

from .core import Case, _ramp, _randint, check


def _ref_grad_cam_map(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    weights = gradients.double().mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations.double()).sum(dim=1))


def check_grad_cam_map(fn: Callable, n_random: int = 8, seed: int = 0,
                       forbid: Iterable[str] = ("cnnlib.explain",)) -> bool:
    """Check ``fn(activations, gradients) -> (N, h, w)``: Grad-CAM at the layer's resolution, not upsampled.

    Both inputs are (N, C, h, w); the channel weights are the spatial means of the gradients.
    """
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(1, 1, 2, 2), torch.ones(1, 1, 2, 2)),
             (_ramp(1, 2, 2, 2), torch.stack([torch.ones(2, 2), -torch.ones(2, 2)])[None]),  # ReLU matters
             (_ramp(1, 2, 1, 3), torch.tensor([[[[1.0, 0.0, 2.0]], [[0.0, 0.0, -3.0]]]])),  # mean, not sum
             (_ramp(2, 1, 2, 2), torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[-1.0, 0.0], [0.0, 0.0]]]]))]
    for _ in range(n_random):
        shape = (_randint(g, 1, 3), _randint(g, 1, 5), _randint(g, 1, 5), _randint(g, 1, 5))
        cases.append((torch.randn(shape, generator=g).relu(), torch.randn(shape, generator=g)))
    return check(fn, _ref_grad_cam_map, cases, forbid=forbid)


def _ref_occlusion_drop(model, x, target, top, left, patch, baseline=0.0):
    with torch.no_grad():
        occluded = x.clone()
        occluded[:, :, top:top + patch, left:left + patch] = baseline
        return (model(x.double()).softmax(dim=1) - model(occluded.double()).softmax(dim=1))[:, target]


def check_occlusion_drop(fn: Callable, n_random: int = 6, seed: int = 0,
                         forbid: Iterable[str] = ("cnnlib.explain.occlusion",)) -> bool:
    """Check ``fn(model, x, target, top, left, patch, baseline=0.0) -> (N,)``: the drop in the probability of
    class ``target`` when ``x[:, :, top:top+patch, left:left+patch]`` is set to ``baseline`` in a copy.
    A function that changes ``x`` itself (or the model's weights) fails, as does one that calls ``forbid``.
    """
    from torch import nn

    g = torch.Generator().manual_seed(seed)

    def model(channels: int, classes: int) -> nn.Module:
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        return nn.Sequential(nn.Conv2d(channels, 3, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(3, classes)).double()

    cases = [Case((model(1, 2), _ramp(1, 1, 3, 3).double() / 8, 1, 0, 0, 2)),
             Case((model(1, 3), _ramp(1, 1, 4, 4).double() / 15, 2, 1, 2, 2), {"baseline": 0.5}),
             Case((model(2, 2), _ramp(2, 2, 4, 5).double() / 40, 0, 3, 3, 3))]  # the patch sticks out
    for _ in range(n_random):
        C, H, W, patch = _randint(g, 1, 3), _randint(g, 3, 7), _randint(g, 3, 7), _randint(g, 1, 3)
        x = torch.randn(_randint(g, 1, 3), C, H, W, generator=g, dtype=torch.float64)
        cases.append(Case((model(C, 4), x, _randint(g, 0, 3), _randint(g, 0, H - 1), _randint(g, 0, W - 1), patch),
                          {"baseline": float(torch.randn(1, generator=g))}))
    if fn is None or fn is Ellipsis or not callable(fn):
        return check(fn, _ref_occlusion_drop, cases, forbid=forbid)  # says "not implemented yet"
    return check(_refusing_in_place(fn), _ref_occlusion_drop, cases, getattr(fn, "__name__", "occlusion_drop"),
                 atol=1e-6, forbid=forbid)


def _refusing_in_place(fn: Callable) -> Callable:
    """``fn``, failing when it changes its input ``x`` (argument 1) or the model's weights."""

    @functools.wraps(fn)
    def wrapper(model, x, *args, **kwargs):
        x_before = x.detach().clone()
        weights_before = [p.detach().clone() for p in model.parameters()]
        out = fn(model, x, *args, **kwargs)
        if not torch.equal(x, x_before):
            raise _ChangedInput("it changed its input x in place: occlude a copy (x.clone()) and leave x as it was")
        if any(not torch.equal(p, q) for p, q in zip(model.parameters(), weights_before)):
            raise _ChangedInput("it changed the model's weights")
        return out

    return wrapper


class _ChangedInput(Exception):
    """The learner's function changed an input it was told to leave alone."""


# ----------------------------------------------------------------------------------------------------------


def _ref_ig_trapezoid(model, x, target, baseline, steps):
    x = x.double()
    start = torch.as_tensor(baseline, dtype=torch.float64).expand_as(x)
    total = torch.zeros_like(x)
    for k in range(steps):  # the trapezoid rule on steps points from the baseline (k = 0) to x (k = steps - 1)
        point = (start + k / (steps - 1) * (x - start)).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, target].sum(), point)
        total += grad * (0.5 if k in (0, steps - 1) else 1.0) / (steps - 1)
    return ((x - start) * total).detach()


def check_ig_trapezoid(fn: Callable, n_random: int = 6, seed: int = 0,
                       forbid: Iterable[str] = ("cnnlib.explain.integrated_gradients",
                                                "captum.attr.IntegratedGradients")) -> bool:
    """Check ``fn(model, x, target, baseline, steps) -> (N, C, H, W)``: Integrated Gradients of the logit of class
    ``target``, the path integral by the trapezoid rule on ``steps`` evenly spaced points from ``baseline``
    (a number or a tensor like ``x``) to ``x``, both ends included.
    """
    from torch import nn

    g = torch.Generator().manual_seed(seed)

    def model(channels: int, classes: int) -> nn.Module:  # tanh: the gradient changes all along the path
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        return nn.Sequential(nn.Conv2d(channels, 3, 2), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(3, classes)).double()

    cases = [Case((model(1, 2), _ramp(1, 1, 2, 2).double() / 3, 1, 0.0, 2)),
             Case((model(1, 2), _ramp(1, 1, 2, 2).double() / 3, 0, 0.5, 3)),
             Case((model(2, 3), _ramp(2, 2, 3, 3).double() / 35, 2, torch.full((2, 2, 3, 3), -0.2).double(), 4))]
    for _ in range(n_random):
        N, C, H, W = _randint(g, 1, 3), _randint(g, 1, 3), _randint(g, 2, 5), _randint(g, 2, 5)
        x = torch.randn(N, C, H, W, generator=g, dtype=torch.float64)
        baseline = torch.randn(N, C, H, W, generator=g, dtype=torch.float64) if _randint(g, 0, 1) else 0.0
        cases.append(Case((model(C, 4), x, _randint(g, 0, 3), baseline, _randint(g, 2, 9))))
    return check(fn, _ref_ig_trapezoid, cases, atol=1e-6, forbid=forbid)
