"""Data augmentation on the device, vectorised over the batch.

Every function takes a batch ``X`` of shape (N, C, H, W) and draws independent random parameters for
each example with the device's generator (``seed_everything`` makes it repeatable). There is no Python
loop over examples, so augmenting costs a few kernel launches per batch, not thousands of small ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_batch(X: torch.Tensor) -> None:
    if X.ndim != 4:
        raise ValueError(f"augmentation works on batches of shape (N, C, H, W), got {tuple(X.shape)}")


def random_crop(X: torch.Tensor, padding: int) -> torch.Tensor:
    """Pad each image by ``padding`` zeros on every side and cut an H x W window at a random place.

    The same as shifting each image by up to ``padding`` pixels in each direction (a random translation);
    the window never leaves the padded image.
    """
    _check_batch(X)
    N, C, H, W = X.shape
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    if padding >= min(H, W):
        raise ValueError(f"padding={padding} is not smaller than the {H}x{W} image: a crop could hold no pixel of it")
    if padding == 0:
        return X
    padded = F.pad(X, (padding,) * 4)
    # Two gathers (rows, then columns) with per-example offsets: several times faster on the CPU than
    # indexing with three broadcast index tensors, and the same on the GPU.
    dy = torch.randint(0, 2 * padding + 1, (N, 1, 1, 1), device=X.device)
    dx = torch.randint(0, 2 * padding + 1, (N, 1, 1, 1), device=X.device)
    rows = dy + torch.arange(H, device=X.device).view(1, 1, H, 1)
    cols = dx + torch.arange(W, device=X.device).view(1, 1, 1, W)
    return padded.gather(2, rows.expand(N, C, H, W + 2 * padding)).gather(3, cols.expand(N, C, H, W))


def random_flip(X: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    _check_batch(X)
    _check_probability(p, "p")
    N, C, H, W = X.shape
    flip = torch.rand(N, 1, 1, 1, device=X.device) < p
    cols = torch.arange(W, device=X.device).view(1, 1, 1, W)
    cols = torch.where(flip, W - 1 - cols, cols)  # one gather: faster than blending X and X.flip(-1)
    return X.gather(3, cols.expand(N, C, H, W))


def random_erasing(X: torch.Tensor, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.25),
                   ratio: tuple[float, float] = (0.3, 3.3), value: float = 0.0) -> torch.Tensor:
    """With probability ``p`` per image, fill one random rectangle with ``value`` (Zhong et al., 2017).

    The rectangle covers a fraction of the image drawn from ``scale`` with an aspect ratio from ``ratio``
    (drawn log-uniformly); it is clipped to the image. For integer images (uint8) ``value`` must be a whole
    number the dtype can hold (128, not 0.5): a fraction is refused, not truncated to 0.
    """
    _check_batch(X)
    _check_probability(p, "p")
    if not X.is_floating_point() and X.dtype != torch.bool:
        low, high = torch.iinfo(X.dtype).min, torch.iinfo(X.dtype).max
        if not float(value).is_integer() or not low <= value <= high:
            raise ValueError(f"value={value!r} cannot be stored in {X.dtype} images: give a whole number in "
                             f"[{low}, {high}] (e.g. {high // 2 + 1} for mid-grey), or erase float images")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"ratio must satisfy 0 < min <= max, got {ratio}")
    N, _, H, W = X.shape
    dev = X.device
    area = torch.empty(N, device=dev).uniform_(*scale) * H * W
    aspect = torch.empty(N, device=dev).uniform_(*torch.tensor(ratio).log().tolist()).exp()
    h = (area * aspect).sqrt().round().clamp(1, H)
    w = (area / aspect).sqrt().round().clamp(1, W)
    top = (torch.rand(N, device=dev) * (H - h + 1)).floor()
    left = (torch.rand(N, device=dev) * (W - w + 1)).floor()
    r = torch.arange(H, device=dev).view(1, H, 1)
    c = torch.arange(W, device=dev).view(1, 1, W)
    inside = ((r >= top.view(N, 1, 1)) & (r < (top + h).view(N, 1, 1))
              & (c >= left.view(N, 1, 1)) & (c < (left + w).view(N, 1, 1)))
    erase = inside & (torch.rand(N, 1, 1, device=dev) < p)
    return X.masked_fill(erase.unsqueeze(1), value)


def mixup(X: torch.Tensor, y: torch.Tensor, num_classes: int, alpha: float = 0.2
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each example with another of the batch (Zhang et al., 2018); returns soft targets.

    One mixing weight is drawn from Beta(alpha, alpha) per example; the targets are blended the same way,
    as class probabilities that ``nn.CrossEntropyLoss`` accepts. Float images and targets keep ``X``'s dtype
    (bf16 stays bf16).
    """
    _check_batch(X)
    lam, partner, target = _mix_setup(X, y, num_classes, alpha)
    mixed = lam.view(-1, 1, 1, 1) * X + (1 - lam.view(-1, 1, 1, 1)) * X[partner]
    return mixed, lam.view(-1, 1) * target + (1 - lam.view(-1, 1)) * target[partner]


