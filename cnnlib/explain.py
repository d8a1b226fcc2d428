"""What a trained CNN looks at: feature maps, saliency, Grad-CAM and occlusion, and heat-map overlays.

Every function runs the model in eval mode (dropout off, batch norms on their running statistics, none of
them updated) and puts each module back in the mode it was in; hooks are removed even when the forward
pass raises. Inputs are batches ``(N, C, H, W)``; maps come back as ``(N, H, W)`` tensors on the CPU.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["feature_maps", "grad_cam", "layer_names", "occlusion", "overlay", "saliency"]

Target = int | Sequence[int] | torch.Tensor | None


# ----------------------------------------------------------------------------------------------------------
# Checks and context managers shared by the methods
# ----------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------
# The methods
# ----------------------------------------------------------------------------------------------------------

def feature_maps(model: nn.Module, x: torch.Tensor, layers: str | Sequence[str]) -> dict[str, torch.Tensor]:
    """The outputs of the named layers for the batch ``x``, as ``{name: tensor}`` (detached copies, CPU)."""
    _check_batch(x)
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("feature_maps needs at least one layer name")
    with _evaluating(model), torch.no_grad(), _capturing(model, names) as outputs:
        model(x)
    missing = [name for name in names if name not in outputs]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass")
    return {name: outputs[name].detach().clone().cpu() for name in names}


def saliency(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Simonyan, Vedaldi and Zisserman (2014): the largest absolute gradient of the class score over channels.

    The class score is the logit, before the softmax. Returns ``(N, H, W)``.
    """
    _check_batch(x)
    with torch.inference_mode(False), torch.enable_grad():  # works under no_grad and inference_mode too
        x = x.detach().clone().requires_grad_(True)
        with _evaluating(model):
            logits = model(x)
        t = _targets(logits, target)
        (grad,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), x)
    return grad.abs().amax(dim=1).cpu()


def grad_cam(model: nn.Module, x: torch.Tensor, layer: str, target: Target = None,
             normalize: bool = True) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017) at ``layer``, upsampled to the input size; returns ``(N, H, W)``.

    Channel weights are the spatial mean of the class score's gradient; the map is the ReLU of the weighted
    sum of the layer's activations. With ``normalize`` each map is scaled to [0, 1] (min to max).
    """
    _check_batch(x)
    # Gradients even when called under torch.no_grad() or torch.inference_mode(), and in a frozen model.
    with torch.inference_mode(False), torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        with _evaluating(model), _capturing(model, [layer], need_conv=True) as outputs:
            logits = model(x)
        activations = _feature_map(outputs, layer)
        t = _targets(logits, target)
        (grads,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), activations)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activations.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    if normalize:
        low = cam.amin(dim=(1, 2), keepdim=True)
        cam = (cam - low) / (cam.amax(dim=(1, 2), keepdim=True) - low + 1e-7)
    return cam.cpu()


def _positions(size: int, patch: int, stride: int) -> list[int]:
    """Start indices of the patches along one axis; the last patch may stick out, so every pixel is covered."""
    return [i * stride for i in range(math.ceil((size - patch) / stride) + 1)]


def occlusion(model: nn.Module, x: torch.Tensor, target: Target = None, patch: int = 16, stride: int = 8,
              baseline: float = 0.0, batch_size: int = 64) -> torch.Tensor:
    """Zeiler and Fergus (2014): how much the class probability drops when a patch is set to ``baseline``.

    Each pixel gets the mean drop over the patches that cover it; returns ``(N, H, W)``. With normalised
    inputs ``baseline=0`` is the normalisation's mean colour (for Lite0, 0.498 on every channel: a neutral grey). The occluded copies run in batches.
    A batch of no images gives an empty ``(0, H, W)`` map, as ``saliency`` and ``grad_cam`` do.
    """
    _check_batch(x)
    H, W = x.shape[-2:]
    for what, value in (("patch", patch), ("stride", stride), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{what} must be a positive int, got {value!r}")
    if patch > min(H, W):
        raise ValueError(f"patch {patch} is larger than the input ({H}x{W})")
    if stride > patch:
        raise ValueError(f"stride {stride} is larger than patch {patch}: some pixels would never be occluded")
    windows = [(top, left) for top in _positions(H, patch, stride) for left in _positions(W, patch, stride)]
    maps = []
    with _evaluating(model), torch.no_grad():
        logits = model(x)
        t = _targets(logits, target)
        base = logits.softmax(dim=1).gather(1, t[:, None])[:, 0]
        for image, label, p in zip(x, t, base):
            total = torch.zeros(H, W, device=x.device)
            for start in range(0, len(windows), batch_size):
                chunk = windows[start:start + batch_size]
                copies = image.expand(len(chunk), *image.shape).clone()
                for copy, (top, left) in zip(copies, chunk):
                    copy[:, top:top + patch, left:left + patch] = baseline
                drops = p - model(copies).softmax(dim=1)[:, label]
                for drop, (top, left) in zip(drops, chunk):
                    total[top:top + patch, left:left + patch] += drop
            maps.append(total)
    count = torch.zeros(H, W, device=x.device)
    for top, left in windows:
        count[top:top + patch, left:left + patch] += 1
    maps = torch.stack(maps) if maps else torch.zeros(0, H, W, device=x.device)  # stack needs one map
    return (maps / count).cpu()


def overlay(image, heatmap, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """The photo with a heat map drawn over it, as an (H, W, 3) float array in [0, 1] for ``imshow``.

    ``image`` is (3, H, W) or (H, W, 3) in [0, 1] (or uint8); ``heatmap`` (H, W) is scaled by its own maximum.
    """
    import matplotlib

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    image = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
        image = image.transpose(1, 2, 0)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be an RGB image (3, H, W) or (H, W, 3), got shape {image.shape}")
    image = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    heat = heatmap.detach().cpu().numpy() if isinstance(heatmap, torch.Tensor) else np.asarray(heatmap, float)
    if heat.shape != image.shape[:2]:
        raise ValueError(f"heatmap of shape {heat.shape} does not match the image's {image.shape[:2]}")
    top = heat.max()
    heat = heat / top if top > 0 else heat
    colours = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return np.clip((1 - alpha) * image + alpha * colours, 0, 1)
