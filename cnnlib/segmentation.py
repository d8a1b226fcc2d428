"""Scores for per-pixel predictions: pixel accuracy, intersection over union per class, and its mean.

All three come from one confusion matrix: entry ``[t, p]`` counts the pixels of true class ``t`` predicted
as ``p``. The IoU of class ``c`` is its diagonal entry over (its row + its column - the diagonal entry):
the pixels both masks give to ``c``, over the pixels either gives to ``c``.
"""

from __future__ import annotations

import torch


def _check_masks(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> None:
    for name, T in (("pred", pred), ("target", target)):
        if not isinstance(T, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(T).__name__}")
        if T.is_floating_point() or T.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer class indices, got {T.dtype}: pass scores.argmax(dim=1)")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if pred.numel() == 0:
        raise ValueError("pred and target are empty: there are no pixels to score")
    for name, T in (("pred", pred), ("target", target)):
        low, high = int(T.min()), int(T.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name} holds classes from {low} to {high}, outside 0..{num_classes - 1}")


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class."""
    _check_masks(pred, target, num_classes)
    index = target.flatten().long() * num_classes + pred.flatten().long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes).cpu()


def pixel_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """The fraction of pixels whose predicted class is the true one."""
    _check_masks(pred, target, int(max(pred.max(), target.max())) + 1 if pred.numel() else 1)
    return (pred == target).double().mean().item()


def iou_per_class(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Intersection over union of each class (float64, length ``num_classes``); NaN for a class that is in
    neither mask (there is nothing to score)."""
    cm = confusion_matrix(pred, target, num_classes).double()
    intersection = cm.diagonal()
    union = cm.sum(dim=0) + cm.sum(dim=1) - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.nan)


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """The mean of ``iou_per_class`` over the classes present in either mask (background included)."""
    return iou_per_class(pred, target, num_classes).nanmean().item()
