"""Two repairs of the plain gradient: SmoothGrad averages it over noisy copies, Integrated Gradients along a path."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._hooks import Target, _baseline_like, _check_batch, _evaluating, _positive_int, _targets

IG_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def _input_gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The gradient of logit ``target[i]`` with respect to ``inputs[i]``, for every row, ``batch_size`` rows a pass."""
    grads = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size].detach().requires_grad_(True)
        logits = model(chunk)
        (grad,) = torch.autograd.grad(logits.gather(1, target[start:start + batch_size, None]).sum(), chunk)
        grads.append(grad)
    return torch.cat(grads) if grads else torch.zeros_like(inputs)


def _prepared(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """The target class of every image (the predicted one for ``None``), after checking the batch."""
    _check_batch(x)
    with torch.no_grad():
        return _targets(model(x), target)


def smooth_grad(model: nn.Module, x: torch.Tensor, target: Target = None, samples: int = 50, noise: float = 0.15,
                absolute: bool = True, seed: int = 0, batch_size: int = 32) -> torch.Tensor:
    """SmoothGrad (Smilkov et al., 2017): ``saliency`` averaged over ``samples`` noisy copies; returns ``(N, H, W)``.

    The noise is Gaussian, its standard deviation ``noise`` times the image's range (max - min), drawn for the
    whole batch at once from a generator seeded with ``seed`` (the numbers captum's ``NoiseTunnel`` draws after
    ``torch.manual_seed(seed)``). ``absolute`` averages the gradients' absolute values (captum's
    ``NoiseTunnel(Saliency)``), otherwise the signed gradients are averaged first; then, as in ``saliency``, the
    absolute value and the maximum over the channels. The target class is taken on the clean image.
    """
    samples, batch_size = _positive_int("samples", samples), _positive_int("batch_size", batch_size)
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or noise < 0:
        raise ValueError(f"noise must be a number >= 0 (a fraction of the image's range), got {noise!r}")
    generator = torch.Generator(device=x.device if isinstance(x, torch.Tensor) else "cpu").manual_seed(seed)
    with torch.inference_mode(False), torch.enable_grad(), _evaluating(model):
        t = _prepared(model, x, target)
        draws = torch.randn((len(x) * samples, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
        maps = []
        for image, label, draw in zip(x.detach(), t, draws.split(samples)):
            copies = image + noise * float(image.max() - image.min()) * draw
            grads = _input_gradients(model, copies, label.expand(samples), batch_size)
            mean = (grads.abs() if absolute else grads).mean(dim=0)
            maps.append(mean.abs().amax(dim=0))
    return (torch.stack(maps) if maps else x.new_zeros(0, *x.shape[-2:])).cpu()


def path_weights(steps: int, method: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Where (``alphas`` in [0, 1]) and with what weights a rule samples the path integral of ``steps`` points.

    The weights sum to 1. Riemann sums use ``steps`` equal intervals (left ends, right ends or midpoints),
    ``riemann_trapezoid`` the trapezoid rule on ``steps`` points from 0 to 1, ``gausslegendre`` Gauss-Legendre
    quadrature (exact for polynomials of degree below ``2 * steps``).
    """
    steps = _positive_int("steps", steps)
    if method not in IG_METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(IG_METHODS)}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return torch.tensor((nodes + 1) / 2), torch.tensor(weights / 2)
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("the trapezoid rule needs steps >= 2 (both ends of the path)")
        weights = torch.full((steps,), 1.0 / (steps - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return torch.linspace(0, 1, steps, dtype=torch.float64), weights
    offset = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}[method]
    alphas = (torch.arange(steps, dtype=torch.float64) + offset) / steps
    return alphas, torch.full((steps,), 1.0 / steps, dtype=torch.float64)


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: Target = None, baseline=0.0, steps: int = 50,
                         method: str = "gausslegendre", batch_size: int = 32) -> torch.Tensor:
    """Integrated Gradients (Sundararajan et al., 2017): ``(x - baseline)`` times the gradient of the class score
    averaged along the straight path from ``baseline`` to ``x``; returns signed attributions ``(N, C, H, W)``.

    ``baseline`` is a number or a tensor that broadcasts to ``x``. The path integral is approximated with
    ``steps`` points by ``method`` (see ``path_weights``); captum's defaults are the same (50, Gauss-Legendre).
    Completeness: the attributions of an image sum to its score minus the baseline's, up to that approximation.
    """
    batch_size = _positive_int("batch_size", batch_size)
    alphas, weights = path_weights(steps, method)
    with torch.inference_mode(False), torch.enable_grad(), _evaluating(model):
        t = _prepared(model, x, target)
        x = x.detach()
        base = _baseline_like(baseline, x)
        alphas = alphas.to(x.dtype).to(x.device)
        weights = weights.to(x.dtype).to(x.device)
        out = []
        for image, start, label in zip(x, base, t):
            path = start + alphas.view(-1, 1, 1, 1) * (image - start)  # (steps, C, H, W)
            grads = _input_gradients(model, path, label.expand(steps), batch_size)
            out.append((image - start) * (weights.view(-1, 1, 1, 1) * grads).sum(dim=0))
    return (torch.stack(out) if out else torch.zeros_like(x)).cpu()
