"""Chapter 13's checks: a depthwise separable convolution, the share of the 1x1 convolutions, preprocessing.

The references are computed here (on the learner's own layers, or on the model passed in), so the
notebook's check cells hold none.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .core import _not_implemented, _randint, check_answer


def _separable_problem(module, c_in: int, c_out: int, k: int, stride: int, g: torch.Generator) -> str | None:
    """What is wrong with ``separable_conv(c_in, c_out, k, stride)``'s result, or None."""
    where = f"separable_conv({c_in}, {c_out}, {k}, {stride})"
    if not isinstance(module, nn.Module):
        return f"{where} should return an nn.Sequential, got {type(module).__name__}"
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) != 2:
        return f"{where} holds {len(convs)} convolutions; a separable convolution is a depthwise one, then a 1x1"
    depthwise, pointwise = convs
    if depthwise.groups != c_in or depthwise.out_channels != c_in or depthwise.kernel_size != (k, k):
        return f"{where}: the first convolution should be depthwise: {k}x{k}, {c_in} -> {c_in} channels, groups={c_in}"
    if pointwise.kernel_size != (1, 1) or pointwise.out_channels != c_out or pointwise.groups != 1:
        return f"{where}: the second convolution should be pointwise: 1x1, {c_in} -> {c_out} channels"
    if depthwise.bias is not None or pointwise.bias is not None:
        return f"{where}: the convolutions should have no bias"
    params = sum(p.numel() for p in module.parameters())
    if params != k * k * c_in + c_in * c_out:
        return f"{where} has {params:,} parameters: no layers beyond the two convolutions (no batch norm)"
    for size in (7, 12):
        x = torch.randn(2, c_in, size, size + 1, generator=g)
        standard = nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, device="meta")(x.to("meta")).shape
        with torch.no_grad():
            try:
                out = module(x)
            except Exception as error:
                return f"{where} raised {type(error).__name__}: {error} on an input of shape {tuple(x.shape)}"
            expected = F.conv2d(F.conv2d(x, depthwise.weight, stride=stride, padding=k // 2, groups=c_in),
                                pointwise.weight)
        if tuple(out.shape) != tuple(standard):
            return (f"{where} maps an input of shape {tuple(x.shape)} to {tuple(out.shape)}; the standard "
                    f"convolution gives {tuple(standard)} (stride and padding k // 2 on the depthwise one)")
        if not torch.allclose(out, expected, atol=1e-5, rtol=1e-4):
            return f"{where} does not compute pointwise(depthwise(x)): nothing else (no activation) in between"
    return None


def check_separable_conv(fn: Callable, hidden: bool = False, seed: int = 0) -> bool:
    """Check ``fn(c_in, c_out, k, stride)``: a depthwise then a 1x1 convolution, no bias, giving the standard
    convolution's output shape; run on random inputs. ``hidden=True`` draws other settings from ``seed``."""
    name = getattr(fn, "__name__", "separable_conv")
    if fn is None or fn is Ellipsis:
        raise _not_implemented(name)
    g = torch.Generator().manual_seed(seed)
    settings = [(2, 3, 3, 1), (32, 64, 3, 1), (96, 24, 5, 2)]
    if hidden:
        settings = [(16, 8, 7, 2), (3, 5, 3, 3)] + [(_randint(g, 1, 12), _randint(g, 1, 12), 2 * _randint(g, 0, 3) + 1,
                                                      _randint(g, 1, 3)) for _ in range(4)]
    for c_in, c_out, k, stride in settings:
        try:
            module = fn(c_in, c_out, k, stride)
        except NotImplementedError:
            raise _not_implemented(name) from None
        except Exception as error:
            raise AssertionError(f"{name}({c_in}, {c_out}, {k}, {stride}) raised {type(error).__name__}: {error}") from error
        problem = _separable_problem(module, c_in, c_out, k, stride, g)
        if problem:
            raise AssertionError(problem)
    print(f"✓ {name}: depthwise then pointwise, the standard convolution's output shape, {len(settings)} settings")
    return True


def _pointwise_share(model: nn.Module, input_shape=(1, 3, 224, 224)) -> float:
    """The share of the 1x1 convolutions among all convolution multiply-adds, counted with forward hooks."""
    costs = {"pointwise": 0, "all": 0}

    def hook(module, inputs, output):
        n = module.weight[0].numel() * output.numel()
        costs["all"] += n
        costs["pointwise"] += n if module.kernel_size == (1, 1) else 0

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return costs["pointwise"] / costs["all"]


def check_pointwise_share(pointwise_share, model: nn.Module) -> bool:
    """Grade ``pointwise_share``: the 1x1 convolutions' share of ``model``'s convolution multiply-adds at
    224 px (within 1e-4), counted here with forward hooks."""
    check_answer("pointwise_share", pointwise_share, _pointwise_share(model),
                 "count every convolution's multiply-adds: (C_in / groups) * k * k per output value", atol=1e-4)
    print(f"the 1x1 convolutions do {pointwise_share:.0%} of the multiply-adds: the depthwise ones are cheap")
    return True


def check_preprocessing(right_norm, wrong_norm, model: nn.Module, image) -> bool:
    """Grade ``right_norm`` and ``wrong_norm``: the top-1 probability of ``model`` on ``image`` with the
    weights' own preprocessing, and with the same resize and crop but no ``Normalize``; recomputed here."""
    from torchvision.transforms import v2

    from ..models import efficientnet_lite0_transform

    device = next(model.parameters()).device
    unnormalised = v2.Compose([v2.ToImage(), v2.Resize(256), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True)])
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            expected = [model(t(image).unsqueeze(0).to(device)).softmax(dim=1).max().item()
                        for t in (efficientnet_lite0_transform(), unnormalised)]
    finally:
        model.train(was_training)
    check_answer("right_norm", right_norm, expected[0],
                 "top5(pretrained, coffee) gives the classes with their probabilities", atol=1e-4)
    check_answer("wrong_norm", wrong_norm, expected[1],
                 "resize the shorter side to 256, centre-crop 224, scale to [0, 1], no Normalize", atol=1e-4)
    print(f"top-1 probability {right_norm:.2f} with mean 0.498/std 0.502, {wrong_norm:.2f} without: "
          "preprocessing is part of the model")
    return True