def cutmix(X: torch.Tensor, y: torch.Tensor, num_classes: int, alpha: float = 1.0
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a random rectangle of another example into each one (Yun et al., 2019); soft targets by area."""
    _check_batch(X)
    lam, partner, target = _mix_setup(X, y, num_classes, alpha)
    N, _, H, W = X.shape
    dev = X.device
    cut = (1 - lam).sqrt()
    h, w = (cut * H).round(), (cut * W).round()
    cy, cx = torch.rand(N, device=dev) * H, torch.rand(N, device=dev) * W
    top, bottom = (cy - h / 2).clamp(0, H), (cy + h / 2).clamp(0, H)
    left, right = (cx - w / 2).clamp(0, W), (cx + w / 2).clamp(0, W)
    r = torch.arange(H, device=dev).view(1, H, 1)
    c = torch.arange(W, device=dev).view(1, 1, W)
    box = ((r >= top.view(N, 1, 1)) & (r < bottom.view(N, 1, 1))
           & (c >= left.view(N, 1, 1)) & (c < right.view(N, 1, 1)))
    mixed = torch.where(box.unsqueeze(1), X[partner], X)
    kept = (1 - box.flatten(1).float().mean(1, keepdim=True)).to(target.dtype)  # the exact share of the image kept
    return mixed, kept * target + (1 - kept) * target[partner]


def _mix_setup(X, y, num_classes: int, alpha: float):
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if y.ndim != 1:
        raise ValueError(f"labels must be class indices of shape (N,), got {tuple(y.shape)}")
    beta = torch.distributions.Beta(torch.tensor(float(alpha), device=X.device),
                                    torch.tensor(float(alpha), device=X.device))
    dtype = X.dtype if X.is_floating_point() else torch.get_default_dtype()  # bf16 stays bf16, uint8 -> float
    lam = beta.sample((X.shape[0],)).to(dtype)
    partner = torch.randperm(X.shape[0], device=X.device)
    return lam, partner, F.one_hot(y, num_classes).to(dtype)


def _check_probability(p: float, name: str) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


class Augment:
    """The chapter 15 recipe as one callable ``(X, y) -> (X, y)``: random crop, flip, random erasing.

    Use it through ``fit(..., callbacks=[BatchTransform(Augment(crop=2))])``; set any part to 0 to drop it.
    """

    def __init__(self, crop: int = 2, flip: float = 0.5, erase: float = 0.0):
        _check_probability(flip, "flip")
        _check_probability(erase, "erase")
        if not isinstance(crop, int) or crop < 0:
            raise ValueError(f"crop must be a non-negative int (the padding in pixels), got {crop!r}")
        self.crop, self.flip, self.erase = crop, flip, erase

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.crop:
            X = random_crop(X, self.crop)
        if self.flip:
            X = random_flip(X, self.flip)
        if self.erase:
            X = random_erasing(X, self.erase)
        return X, y

    def __repr__(self) -> str:
        return f"Augment(crop={self.crop}, flip={self.flip}, erase={self.erase})"
