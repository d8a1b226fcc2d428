"""Measure a trained classifier: ``evaluate`` (mean loss and accuracy) and ``predict`` (labels, or masks)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .device import get_device
from .fitstate import Batches


def _check_batch(X: torch.Tensor, y: torch.Tensor) -> None:
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"a batch has {X.shape[0]} inputs but {y.shape[0]} labels")


def evaluate(model: nn.Module, data: Batches, device: torch.device | str | None = None,
             loss_fn: Callable | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier over ``data``; the model's train/eval mode is restored after.

    For a segmentation model ((N, classes, H, W) scores, (N, H, W) masks) the accuracy is the pixel accuracy
    averaged over images."""
    device = get_device(device) if device is not None else _model_device(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)  # per image, the fraction of its labels (pixels of a mask) right
    bad_input = torch.zeros((), device=device, dtype=torch.bool)
    count = 0
    try:
        with torch.inference_mode():
            for X, y in data:
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                _check_batch(X, y)
                bad_input |= not_finite(X)
                out = model(X)
                loss_sum += loss_fn(out.float(), y) * y.shape[0]
                hits = out.argmax(dim=1) == y  # (N,), or (N, H, W) for segmentation
                correct += hits.reshape(len(hits), -1).float().mean(dim=1).sum()
                count += y.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate got no batches")
    loss, bad = (loss_sum / count).item(), bad_input.item()
    if bad:
        raise ValueError("the data holds NaN or infinite values, so its loss and accuracy mean nothing: "
                         "find them with torch.isfinite(X).all() on each batch")
    if not math.isfinite(loss):
        raise FloatingPointError(f"the model's loss on this data is {loss} on finite inputs: its weights hold NaN "
                                 "or infinite values (an earlier update diverged)")
    return loss, correct.item() / count


def not_finite(X: torch.Tensor) -> torch.Tensor:
    """A device flag: whether the batch holds NaN or infinite values (False for integer data). No host sync."""
    if not X.is_floating_point():
        return torch.zeros((), dtype=torch.bool, device=X.device)
    return ~torch.isfinite(X).all()


def predict(model: nn.Module, data: Batches, device: torch.device | str | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels for every example in ``data``, as CPU tensors."""
    device = get_device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        with torch.inference_mode():
            for X, y in data:
                preds.append(model(X.to(device)).argmax(dim=1))
                labels.append(y.to(device))
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("predict got no batches")
    return torch.cat(preds).cpu(), torch.cat(labels).cpu()


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else get_device()
