"""Figures the chapters share: image grids, training curves (static and live) and confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_hwc(image) -> np.ndarray:
    """An image as a (H, W) or (H, W, C) NumPy array for ``imshow``."""
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu()
        if image.ndim == 3:
            image = image.squeeze(0) if image.shape[0] == 1 else image.permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"an image must have 2 or 3 dimensions, got shape {image.shape}")
    return image


def show_images(images, labels: Sequence[str] | None = None, ncols: int = 8, scale: float = 1.5,
                cmap: str = "gray", title: str | None = None):
    """Show images in a grid, each with its label as a title; returns the matplotlib figure.

    ``images`` is a batch tensor (N, C, H, W) or (N, H, W), or a list of tensors, arrays or PIL images.
    """
    images = list(images)
    if not images:
        raise ValueError("show_images got no images")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    # room above each row for its tallest title (9-point text: about 0.17 inch a line)
    lines = max((str(label).count("\n") + 1 for label in labels), default=0) if labels is not None else 0
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * (scale + 0.17 * lines + 0.1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(_as_hwc(images[i]), cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw_history(axes, history) -> None:
    epochs = range(1, len(history) + 1)
    loss_ax, acc_ax = axes
    loss_ax.clear()
    acc_ax.clear()
    loss_ax.plot(epochs, history.train_loss, "o-", label="train loss")
    if history.val_loss:
        loss_ax.plot(epochs, history.val_loss, "s--", label="test loss")
    acc_ax.plot(epochs, history.train_acc, "o-", label="train acc")
    if history.val_acc:
        acc_ax.plot(epochs, history.val_acc, "s--", label="test acc")
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()


def plot_history(history, title: str | None = None):
    """Loss and accuracy per epoch from a ``History``; returns the figure."""
    if not len(history):
        raise ValueError("the history is empty: no epoch finished")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    _draw_history(axes, history)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LivePlot:
    """Training curves redrawn in place after every epoch (used by ``fit`` inside notebooks)."""

    def __init__(self):
        from IPython.display import display

        self.fig, self.axes = plt.subplots(1, 2, figsize=(9, 3.2))
        plt.close(self.fig)  # shown through the display handle only, not again at the end of the cell
        self.handle = display(self.fig, display_id=True)

    def update(self, history) -> None:
        _draw_history(self.axes, history)
        self.fig.tight_layout()
        self.handle.update(self.fig)

    def close(self) -> None:
        plt.close(self.fig)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts of (true class, predicted class) pairs as a ``num_classes`` x ``num_classes`` tensor."""
    if preds.shape != labels.shape:
        raise ValueError(f"preds {tuple(preds.shape)} and labels {tuple(labels.shape)} differ in shape")
    flat = labels.long() * num_classes + preds.long()
    return torch.bincount(flat.cpu(), minlength=num_classes ** 2).reshape(num_classes, num_classes)


def plot_confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]):
    """Confusion matrix as a heat map, rows the true class, columns the prediction; returns the figure."""
    matrix = confusion_matrix(preds, labels, len(classes))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(matrix.numpy(), cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max().item() / 2
    for i in range(len(classes)):
        for j in range(len(classes)):
            value = matrix[i, j].item()
            ax.text(j, i, value, ha="center", va="center", fontsize=7,
                    color="white" if value > threshold else "black")
    fig.tight_layout()
    return fig
