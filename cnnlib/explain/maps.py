"""Feature maps, saliency, Grad-CAM and occlusion, and heat-map overlays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._hooks import Target, _capturing, _check_batch, _evaluating, _feature_map, _positive_int, _targets

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
    inputs ``baseline=0`` is the normalisation's mean colour (for Lite0, 0.498 on every channel: a neutral
    grey). The occluded copies run in batches. A batch of no images gives an empty ``(0, H, W)`` map, as
    ``saliency`` and ``grad_cam`` do.
    """
    _check_batch(x)
    H, W = x.shape[-2:]
    for what, value in (("patch", patch), ("stride", stride), ("batch_size", batch_size)):
        _positive_int(what, value)
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
