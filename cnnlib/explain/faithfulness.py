"""Is a heat map faithful to the model? Deletion and insertion curves (Petsiuk, Das and Saenko, 2018)."""

from __future__ import annotations

import torch
from torch import nn

from ._hooks import Target, _baseline_like, _check_batch, _evaluating, _positive_int, _targets


def pixel_order(heat: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The pixels of each ``(H, W)`` map of ``heat`` ``(N, H, W)``, most important first, as flat indices ``(N, H*W)``.

    Ties (flat regions of Grad-CAM or occlusion maps) are broken in a random order seeded with ``seed``, not
    top-left first, which would favour whatever sits at the top of the image.
    """
    if not isinstance(heat, torch.Tensor) or heat.ndim != 3:
        shape = tuple(heat.shape) if isinstance(heat, torch.Tensor) else type(heat).__name__
        raise ValueError(f"heat must be a batch of maps of shape (N, H, W), got {shape} "
                         "(attributions per channel? sum them over the channels first)")
    if heat.is_floating_point() and torch.isnan(heat).any():
        raise ValueError("heat contains NaN, so the pixels have no order")
    flat = heat.detach().flatten(1)
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.stack([torch.randperm(flat.shape[1], generator=generator) for _ in range(len(flat))]) \
        if len(flat) else torch.zeros(0, flat.shape[1], dtype=torch.long)
    shuffle = shuffle.to(flat.device)
    ranked = torch.argsort(flat.gather(1, shuffle), dim=1, descending=True, stable=True)
    return shuffle.gather(1, ranked)


def _pixel_curves(model: nn.Module, x: torch.Tensor, heat: torch.Tensor, target: Target, steps: int, baseline,
                  seed: int, batch_size: int, insert: bool) -> torch.Tensor:
    _check_batch(x)
    steps, batch_size = _positive_int("steps", steps), _positive_int("batch_size", batch_size)
    if not isinstance(heat, torch.Tensor) or heat.ndim != 3 or heat.shape[0] != x.shape[0] \
            or heat.shape[-2:] != x.shape[-2:]:
        shape = tuple(heat.shape) if isinstance(heat, torch.Tensor) else type(heat).__name__
        raise ValueError(f"heat must hold one (H, W) map per image, shape {(x.shape[0], *x.shape[-2:])}, got {shape}")
    base = _baseline_like(baseline, x)
    order = pixel_order(heat.to(x.device), seed)
    pixels = order.shape[1]
    counts = [round(k * pixels / steps) for k in range(steps + 1)]
    curves = []
    with _evaluating(model), torch.no_grad():
        t = _targets(model(x), target)
        for image, start, rank, label in zip(x, base, order, t):
            position = torch.empty_like(rank)
            position[rank] = torch.arange(pixels, device=x.device)  # each pixel's place in the order
            position = position.view(1, 1, *x.shape[-2:])
            changed = position < torch.tensor(counts, device=x.device).view(-1, 1, 1, 1)  # (steps + 1, 1, H, W)
            first, second = (start, image) if insert else (image, start)
            images = torch.where(changed, second, first)  # changed pixels come from the second image
            probs = torch.cat([model(images[i:i + batch_size]).softmax(dim=1)[:, label]
                               for i in range(0, len(images), batch_size)])
            curves.append(probs)
    return (torch.stack(curves) if curves else x.new_zeros(0, steps + 1)).cpu()


def deletion_curve(model: nn.Module, x: torch.Tensor, heat: torch.Tensor, target: Target = None, steps: int = 20,
                   baseline=0.0, seed: int = 0, batch_size: int = 64) -> torch.Tensor:
    """The class probability as the pixels are set to ``baseline``, most important first (by ``heat`` (N, H, W)).

    Returns ``(N, steps + 1)``: the whole image, then ``1/steps`` of the pixels more deleted at each step, to
    the baseline alone. A faithful map makes it fall fast (a small area under it). ``baseline`` is a number or
    a tensor broadcasting to ``x``; the target is the predicted class for ``None``; ties as in ``pixel_order``.
    """
    return _pixel_curves(model, x, heat, target, steps, baseline, seed, batch_size, insert=False)


def insertion_curve(model: nn.Module, x: torch.Tensor, heat: torch.Tensor, target: Target = None, steps: int = 20,
                    baseline=0.0, seed: int = 0, batch_size: int = 64) -> torch.Tensor:
    """The reverse of ``deletion_curve``: start from ``baseline`` (Petsiuk et al. use a blurred copy) and put the
    image's pixels back, most important first; returns ``(N, steps + 1)``. A faithful map makes it rise fast.
    """
    return _pixel_curves(model, x, heat, target, steps, baseline, seed, batch_size, insert=True)


def area_under_curve(curves: torch.Tensor) -> torch.Tensor:
    """The area under each curve ``(N, steps + 1)`` sampled evenly on [0, 1] (trapezoid rule); returns ``(N,)``."""
    if not isinstance(curves, torch.Tensor) or curves.ndim != 2 or curves.shape[1] < 2:
        shape = tuple(curves.shape) if isinstance(curves, torch.Tensor) else type(curves).__name__
        raise ValueError(f"curves must have shape (N, steps + 1) with steps >= 1, got {shape}")
    return torch.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), dim=1)
