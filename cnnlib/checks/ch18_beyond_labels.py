"""Chapter 18's checks: the backward pass of pooling, transposed convolution, and intersection over union."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, check, check_properties
from .guard import NO_LIBRARY_CONV, NO_LIBRARY_POOL

#: Autograd would compute the gradient for you: the backward exercise refuses it too.
NO_AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward")
NO_LIBRARY_POOL_BACKWARD = (*NO_LIBRARY_POOL, *NO_AUTOGRAD)
NO_LIBRARY_CONV_TRANSPOSE = (*NO_LIBRARY_CONV, *NO_AUTOGRAD)
NO_LIBRARY_IOU = ("cnnlib.segmentation", "torch.bincount", "torch.histc")


def _ref_pool2d_backward(dY, X, pool_size, stride=None, mode="max"):
    pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[mode]
    X = X.detach().double().requires_grad_()
    Y = pool(X.reshape(-1, 1, *X.shape[-2:]), pool_size, stride if stride is not None else pool_size)
    (dX,) = torch.autograd.grad(Y, X, dY.double().reshape(Y.shape))
    return dX


def check_pool2d_backward(fn: Callable, n_random: int = 10, seed: int = 0,
                          forbid: Iterable[str] = NO_LIBRARY_POOL_BACKWARD) -> bool:
    """Check ``fn(dY, X, pool_size, stride=None, mode="max") -> dX`` for X of shape (..., H, W).

    Max pooling sends each output's gradient to the first maximum of its window (row by row), as PyTorch
    does; average pooling shares it equally over the window. Windows may overlap (stride < pool_size).
    """
    g = torch.Generator().manual_seed(seed)
    cases = [Case((torch.ones(1, 1), _ramp(2, 2), 2)),
             Case((torch.ones(1, 1), _ramp(2, 2), 2), {"mode": "avg"}),
             Case((torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 1.0, 3.0, 3.0]]), 2)),  # ties
             Case((torch.ones(2, 2), _ramp(3, 3), 2), {"stride": 1}),  # the centre wins four windows
             Case((_ramp(1, 2, 2) + 1, _ramp(1, 3, 3), 2), {"stride": 1, "mode": "avg"})]
    for i in range(n_random):
        k = (_randint(g, 1, 3), _randint(g, 1, 3))
        stride = (_randint(g, 1, 3), _randint(g, 1, 3)) if i % 3 else None
        lead = [(), (_randint(g, 1, 3),), (_randint(g, 1, 2), _randint(g, 1, 3))][i % 3]
        X = torch.randn(*lead, _randint(g, k[0], 7), _randint(g, k[1], 7), generator=g)
        s = stride or k
        out = ((X.shape[-2] - k[0]) // s[0] + 1, (X.shape[-1] - k[1]) // s[1] + 1)
        kwargs = {"mode": ("max", "avg")[i % 2]} | ({"stride": stride} if stride else {})
        cases.append(Case((torch.randn(*lead, *out, generator=g), X, k), kwargs))
    return check(fn, _ref_pool2d_backward, cases, forbid=forbid)


def _ref_conv_transpose2d(X, weight, stride=1, padding=0):
    return F.conv_transpose2d(X.double(), weight.double(), stride=stride, padding=padding)


def check_conv_transpose2d(fn: Callable, n_random: int = 10, seed: int = 0,
                           forbid: Iterable[str] = NO_LIBRARY_CONV_TRANSPOSE) -> bool:
    """Check ``fn(X, weight, stride=1, padding=0)``: X (N, C, H, W), weight (C, O, kh, kw) -> (N, O, H', W')
    with ``H' = (H - 1) * stride - 2 * padding + kh``, as ``F.conv_transpose2d``."""
    g = torch.Generator().manual_seed(seed)
    cases = [Case((_ramp(1, 1, 1, 1) + 2, _ramp(1, 1, 2, 2))),
             Case((_ramp(1, 1, 2, 2), torch.ones(1, 1, 2, 2))),  # overlapping patches add up
             Case((_ramp(1, 1, 2, 2), torch.ones(1, 1, 2, 2)), {"stride": 2}),  # side by side
             Case((_ramp(1, 1, 2, 2), _ramp(1, 1, 3, 3)), {"stride": 2, "padding": 1}),  # padding crops
             Case((_ramp(1, 2, 2, 2), _ramp(2, 3, 1, 2))),  # channels: sum over C, one map per O
             Case((_ramp(2, 1, 2, 1), torch.ones(1, 1, 2, 2)), {"stride": (2, 1)})]
    for _ in range(n_random):
        k = (_randint(g, 1, 3), _randint(g, 1, 3))
        stride = (_randint(g, 1, 3), _randint(g, 1, 3))
        padding = (_randint(g, 0, (k[0] - 1) // 2), _randint(g, 0, (k[1] - 1) // 2))  # never crops it all
        X = torch.randn(_randint(g, 1, 2), _randint(g, 1, 3), _randint(g, 1, 4), _randint(g, 1, 4), generator=g)
        weight = torch.randn(X.shape[1], _randint(g, 1, 3), *k, generator=g)
        cases.append(Case((X, weight), {"stride": stride, "padding": padding}))
    return check(fn, _ref_conv_transpose2d, cases, forbid=forbid)


def _ref_iou_per_class(pred, target, num_classes):
    from ..segmentation import iou_per_class

    return iou_per_class(pred, target, num_classes)


def _masks_with_every_class(g: torch.Generator, shape: tuple[int, ...], classes: int) -> tuple:
    target = torch.randint(0, classes, shape, generator=g)
    target.view(-1)[:classes] = torch.arange(classes)  # every class is in the target: no NaN to compare
    pred = torch.where(torch.rand(shape, generator=g) < 0.5, target, torch.randint(0, classes, shape, generator=g))
    return pred, target


def check_iou_per_class(fn: Callable, n_random: int = 8, seed: int = 0,
                        forbid: Iterable[str] = NO_LIBRARY_IOU) -> bool:
    """Check ``fn(pred, target, num_classes) -> (num_classes,)`` floats: per class, the pixels both masks give
    to it over the pixels either gives to it; NaN for a class in neither mask."""
    g = torch.Generator().manual_seed(seed)
    cases = [(torch.tensor([0, 1]), torch.tensor([0, 1]), 2),
             (torch.tensor([[0, 1, 1, 1]]), torch.tensor([[0, 0, 1, 1]]), 2),
             (torch.tensor([[1, 1], [1, 1]]), torch.tensor([[0, 0], [2, 2]]), 3)]  # class 1: none right
    for _ in range(n_random):
        classes = _randint(g, 2, 5)
        shape = (_randint(g, 1, 3), _randint(g, 3, 6), _randint(g, 2, 6))  # at least 6 pixels: room for every class
        cases.append((*_masks_with_every_class(g, shape, classes), classes))
    name = getattr(fn, "__name__", "iou_per_class")
    check(fn, _ref_iou_per_class, cases, name=name, atol=1e-6, forbid=forbid)
    absent = (torch.tensor([[0, 1], [1, 0]]), torch.tensor([[0, 1], [0, 0]]), 3)
    return check_properties(name, fn, [
        ("a class in neither mask (class 2 here) gets NaN, not 0: there is nothing to score",
         lambda f: bool(torch.isnan(torch.as_tensor(f(*absent))[2]))),
        ("the classes that are present keep their IoU beside a NaN",
         lambda f: torch.allclose(torch.as_tensor(f(*absent))[:2].double(),
                                  torch.tensor([2 / 3, 1 / 2], dtype=torch.float64)))], forbid=forbid)
