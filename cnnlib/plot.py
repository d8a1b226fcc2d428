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


def _draw_history(axes, history, epochs: int | None = None) -> None:
    """Running training curves (at the progress updates), per-epoch points, validation per epoch, and the
    learning rate on a second axis when it changed. Accuracy stays on [0, 1] so chance looks like chance."""
    loss_ax, acc_ax = axes
    lr_ax = getattr(loss_ax, "_lr_axis", None)
    for ax in (loss_ax, acc_ax, lr_ax):
        if ax is not None:
            ax.clear()
    done = range(1, len(history) + 1)
    if history.running:
        pos, loss, acc, lr = zip(*history.running)
        loss_ax.plot(pos, loss, "-", color="C0", alpha=0.5, label="train loss (running)")
        acc_ax.plot(pos, acc, "-", color="C0", alpha=0.5, label="train acc (running)")
        if max(lr) > min(lr):
            if lr_ax is None:
                lr_ax = loss_ax._lr_axis = loss_ax.twinx()
            lr_ax.plot(pos, lr, ":", color="grey", label="learning rate")
            lr_ax.set_ylabel("learning rate", color="grey")
            lr_ax.set_ylim(bottom=0)
    loss_ax.plot(done, history.train_loss, "o", color="C0", label="train loss (epoch)")
    acc_ax.plot(done, history.train_acc, "o", color="C0", label="train acc (epoch)")
    if history.val_loss:
        loss_ax.plot(done, history.val_loss, "s--", color="C1", label="val loss")
        acc_ax.plot(done, history.val_acc, "s--", color="C1", label="val acc")
    acc_ax.set_ylim(0, 1)
    right = max(epochs or max([len(history)] + [p for p, *_ in history.running]), 1)
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlim(0, right + max(0.1, 0.03 * right))  # a margin, so the last epoch's markers show whole
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


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
    """Training curves redrawn in place during training (used by ``fit`` inside notebooks)."""

    def __init__(self, epochs: int | None = None):
        from IPython.display import display

        self.epochs = epochs
        self.fig, self.axes = plt.subplots(1, 2, figsize=(9, 3.2))
        plt.close(self.fig)  # shown through the display handle only, not again at the end of the cell
        self.handle = display(self.fig, display_id=True)

    def update(self, history) -> None:
        _draw_history(self.axes, history, self.epochs)
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


def show_filters(conv, ncols: int = 8, scale: float = 0.9, channel: int | None = None, title: str | None = None):
    """The kernels of a convolution (an ``nn.Conv2d`` or a weight of shape (out, in, kh, kw)); returns the figure.

    All kernels share one colour scale, symmetric around zero and stated in the title. Kernels with three
    input channels are shown in colour (grey is zero); otherwise input ``channel`` (default 0) in red-blue.
    """
    weight = conv.weight if isinstance(conv, torch.nn.Conv2d) else conv
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
        raise TypeError(f"show_filters needs an nn.Conv2d or a weight of shape (out, in, kh, kw), got "
                        f"{tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(conv).__name__}")
    weight = weight.detach().float().cpu().numpy()
    rgb = weight.shape[1] == 3 and channel is None
    if not rgb:
        channel = channel or 0
        if not 0 <= channel < weight.shape[1]:
            raise ValueError(f"channel {channel} is out of range: the kernels have {weight.shape[1]} input channels")
        weight = weight[:, channel]
    bound = float(np.abs(weight).max()) or 1.0
    n = weight.shape[0]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * scale + 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            if rgb:  # -bound -> 0, 0 -> grey, +bound -> 1, the same mapping for every kernel
                ax.imshow((weight[i].transpose(1, 2, 0) / bound + 1) / 2, interpolation="nearest")
            else:
                image = ax.imshow(weight[i], cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    what = "RGB, grey = 0" if rgb else f"input channel {channel}, blue < 0 < red"
    fig.suptitle(f"{title + ': ' if title else ''}{n} kernels {tuple(weight.shape[-2:])}, one colour scale "
                 f"from {-bound:.3g} to {bound:.3g} ({what})", fontsize=9)
    if not rgb:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    return fig


def show_feature_maps(maps, channels: int = 8, image: int = 0, scale: float = 1.2, title: str | None = None):
    """The first ``channels`` maps of each layer for one image, one row per layer; returns the figure.

    ``maps`` is ``{name: (N, C, H, W) tensor}`` (what ``explain.feature_maps`` returns) or one such tensor.
    The maps of a row share one colour scale, stated in the row's label.
    """
    if isinstance(maps, torch.Tensor):
        maps = {"": maps}
    if not maps:
        raise ValueError("show_feature_maps got no maps")
    for name, m in maps.items():
        if not isinstance(m, torch.Tensor) or m.ndim != 4:
            raise ValueError(f"the maps of {name or 'the layer'!r} must have shape (N, C, H, W), got "
                             f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")
        if not 0 <= image < m.shape[0]:
            raise ValueError(f"image {image} is out of range: {name or 'the layer'!r} holds {m.shape[0]} images")
    ncols = min(channels, max(m.shape[1] for m in maps.values()))
    fig, axes = plt.subplots(len(maps), ncols, figsize=(ncols * scale + 1.5, len(maps) * scale * 1.1),
                             squeeze=False)
    for row, (name, m) in zip(axes, maps.items()):
        m = m[image, :ncols].detach().float().cpu().numpy()
        low, high = float(m.min()), float(m.max())
        for c, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(m):
                ax.imshow(m[c], cmap="viridis", vmin=low, vmax=high if high > low else low + 1)
            else:
                ax.axis("off")
        shape = "×".join(map(str, maps[name].shape[1:]))
        row[0].set_ylabel(f"{name}\n{shape}\n{low:.2g} to {high:.2g}", fontsize=8, rotation=0, ha="right",
                          va="center")
    fig.suptitle((title + ": " if title else "") + f"first {ncols} channels per layer (C×H×W); "
                 "colours shared within a row, scale at the left", fontsize=9)
    fig.tight_layout()
    return fig
