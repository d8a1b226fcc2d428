"""What every method of ``cnnlib.explain`` shares: checks of the input and the target, eval mode, hooks."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

Target = int | Sequence[int] | torch.Tensor | None


def layer_names(model: nn.Module) -> list[str]:
    """The names ``feature_maps`` and ``grad_cam`` accept: every sub-module of ``model``, in definition order."""
    return [name for name, _ in model.named_modules() if name]


def _module(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name``; a clear KeyError that lists the valid names otherwise."""
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        names = layer_names(model)
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"{type(model).__name__} has no layer named {name!r}.{hint} "
                       f"Valid names: {', '.join(names)}")
    return modules[name]


def _check_batch(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"the input must be a tensor, got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (one image? add a batch dimension: x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"the input must be a batch of shape (N, C, H, W), got shape {tuple(x.shape)}{hint}")


def _targets(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """One class index per image: ``None`` takes the predicted class, an int is used for every image."""
    if logits.ndim != 2:
        raise ValueError(f"the model must return class scores of shape (N, classes), got {tuple(logits.shape)}")
    n, classes = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    t = torch.as_tensor(target, device=logits.device)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"target must be an int class index (or one per image), got {target!r}")
    t = t.long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"{t.numel()} targets for a batch of {n} images: give one int, or one per image")
    bad = t[(t < 0) | (t >= classes)]
    if bad.numel():
        raise ValueError(f"target class {bad[0].item()} is out of range: the model has {classes} classes "
                         f"(0 to {classes - 1})")
    return t


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode, then give every module back its own train/eval flag."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


@contextmanager
def _capturing(model: nn.Module, names: Sequence[str], need_conv: bool = False) -> Iterator[dict]:
    """Record the outputs of the named layers during a forward pass; the hooks are always removed.

    Each hook keeps the layer's own output tensor and hands the rest of the network a copy, so an in-place
    operation after the layer (``nn.ReLU(inplace=True)``) changes the copy, not what is recorded, and
    gradients with respect to the recorded tensor are those of the layer's output. A layer that runs twice
    in one forward pass (a module used at two places) is an error: its map would be ambiguous. With
    ``need_conv`` a layer whose output appears before any ``nn.Conv2d`` has run raises a ValueError.
    """
    targets = {name: _module(model, name) for name in names}
    outputs: dict[str, torch.Tensor] = {}
    convs_seen = []
    handles = []
    try:
        if need_conv:  # registered first, so a Conv2d chosen as the layer counts itself
            for module in model.modules():
                if isinstance(module, nn.Conv2d):
                    handles.append(module.register_forward_hook(lambda conv, *_: convs_seen.append(conv)))
        for name, module in targets.items():
            def hook(_module, _inputs, output, name=name):
                if need_conv and not convs_seen:
                    raise ValueError(f"no convolution runs before layer {name!r}: choose a layer at or after a "
                                     "Conv2d, whose output is a feature map")
                if name in outputs:
                    raise ValueError(f"layer {name!r} runs more than once in one forward pass (the same module is "
                                     "used at two places), so its map would be ambiguous: choose a layer that "
                                     "runs once, such as the convolution or batch norm before it")
                outputs[name] = output
                return output.clone() if isinstance(output, torch.Tensor) else output
            handles.append(module.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def _feature_map(outputs: dict, name: str) -> torch.Tensor:
    if name not in outputs:
        raise ValueError(f"layer {name!r} did not run in the forward pass")
    output = outputs[name]
    if not isinstance(output, torch.Tensor) or output.ndim != 4:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"layer {name!r} outputs {shape}, not a feature map of shape (N, C, H, W): "
                         "choose a convolutional layer")
    return output


def _positive_int(what: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def _baseline_like(baseline, x: torch.Tensor) -> torch.Tensor:
    """The baseline (a number or a tensor) broadcast to the input's shape, or a ValueError naming both shapes."""
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        return base.expand_as(x)
    except RuntimeError:
        raise ValueError(f"baseline of shape {tuple(base.shape)} does not broadcast to the input's "
                         f"{tuple(x.shape)}") from None
