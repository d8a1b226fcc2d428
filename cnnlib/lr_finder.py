"""The learning-rate finder: train briefly while the learning rate grows exponentially (fast.ai's variant of
Smith, 2017, who raised the rate linearly and read the accuracy).

The loss first falls faster as the rate grows, then flattens, then blows up. A good learning rate lies
where it falls fastest, well before the blow-up. The model's weights, its train/eval modes and its
gradients are restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .device import get_device
from .fitstate import Batches, snapshot


@dataclass
class LRFinderResult:
    """Learning rates tried, the smoothed loss at each, and the suggested rate (steepest descent)."""

    lrs: list[float]
    losses: list[float]
    suggestion: float

    def plot(self, ax=None):
        """Loss against learning rate (log scale) with the suggestion marked; returns the figure."""
        import matplotlib.pyplot as plt

        fig = ax.figure if ax is not None else plt.figure(figsize=(5, 3.2))
        ax = ax or fig.add_subplot()
        ax.plot(self.lrs, self.losses)
        ax.axvline(self.suggestion, color="C1", ls="--", label=f"suggestion {self.suggestion:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss (smoothed)")
        ax.grid(alpha=0.3)
        ax.legend()
        return fig


def lr_find(model: nn.Module, train: Batches, optimizer_fn: Callable | None = None, loss_fn: Callable | None = None,
            start: float = 1e-5, end: float = 10.0, steps: int = 100, smoothing: float = 0.9,
            device: torch.device | str | None = None) -> LRFinderResult:
    """Sweep the learning rate from ``start`` to ``end`` over ``steps`` steps; stop when the loss explodes.

    ``optimizer_fn(params, lr)`` builds the optimizer (default: SGD with momentum 0.9). The sweep is a
    ``torch.optim.lr_scheduler.ExponentialLR``; the loss is smoothed with an exponential moving average.
    When the loss explodes from the first steps there is no curve to read: a ``ValueError`` says that
    ``start`` is too high, instead of suggesting ``start`` itself.
    """
    if not 0 < start < end:
        raise ValueError(f"need 0 < start < end, got start={start}, end={end}")
    if steps < 10:
        raise ValueError(f"steps must be at least 10 for a useful curve, got {steps}")
    device = get_device(device)
    model.to(device)
    saved = snapshot(model)
    modes = {module: module.training for module in model.modules()}
    grads = {param: param.grad for param in model.parameters()}  # put back afterwards: the sweep leaves none
    model.train()
    optimizer_fn = optimizer_fn or (lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9))
    optimizer = optimizer_fn(model.parameters(), start)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=(end / start) ** (1 / (steps - 1)))
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    lrs, raw = [], []
    try:
        batches = _cycle(train)
        for _ in range(steps):
            X, y = next(batches)
            X, y = X.to(device), y.to(device)
            loss = loss_fn(model(X), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lrs.append(schedule.get_last_lr()[0])
            raw.append(loss.detach())
            schedule.step()
            if len(raw) % 10 == 0 and not math.isfinite(raw[-1].item()):  # a wait every 10 steps only
                break
    finally:
        model.load_state_dict(saved)
        for module, training in modes.items():
            module.training = training
        for param, grad in grads.items():
            param.grad = grad
    losses, average = [], 0.0
    for i, value in enumerate(torch.stack(raw).tolist()):
        average = smoothing * average + (1 - smoothing) * value
        losses.append(average / (1 - smoothing ** (i + 1)))
    best = min(range(len(losses)), key=lambda i: losses[i] if math.isfinite(losses[i]) else math.inf)
    cut = next((i for i in range(best, len(losses)) if not losses[i] < 4 * losses[best]), len(losses))
    if cut < 3:  # fewer than three usable points: no slope to measure
        raise ValueError(f"the loss exploded from the first step (from {losses[0]:.3g} at lr={lrs[0]:.2g} to "
                         f"{losses[min(cut, len(losses) - 1)]:.3g}): start={start:g} is too high; "
                         f"try start={start / 1000:g}")
    lrs, losses = lrs[:cut], losses[:cut]
    slopes = [(losses[i + 1] - losses[i - 1]) / math.log(lrs[i + 1] / lrs[i - 1]) for i in range(1, len(losses) - 1)]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__) if slopes else best
    return LRFinderResult(lrs, losses, lrs[steepest])


def _cycle(batches: Batches):
    """Iterate over ``batches`` again and again; an empty loader is an error, not an endless loop."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr_find got no batches from train")
